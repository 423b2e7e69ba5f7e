"""Served models: versions on disk, runtimes, dynamic batching, A/B routing.

A model folder is either an export folder (manifest.json inside: one
version, "1") or a folder of versions, `savedmodels/<name>/<version>/`, each
an export folder. `Repository.refresh` (run by a watcher thread) loads
version folders that appear and swaps them in: a request holds the version
object it was routed to, so in-flight requests finish on the old one, and
a retired version's batcher drains its queue before its threads end.

Each version runs one exported file, the runtime chosen by its format
(LiteRT for .tflite, ONNX Runtime for .onnx, Keras for .keras) through
`kerasdl.exporters.FORMATS[...].open`. A `Batcher` owns a pool of runners,
one per worker thread (a LiteRT interpreter is not thread-safe): a worker
takes the first queued request, gathers requests arriving within the
window up to `max_batch` instances, runs them as one batch and hands each
request its rows.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import os
import queue
import random
import threading
import time

import numpy as np

from kerasdl.exporters.formats import FORMATS
from kerasdl.exporters.manifest import MANIFEST, read_manifest
from kerasdl.serve.drift import DriftMonitor

__all__ = ["Batcher", "ModelVersion", "Repository", "ServedModel"]

logger = logging.getLogger(__name__)

# Formats a server runs, in order of preference when a folder holds several.
SERVED_FORMATS = (
    "tflite",
    "tflite_fp16",
    "tflite_dynamic",
    "tflite_int8",
    "onnx",
    "keras",
)


class _Item:
    __slots__ = ("arrays", "count", "future", "key")

    def __init__(self, arrays):
        self.arrays = arrays
        self.count = len(arrays[0])
        self.key = tuple((a.shape[1:], a.dtype.str) for a in arrays)
        self.future = concurrent.futures.Future()


class Batcher:
    """Worker threads, one runner each, that batch queued requests.

    Args:
        runners: list of Runner. One per worker thread.
        window_s: float. How long a worker waits for more requests after the
            first (0: takes only what is already queued).
        max_batch: int. Most instances per model call (1: no batching).
        on_batch: callable(inputs, outputs) or None. Called after each call
            (metrics, drift window).
        name: str. Thread name prefix.
    """

    def __init__(
        self, runners, window_s: float, max_batch: int, on_batch=None, name=""
    ):
        self._runners = list(runners)
        self._window = float(window_s)
        self._max = int(max_batch)
        self._on_batch = on_batch
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._arriving = 0
        self._lock = threading.Lock()
        # One lock per runner: its worker holds it while running a batch, and
        # a late request (see submit) takes runner 0's.
        self._locks = [threading.Lock() for _ in self._runners]
        self._threads = [
            threading.Thread(
                target=self._work, args=(i,), name=f"{name}-batch{i}", daemon=True
            )
            for i in range(len(self._runners))
        ]
        for thread in self._threads:
            thread.start()

    def arrive(self) -> None:
        """Announces a request that is being read and will be submitted.

        A worker waits out its batching window only while such requests
        exist: with none on the way (one client at a time), waiting would
        only add the window to every request's latency.
        """
        with self._lock:
            self._arriving += 1

    def depart(self) -> None:
        """Withdraws an `arrive` whose request failed before `submit`."""
        with self._lock:
            self._arriving -= 1

    def submit(self, arrays, arrived: bool = False) -> concurrent.futures.Future:
        """Queues one request's input arrays; the future gets its outputs.

        Args:
            arrays: list of np.ndarray. One batch per model input.
            arrived: bool. The request was announced with `arrive`.
        """
        item = _Item(arrays)
        with self._lock:
            if arrived:
                self._arriving -= 1
            if not self._closed:
                self._queue.put(item)
                return item.future
        # Retired while the request was routed to it: run it here, on the
        # first runner, never at the same time as its worker.
        with self._locks[0]:
            self._run(self._runners[0], [item])
        return item.future

    def close(self) -> None:
        """Stops taking requests; workers finish the queued ones and end."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)

    def join(self, timeout: float | None = None) -> None:
        """Waits for the worker threads to end (after `close`)."""
        for thread in self._threads:
            thread.join(timeout)

    def _gather(self, first, carry) -> tuple[list, bool]:
        batch, total, stopping = [first], first.count, False
        deadline = time.monotonic() + self._window
        while total < self._max:
            if carry:
                item = carry.popleft()
            else:
                remaining = deadline - time.monotonic()
                if self._arriving <= 0:
                    remaining = 0.0  # nothing on the way: take what is queued
                try:
                    item = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            if item is None:
                stopping = True
                break
            if item.key != first.key or total + item.count > self._max:
                carry.append(item)
                # Only the first mismatch is set aside per round.
                break
            batch.append(item)
            total += item.count
        return batch, stopping

    def _work(self, index: int) -> None:
        runner, lock = self._runners[index], self._locks[index]
        carry: collections.deque = collections.deque()
        stopping = False
        while True:
            if carry:
                first = carry.popleft()
            elif stopping:
                return
            else:
                first = self._queue.get()
                if first is None:
                    return
            if self._max > 1:
                batch, stop = self._gather(first, carry)
                stopping = stopping or stop
            else:
                batch = [first]
            with lock:
                self._run(runner, batch)

    def _run(self, runner, batch) -> None:
        try:
            if len(batch) == 1:
                inputs = batch[0].arrays
            else:
                inputs = [
                    np.concatenate([item.arrays[i] for item in batch])
                    for i in range(len(batch[0].arrays))
                ]
            outputs = [np.asarray(o) for o in runner.run(inputs)]
        except Exception as error:  # the runtime's own errors, any type
            logger.exception("model call failed on a batch of %d", len(batch))
            for item in batch:
                item.future.set_exception(error)
            return
        if self._on_batch is not None:
            try:
                self._on_batch(inputs, outputs)
            except Exception:  # monitoring must never fail a prediction
                logger.exception("batch hook failed")
        start = 0
        for item in batch:
            end = start + item.count
            item.future.set_result([o[start:end] for o in outputs])
            start = end


def _version_key(version: str):
    # Numeric versions sort as numbers ("10" after "9"), others as text.
    return (0, int(version), version) if version.isdigit() else (1, 0, version)


def choose_format(manifest: dict, directory: str, preferred=SERVED_FORMATS) -> str:
    """The format a server runs from an export folder's manifest.

    Raises:
        ValueError: if the folder holds none of the served formats.
    """
    files = manifest.get("files", {})
    for name in preferred:
        if (
            name in files
            and name in FORMATS
            and os.path.exists(os.path.join(directory, files[name]["path"]))
        ):
            return name
    raise ValueError(
        f"export folder {directory!r} holds formats {sorted(files)}; the server "
        f"runs one of {list(preferred)}: export one of them there."
    )


class ModelVersion:
    """One loaded version: its manifest, runner pool, batcher and drift window.

    Args:
        name: str. Model name.
        version: str. Version name.
        directory: str. The export folder.
        settings: dict. Server settings (see `create_app`).
        on_batch: callable(version, inputs, outputs) or None.
    """

    def __init__(
        self, name: str, version: str, directory: str, settings: dict, on_batch=None
    ):
        self.name = name
        self.version = version
        self.directory = directory
        self.manifest = read_manifest(directory)
        self.format = choose_format(self.manifest, directory, settings["formats"])
        entry = self.manifest["files"][self.format]
        self.path = os.path.join(directory, entry["path"])
        self.inputs = self.manifest["inputs"]
        self.labels = self.manifest.get("labels")
        self.loaded = time.time()
        fmt = FORMATS[self.format]
        names = [spec["name"] for spec in self.inputs]
        # Keras models are large objects with their own threads: one.
        pool = 1 if self.format == "keras" else settings["pool_size"]
        runners = [
            fmt.open(self.path, names, num_threads=settings["num_threads"])
            for _ in range(pool)
        ]
        reference = self.manifest.get("reference")
        self.drift = None
        if reference:
            self.drift = DriftMonitor(reference, **settings["drift"])

        def hook(inputs, outputs):
            if self.drift is not None:
                self.drift.add(inputs, outputs)
            if on_batch is not None:
                on_batch(self, inputs, outputs)

        self.batcher = Batcher(
            runners,
            settings["batch_window_ms"] / 1000.0,
            settings["max_batch"],
            hook,
            name=f"{name}-v{version}",
        )

    def predict(self, arrays, arrived: bool = False) -> concurrent.futures.Future:
        """Queues a batch; the future's result is the list of outputs.

        `arrived`: the request was announced with `self.batcher.arrive()`.
        """
        return self.batcher.submit(arrays, arrived)

    def describe(self) -> dict:
        """Metadata for GET /v1/models/{name}."""
        manifest = self.manifest
        return {
            "version": self.version,
            "format": self.format,
            "file": os.path.basename(self.path),
            "runtime": FORMATS[self.format].runtime,
            "inputs": self.inputs,
            "outputs": manifest.get("outputs"),
            "labels": self.labels,
            "preprocessing": manifest.get("preprocessing"),
            "metrics": manifest.get("metrics"),
            "created": manifest.get("created"),
            "parameters": manifest.get("parameters"),
            "drift_monitoring": self.drift is not None,
        }

    def close(self) -> None:
        """Retires the version: queued requests finish, new ones run inline."""
        self.batcher.close()


class ServedModel:
    """A model's loaded versions and its A/B traffic split.

    Args:
        name: str. Model name.
        directory: str. The model folder.
        versioned: bool. True: versions are subfolders (watched for new
            ones); False: the folder is one export (version "1").
    """

    def __init__(self, name: str, directory: str, versioned: bool):
        self.name = name
        self.directory = directory
        self.versioned = versioned
        self.versions: dict[str, ModelVersion] = {}
        self.weights: dict[str, float] | None = None
        self._lock = threading.Lock()

    def on_disk(self) -> dict[str, str]:
        """Version name -> folder, of the complete versions on disk."""
        if not self.versioned:
            return {"1": self.directory}
        found = {}
        for entry in os.listdir(self.directory):
            path = os.path.join(self.directory, entry)
            if not entry.startswith(".") and os.path.isfile(
                os.path.join(path, MANIFEST)
            ):
                found[entry] = path
        return found

    def latest(self) -> ModelVersion:
        """The loaded version with the highest number (or name)."""
        return self.versions[max(self.versions, key=_version_key)]

    def split(self) -> dict[str, float]:
        """Version -> share of the routed traffic (the weights, normalized)."""
        versions = self.versions
        weights = {
            v: w for v, w in (self.weights or {}).items() if v in versions and w > 0
        }
        if not weights:
            return {self.latest().version: 1.0}
        total = sum(weights.values())
        return {v: w / total for v, w in sorted(weights.items())}

    def set_weights(self, weights: dict | None) -> None:
        """Sets the A/B weights {version: weight >= 0}; None: all to the latest.

        Raises:
            ValueError: for an unknown version or a negative or non-numeric
                weight, or weights that sum to zero.
        """
        if weights is not None:
            if not isinstance(weights, dict) or not weights:
                raise ValueError(
                    "weights must be a non-empty object {version: weight}; "
                    f"received {weights!r}."
                )
            for version, weight in weights.items():
                if str(version) not in self.versions:
                    raise ValueError(
                        f"model {self.name!r} has no loaded version {version!r}; "
                        f"loaded: {sorted(self.versions, key=_version_key)}."
                    )
                if (
                    isinstance(weight, bool)
                    or not isinstance(weight, (int, float))
                    or not np.isfinite(weight)
                    or weight < 0
                ):
                    raise ValueError(
                        f"weight of version {version!r} must be a number >= 0; "
                        f"received {weight!r}."
                    )
            if sum(weights.values()) <= 0:
                raise ValueError(f"weights must not all be 0; received {weights!r}.")
            weights = {str(v): float(w) for v, w in weights.items()}
        self.weights = weights

    def route(self, client_key: str | None) -> ModelVersion:
        """The version a request goes to: weighted, sticky per client key.

        The same key always lands on the same version for a given split
        (a hash of model name and key picks the point in [0, 1)).
        """
        with self._lock:
            split = self.split()
            versions = self.versions
        if len(split) == 1:
            return versions[next(iter(split))]
        if client_key:
            digest = hashlib.sha256(f"{self.name}\0{client_key}".encode()).digest()
            point = int.from_bytes(digest[:8], "big") / 2.0**64
        else:
            point = random.random()
        cumulative = 0.0
        for version, share in split.items():
            cumulative += share
            if point < cumulative:
                return versions[version]
        return versions[version]


class Repository:
    """Every served model, loaded from the folders given, kept up to date.

    Args:
        dirs: list of str. Model folders (see the module docstring), or
            folders of model folders.
        settings: dict. Server settings (see `create_app`).
        on_batch: callable(version, inputs, outputs) or None.

    Raises:
        ValueError: for a folder that holds no export, or a version that
            fails to load at start.
    """

    def __init__(self, dirs, settings: dict, on_batch=None):
        self.settings = settings
        self._on_batch = on_batch
        self.models: dict[str, ServedModel] = {}
        for directory in dirs:
            for model in self._find(os.path.abspath(os.fspath(directory))):
                if model.name in self.models:
                    raise ValueError(
                        f"two folders serve a model named {model.name!r}: "
                        f"{self.models[model.name].directory!r} and "
                        f"{model.directory!r}; rename one."
                    )
                self.models[model.name] = model
        self._swap_lock = threading.Lock()
        self.refresh(strict=True)
        self._stop = threading.Event()
        self._watcher = None

    @staticmethod
    def _find(directory: str) -> list[ServedModel]:
        if not os.path.isdir(directory):
            raise ValueError(
                f"model folder {directory!r} does not exist; pass export folders "
                "(with manifest.json) or folders of versions <name>/<version>/."
            )
        name = os.path.basename(directory.rstrip(os.sep))
        if os.path.isfile(os.path.join(directory, MANIFEST)):
            return [ServedModel(name, directory, versioned=False)]
        subdirs = sorted(
            e for e in os.listdir(directory)
            if not e.startswith(".") and os.path.isdir(os.path.join(directory, e))
        )  # fmt: skip
        if any(os.path.isfile(os.path.join(directory, e, MANIFEST)) for e in subdirs):
            return [ServedModel(name, directory, versioned=True)]
        models = []
        for entry in subdirs:
            path = os.path.join(directory, entry)
            inner = [
                e
                for e in os.listdir(path)
                if os.path.isfile(os.path.join(path, e, MANIFEST))
            ]
            if inner:
                models.append(ServedModel(entry, path, versioned=True))
        if not models:
            raise ValueError(
                f"folder {directory!r} holds no export: expected manifest.json, "
                "version folders <version>/manifest.json, or model folders "
                "<name>/<version>/manifest.json (write them with kerasdl export)."
            )
        return models

    def refresh(self, strict: bool = False) -> list[tuple[str, str]]:
        """Loads new versions from disk and retires the surplus ones.

        Args:
            strict: bool. Raise when a version fails to load (at start);
                otherwise log it and try again on the next refresh.

        Returns:
            list of (model, version) loaded.
        """
        loaded = []
        keep = self.settings["keep_versions"]
        with self._swap_lock:
            for model in self.models.values():
                disk = model.on_disk()
                new = sorted(set(disk) - set(model.versions), key=_version_key)
                if keep:
                    # Only the newest `keep` are loaded at all.
                    everything = sorted(
                        set(disk) | set(model.versions), key=_version_key
                    )
                    new = [v for v in new if v in everything[-keep:]]
                for version in new:
                    try:
                        served = ModelVersion(
                            model.name,
                            version,
                            disk[version],
                            self.settings,
                            self._on_batch,
                        )
                    except Exception as error:  # any load failure of a new folder
                        if strict:
                            raise
                        logger.warning(
                            "could not load %s version %s from %s: %s",
                            model.name, version, disk[version], error,
                        )  # fmt: skip
                        continue
                    versions = dict(model.versions)
                    versions[version] = served
                    retired = []
                    if keep and len(versions) > keep:
                        for old in sorted(versions, key=_version_key)[:-keep]:
                            retired.append(versions.pop(old))
                    # One assignment: a request sees the old dict or the new.
                    model.versions = versions
                    for old in retired:
                        old.close()
                        logger.info("retired %s version %s", model.name, old.version)
                    loaded.append((model.name, version))
                    logger.info(
                        "loaded %s version %s (%s)", model.name, version, served.format
                    )
                if not model.versions and strict:
                    raise ValueError(
                        f"model folder {model.directory!r} holds no version to load."
                    )
        return loaded

    def start_watching(self, interval_s: float) -> None:
        """Starts a thread that calls `refresh` every `interval_s` seconds."""
        if interval_s <= 0 or self._watcher is not None:
            return

        def watch():
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # a bad folder must not stop the watcher
                    logger.exception("refresh failed")

        self._watcher = threading.Thread(
            target=watch, name="kerasdl-watcher", daemon=True
        )
        self._watcher.start()

    def close(self) -> None:
        """Stops the watcher and every batcher (queued requests still finish)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for model in self.models.values():
            for version in model.versions.values():
                version.close()

    def get(self, name: str) -> ServedModel:
        """The served model `name`.

        Raises:
            KeyError: for an unknown name.
        """
        return self.models[name]
