"""Benchmark: the model server (`kerasdl serve`) under load, and under attack.

Exports an untrained LeNet-5 (32x32x1) and MobileNetV2 (96x96x3) as float
TFLite, starts `kerasdl serve` on 127.0.0.1 in a subprocess twice (dynamic
batching on: 5 ms window, up to 32 instances; off: one request per model
call), and drives each with a bounded load generator (a fixed number of
single-instance JSON requests from 1, 8 and 32 client threads). Prints per
model, concurrency and batching: throughput, p50 and p99 latency, the
batching on/off throughput ratio, and the ratio to calling the same LiteRT
runtime in-process (serial batch-1 calls: the limit on this machine for one
request at a time). Then sends a bounded hostile set (malformed JSON, wrong
shapes and dtypes, NaN, oversized payloads, unknown models and versions,
bad uploads) and counts the responses by status: the server must answer
every one with a 4xx, never a 5xx, and still be healthy afterwards.

Client and server share the machine's cores, so the figures are a floor.

Usage:
    python benchmarks/serving.py             # both models, about 2-3 minutes
    python benchmarks/serving.py --quick     # LeNet-5, concurrency 1 and 8,
                                             # servers in threads (smoke test)
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCHER = [
    sys.executable,
    "-c",
    "import sys, kerasdl_cli; sys.exit(kerasdl_cli.main())",
]
MODELS = {
    "lenet5": {"model": "lenet5", "input_shape": (32, 32, 1), "num_classes": 10},
    "mobilenet_v2": {
        "model": "mobilenet_v2",
        "input_shape": (96, 96, 3),
        "num_classes": 10,
    },
}
PREPROCESSING = {
    "scale": 1 / 255,
    "offset": 0.0,
    "raw_range": [0, 255],
    "layout": "HWC",
}
BATCHING = {
    "on": ["--max-batch", "32", "--batch-window-ms", "5"],
    "off": ["--max-batch", "1"],
}


def _calibrate_batch_norm(model, x) -> None:
    """Moving statistics of every BatchNormalization set from one batch.

    An untrained MobileNetV2 (moving mean 0, variance 1) saturates its ReLU6
    layers and gives the same output for every input, which export refuses
    to verify; one training-mode pass with momentum 0 makes inference
    normalize as training would. Speed does not depend on the values.
    """
    import keras

    layers = [
        layer for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]  # fmt: skip
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


def _export(root: pathlib.Path, names) -> None:
    import kerasdl

    rng = np.random.default_rng(0)
    for name in names:
        spec = MODELS[name]
        model = kerasdl.build(spec["model"], input_shape=spec["input_shape"],
                              num_classes=spec["num_classes"])  # fmt: skip
        data = rng.uniform(0, 1, (32, *spec["input_shape"])).astype("float32")
        _calibrate_batch_norm(model, data)
        kerasdl.export(model, root / name / "1", formats=("tflite",),
                       representative_data=data, preprocessing=PREPROCESSING)  # fmt: skip


class Server:
    """`kerasdl serve` in a subprocess on a free port."""

    def __init__(self, root, options):
        from kerasdl.serve.server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        }
        # Open for the server's whole life, closed in stop().
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [*LAUNCHER, "serve", str(root), "--port", str(self.port), *options],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait(self, timeout=120.0):
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited: {self.log.read()[-2000:]!r}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server on {self.url} not ready after {timeout} s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class ThreadServer:
    """The same app in a thread of this process (--quick: no second start-up)."""

    def __init__(self, root, options):
        from kerasdl.serve import BackgroundServer, create_app

        settings = dict(zip(options[::2], options[1::2], strict=True))
        self._server = BackgroundServer(
            create_app(
                [root],
                max_batch=int(settings["--max-batch"]),
                batch_window_ms=float(settings.get("--batch-window-ms", 0)),
            )
        )
        self.url = self._server.url

    def wait(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()


def _load(url: str, model: str, body: bytes, concurrency: int, requests: int):
    """Sends `requests` JSON requests from `concurrency` threads.

    Returns (requests per second, p50 ms, p99 ms, status counts).
    """
    import httpx

    latencies, statuses = [], collections.Counter()
    per_thread = max(1, requests // concurrency)
    headers = {"content-type": "application/json"}

    def worker():
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(per_thread):
                start = time.perf_counter()
                response = client.post(f"/v1/models/{model}:predict", content=body,
                                       headers=headers)  # fmt: skip
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] += 1

    # Warm-up: connections, interpreters, first allocations.
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(3):
            client.post(f"/v1/models/{model}:predict", content=body, headers=headers)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000
    return len(ms) / elapsed, np.percentile(ms, 50), np.percentile(ms, 99), statuses


def _in_process(path, x, runs: int):
    """Serial batch-1 LiteRT calls: (calls per second, p50 ms)."""
    from kerasdl.exporters import FORMATS

    runner = FORMATS["tflite"].open(path)
    for _ in range(3):
        runner.run([x])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.run([x])
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    return 1000.0 / np.mean(ms), np.percentile(ms, 50)


def _hostile(url: str, model: str, shape) -> collections.Counter:
    """A bounded set of bad requests; returns their status counts."""
    import httpx

    good = np.zeros((1, *shape), "float32").tolist()
    p = f"/v1/models/{model}:predict"
    json_type = {"content-type": "application/json"}
    cases = [
        ("post", p, {"content": b"{not json", "headers": json_type}),
        ("post", p, {"content": b"", "headers": json_type}),
        ("post", p, {"content": b"\xff\xfe\x00", "headers": json_type}),
        ("post", p, {"json": {"rows": good}}),
        ("post", p, {"json": {"instances": good, "inputs": good}}),
        ("post", p, {"json": {"instances": [[1.0, 2.0]]}}),
        ("post", p, {"json": {"instances": [[[0.1]], [[0.1, 0.2]]]}}),
        ("post", p, {"json": {"instances": "abc"}}),
        (
            "post",
            p,
            {"json": {"instances": [[[["x"] * shape[2]] * shape[1]] * shape[0]]}},
        ),
        (
            "post",
            p,
            {"json": {"instances": [[[[True] * shape[2]] * shape[1]] * shape[0]]}},
        ),
        (
            "post",
            p,
            {
                "content": json.dumps({"instances": good}).replace("0.0", "NaN", 1),
                "headers": json_type,
            },
        ),
        (
            "post",
            p,
            {
                "content": json.dumps({"instances": good}).replace("0.0", "1e999", 1),
                "headers": json_type,
            },
        ),
        ("post", p, {"json": {"instances": (np.asarray(good) + 7).tolist()}}),
        ("post", p, {"json": {"instances": good * 1000}}),
        (
            "post",
            p,
            {"content": b"[" + b"0," * 5_000_000 + b"0]", "headers": json_type},
        ),
        ("post", p, {"content": b"x", "headers": {"content-type": "text/plain"}}),
        ("post", p, {"files": {"file": ("a.png", b"not an image", "image/png")}}),
        (
            "post",
            p,
            {
                "content": b"--x\r\nbroken",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
        ),
        ("post", "/v1/models/nope:predict", {"json": {"instances": good}}),
        (
            "post",
            f"/v1/models/{model}/versions/99:predict",
            {"json": {"instances": good}},
        ),
        (
            "post",
            f"/v1/models/{model}/versions/../1:predict",
            {"json": {"instances": good}},
        ),
        ("get", p, {}),
        ("get", "/v1/models/nope", {}),
        ("put", f"/v1/models/{model}/split", {"json": {"weights": {"1": -1}}}),
        ("put", f"/v1/models/{model}/split", {"json": {"weights": "all"}}),
        ("get", f"/v1/models/{model}/report", {}),
    ]
    statuses = collections.Counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        for method, path, kwargs in cases:
            statuses[getattr(client, method)(path, **kwargs).status_code] += 1
        statuses["healthy_after"] = int(client.get("/healthz").status_code == 200)
    return statuses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="LeNet-5, concurrency 1 and 8"
    )
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per concurrency level (default 256, quick 32)")  # fmt: skip
    args = parser.parse_args(argv)
    names = ["lenet5"] if args.quick else list(MODELS)
    levels = (1, 8) if args.quick else (1, 8, 32)
    requests = args.requests or (32 if args.quick else 256)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="kerasdl-serving-") as tmp:
        root = pathlib.Path(tmp) / "savedmodels"
        _export(root, names)
        inputs, baseline = {}, {}
        for name in names:
            shape = MODELS[name]["input_shape"]
            # Three decimals, as a client would send pixels: float32 values
            # printed in full would double the JSON (and its parsing time).
            x = np.round(rng.uniform(0, 1, (1, *shape)), 3)
            inputs[name] = x
            baseline[name] = _in_process(root / name / "1" / "model.tflite",
                                         x.astype("float32"),
                                         runs=50 if args.quick else 200)  # fmt: skip
        results = {}
        hostile = None
        for batching, options in BATCHING.items():
            server = (ThreadServer if args.quick else Server)(root, options).wait()
            try:
                for name in names:
                    body = json.dumps({"instances": inputs[name].tolist()}).encode()
                    for c in levels:
                        results[name, c, batching] = _load(
                            server.url, name, body, c, requests
                        )
                if hostile is None:
                    hostile = _hostile(
                        server.url, names[0], MODELS[names[0]]["input_shape"]
                    )
            finally:
                server.stop()

    print(f"{'model':<13} {'conc':>4} {'batching':>8} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'vs in-process':>13} {'on/off':>7}")  # fmt: skip
    server_errors = 0
    for name in names:
        rate, p50 = baseline[name]
        print(f"{name:<13} {'-':>4} {'in-proc':>8} {rate:>8.1f} {p50:>8.2f} {'-':>8} "
              f"{'1.00x':>13} {'-':>7}")  # fmt: skip
        for c in levels:
            for batching in BATCHING:
                throughput, q50, q99, statuses = results[name, c, batching]
                server_errors += sum(n for s, n in statuses.items() if s >= 500)
                on_off = results[name, c, "on"][0] / results[name, c, "off"][0]
                print(f"{name:<13} {c:>4} {batching:>8} {throughput:>8.1f} {q50:>8.2f} "
                      f"{q99:>8.2f} {throughput / rate:>12.4f}x {on_off:>6.2f}x")  # fmt: skip
    for name in names:
        rate, p50 = baseline[name]
        q50 = results[name, 1, "off"][1]
        print(f"{name} server/in-process p50 at concurrency 1 (batching off): "
              f"{q50 / p50:.1f}x ({q50:.2f} vs {p50:.2f} ms)")  # fmt: skip
    healthy = hostile.pop("healthy_after")
    total = sum(hostile.values())
    hostile_5xx = sum(n for s, n in hostile.items() if s >= 500)
    counts = ", ".join(f"{s}: {n}" for s, n in sorted(hostile.items()))
    print(f"hostile requests: {total} ({counts}); 5xx: {hostile_5xx}; "
          f"healthy after: {'yes' if healthy else 'no'}")  # fmt: skip
    print(f"load-test 5xx: {server_errors}")
    return 0 if hostile_5xx == 0 and healthy and server_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
