"""The FastAPI application of `kerasdl serve`: predict, metadata, health, metrics.

Endpoints (TF-Serving style paths):

- POST /v1/models/{name}:predict, /v1/models/{name}/versions/{v}:predict:
  JSON {"instances": [...]} or {"inputs": ...}, or multipart image files;
  returns {"model", "version", "predictions", "labels" (top class per
  instance), "scores" (its probability)}. Routed by the A/B split, sticky
  per client key header (default X-Client-Key).
- GET /v1/models/{name} (versions, split, metadata from the manifest),
  GET /v1/models/{name}/drift, PUT /v1/models/{name}/split,
  GET /v1/models/{name}/report (the version folder's report/report.html).
- GET /healthz, /readyz, /metrics (Prometheus text).

Every bad request gets a 4xx JSON error {"error": {"kind", "message"},
"request_id"}; each request is logged as one JSON line (logger
"kerasdl.serve.access") with its request id (X-Request-ID, echoed).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints'
# annotations (Request, imported inside create_app) at definition time.
import asyncio
import json
import logging
import math
import os
import time
import uuid

import numpy as np

from kerasdl._checks import check_float, check_int
from kerasdl.serve.inputs import (
    RequestError,
    check_range,
    decode_images,
    input_range,
    parse_json_inputs,
)
from kerasdl.serve.metrics import Metrics
from kerasdl.serve.repository import SERVED_FORMATS, Repository

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("kerasdl.serve.access")

# Paths under /v1 that need the API key when one is set.
_PROTECTED = "/v1/"


def _settings(
    keep_versions,
    batch_window_ms,
    max_batch,
    pool_size,
    num_threads,
    max_body_bytes,
    max_instances,
    timeout_s,
    formats,
    drift,
) -> dict:
    formats = tuple(formats or SERVED_FORMATS)
    unknown = [f for f in formats if f not in SERVED_FORMATS]
    if unknown:
        raise ValueError(
            f"formats {unknown} cannot be served; accepted: {list(SERVED_FORMATS)}."
        )
    drift = dict(drift or {})
    accepted = {"window", "min_samples", "psi_threshold", "ks_threshold",
                "prediction_threshold"}  # fmt: skip
    if set(drift) - accepted:
        raise ValueError(
            f"drift takes keys {sorted(accepted)}; received {sorted(drift)}."
        )
    return {
        "keep_versions": check_int("keep_versions", keep_versions, 1, allow_none=True),
        "batch_window_ms": check_float("batch_window_ms", batch_window_ms, 0.0),
        "max_batch": check_int("max_batch", max_batch, 1),
        "pool_size": check_int("pool_size", pool_size, 1),
        "num_threads": check_int("num_threads", num_threads, 1, allow_none=True),
        "max_body_bytes": check_int("max_body_bytes", max_body_bytes, 1),
        "max_instances": check_int("max_instances", max_instances, 1),
        "timeout_s": check_float("timeout_s", timeout_s, 0.0, min_inclusive=False),
        "formats": formats,
        "drift": drift,
    }


def _error(status: int, kind: str, message: str, request_id: str):
    from fastapi.responses import JSONResponse

    return JSONResponse(
        {"error": {"kind": kind, "message": message}, "request_id": request_id},
        status_code=status,
        headers={"X-Request-ID": request_id},
    )


def _sanitize(value):
    """JSON-safe copy: NaN/inf floats become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    return value


def create_app(
    dirs,
    *,
    keep_versions: int | None = None,
    batch_window_ms: float = 2.0,
    max_batch: int = 32,
    pool_size: int = 2,
    num_threads: int | None = None,
    api_key: str | None = None,
    max_body_bytes: int = 8 * 1024 * 1024,
    max_instances: int = 256,
    timeout_s: float = 30.0,
    poll_seconds: float = 2.0,
    formats=None,
    ab: dict | None = None,
    drift: dict | None = None,
    client_key_header: str = "X-Client-Key",
):
    """A FastAPI app serving exported models (run it with uvicorn).

    Args:
        dirs: str or list of str. Export folders (manifest.json), folders of
            versions `<name>/<version>/`, or folders of model folders.
        keep_versions: int or None. Versions kept loaded per model (the
            newest); None: all.
        batch_window_ms: float. Dynamic batching: how long a worker waits for
            more requests after the first.
        max_batch: int. Most instances per model call; 1 turns batching off.
        pool_size: int. Runners (interpreters, sessions) per version, each
            on its own worker thread (.keras files: one).
        num_threads: int or None. CPU threads of each LiteRT/ONNX runner.
        api_key: str or None. When set, /v1/ requests need it in the
            X-API-Key header (or "Authorization: Bearer <key>").
        max_body_bytes: int. Largest request body accepted.
        max_instances: int. Most instances in one request.
        timeout_s: float. A prediction not answered in time gets a 503.
        poll_seconds: float. How often a watcher thread looks for new
            version folders (0: never after start).
        formats: sequence of str or None. Preferred formats when a folder
            holds several (default: tflite, ..., onnx, keras).
        ab: dict or None. {model: {version: weight}} A/B splits at start.
        drift: dict or None. DriftMonitor options: window, min_samples,
            psi_threshold, ks_threshold, prediction_threshold.
        client_key_header: str. Header whose value keeps a client on one
            version of an A/B split.

    Returns:
        fastapi.FastAPI: its `state.repository` holds the loaded models.

    Raises:
        ValueError: for a folder without an export, a version that fails to
            load, or a bad setting.

    Example:
    >>> app = create_app(["savedmodels/lenet5"], max_batch=16)
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    import contextlib

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    settings = _settings(
        keep_versions, batch_window_ms, max_batch, pool_size, num_threads,
        max_body_bytes, max_instances, timeout_s, formats, drift,
    )  # fmt: skip
    poll_seconds = check_float("poll_seconds", poll_seconds, 0.0)
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ValueError(
            f"api_key must be a non-empty string or None; received {api_key!r}."
        )
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    metrics = Metrics()

    def on_batch(version, inputs, outputs):
        labels = {"model": version.name, "version": version.version}
        metrics.observe("kerasdl_batch_size", len(inputs[0]), labels)

    repository = Repository(list(dirs), settings, on_batch)
    for name, weights in (ab or {}).items():
        if name not in repository.models:
            raise ValueError(
                f"ab names model {name!r}; served models: {sorted(repository.models)}."
            )
        repository.models[name].set_weights(weights)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        repository.start_watching(poll_seconds)
        try:
            yield
        finally:
            repository.close()

    app = FastAPI(title="kerasdl model server", lifespan=lifespan)
    app.state.repository = repository
    app.state.metrics = metrics

    @app.middleware("http")
    async def envelope(request: Request, call_next):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        request.state.model = request.state.version = None
        start = time.perf_counter()
        path = request.url.path
        if api_key is not None and path.startswith(_PROTECTED):
            auth = request.headers.get("authorization", "")
            given = request.headers.get("x-api-key") or (
                auth[7:] if auth.lower().startswith("bearer ") else None
            )
            if given != api_key:
                response = _error(
                    401, "unauthorized",
                    "missing or wrong API key: send it in the X-API-Key header.",
                    request_id,
                )  # fmt: skip
                request.state.error_kind = "unauthorized"
                return _finish(request, response, start)
        try:
            response = await call_next(request)
        except Exception as error:  # last resort: a JSON 500, logged
            logger.exception("unhandled error on %s", path)
            request.state.error_kind = "internal"
            response = _error(500, "internal", f"internal error: {error}", request_id)
        response.headers["X-Request-ID"] = request_id
        return _finish(request, response, start)

    def _finish(request, response, start):
        elapsed = time.perf_counter() - start
        state = request.state
        kind = getattr(state, "error_kind", None)
        if response.status_code >= 400:
            metrics.inc(
                "kerasdl_errors_total", {"kind": kind or str(response.status_code)}
            )
        model = state.model or ""
        version = state.version or ""
        if request.url.path.endswith(":predict"):
            labels = {"model": model, "version": version}
            metrics.inc(
                "kerasdl_requests_total", {**labels, "code": str(response.status_code)}
            )
            if response.status_code < 400:
                metrics.observe("kerasdl_request_latency_seconds", elapsed, labels)
        access_logger.info(
            json.dumps(
                {
                    "request_id": state.request_id,
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000.0, 3),
                    "model": state.model,
                    "version": state.version,
                    "error": kind,
                }
            )
        )
        return response

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError):
        request.state.error_kind = error.kind
        return _error(error.status, error.kind, error.message, request.state.request_id)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http"
        )
        request.state.error_kind = kind
        return _error(
            error.status_code, kind, str(error.detail), request.state.request_id
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error):
        request.state.error_kind = "bad_request"
        return _error(422, "bad_request", str(error.errors()), request.state.request_id)

    def _model(name: str):
        try:
            return repository.get(name)
        except KeyError:
            raise RequestError(
                404, "unknown_model",
                f"no model named {name!r}; served models: {sorted(repository.models)}.",
            ) from None  # fmt: skip

    def _version(model, version: str):
        versions = model.versions
        if version not in versions:
            raise RequestError(
                404, "unknown_version",
                f"model {model.name!r} has no loaded version {version!r}; "
                f"loaded: {sorted(versions)}.",
            )  # fmt: skip
        return versions[version]

    async def _body(request: Request) -> bytes:
        limit = settings["max_body_bytes"]
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise RequestError(
                413, "payload_too_large",
                f"the body has {int(length)} bytes; at most {limit} are accepted.",
            )  # fmt: skip
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(
                    413, "payload_too_large",
                    f"the body exceeds {limit} bytes, the most accepted.",
                )  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)

    async def _inputs(request: Request, served) -> list:
        body = await _body(request)
        content_type = request.headers.get("content-type", "")
        specs = served.inputs
        preprocessing = served.manifest.get("preprocessing")
        if content_type.startswith("multipart/form-data"):
            from starlette.formparsers import MultiPartException, MultiPartParser

            async def stream():
                yield body

            try:
                form = await MultiPartParser(
                    request.headers, stream(), max_files=settings["max_instances"],
                    max_fields=16, max_part_size=settings["max_body_bytes"],
                ).parse()  # fmt: skip
            except MultiPartException as error:
                raise RequestError(400, "bad_multipart", str(error.message)) from None
            files = [
                (v.filename or k, await v.read())
                for k, v in form.multi_items()
                if hasattr(v, "read")
            ]
            if not files:
                raise RequestError(
                    400, "bad_multipart",
                    "the multipart body holds no file: upload images as file fields.",
                )  # fmt: skip
            if len(specs) != 1:
                raise RequestError(
                    415, "not_an_image_model",
                    f"the model has {len(specs)} inputs; image uploads need one.",
                )  # fmt: skip
            arrays = [decode_images(files, specs[0], preprocessing)]
        else:
            if content_type and "json" not in content_type:
                raise RequestError(
                    415, "unsupported_media_type",
                    f"content type {content_type!r} is not accepted; send "
                    "application/json or multipart/form-data image files.",
                )  # fmt: skip
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError) as error:  # bad JSON, deep nesting
                raise RequestError(
                    400, "bad_json", f"the body is not valid JSON: {error}"
                ) from None
            arrays = parse_json_inputs(payload, specs, settings["max_instances"])
        check_range(arrays, specs, input_range(preprocessing))
        return arrays

    def _response(served, outputs) -> dict:
        first = outputs[0]
        result = {
            "model": served.name,
            "version": served.version,
            "predictions": first.tolist()
            if len(outputs) == 1
            else [o.tolist() for o in outputs],
        }
        if first.ndim == 2 and first.shape[1] > 1:
            top = np.argmax(first, axis=1)
            result["scores"] = first[np.arange(len(first)), top].astype(float).tolist()
            labels = served.labels
            result["labels"] = [labels[i] if labels else int(i) for i in top]
        return result

    async def _predict(request: Request, name: str, version: str | None):
        model = _model(name)
        request.state.model = name
        if version is None:
            served = model.route(request.headers.get(client_key_header))
        else:
            served = _version(model, version)
        request.state.version = served.version
        # Announced while its body is read, so batching waits for it.
        served.batcher.arrive()
        try:
            arrays = await _inputs(request, served)
        except BaseException:
            served.batcher.depart()
            raise
        future = served.predict(arrays, arrived=True)
        try:
            outputs = await asyncio.wait_for(
                asyncio.wrap_future(future), settings["timeout_s"]
            )
        except asyncio.TimeoutError:
            request.state.error_kind = "timeout"
            return _error(
                503, "timeout",
                f"no answer within {settings['timeout_s']} s; retry later.",
                request.state.request_id,
            )  # fmt: skip
        metrics.inc("kerasdl_instances_total", {"model": name, "version": served.version},
                    len(arrays[0]))  # fmt: skip
        return JSONResponse(_sanitize(_response(served, outputs)))

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request):
        return await _predict(request, name, None)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def predict_version(name: str, version: str, request: Request):
        return await _predict(request, name, version)

    @app.get("/v1/models/{name}")
    async def metadata(name: str):
        model = _model(name)
        versions = model.versions
        return {
            "name": name,
            "directory": model.directory,
            "latest": model.latest().version,
            "split": model.split(),
            "versions": [_sanitize(v.describe()) for v in versions.values()],
        }

    @app.put("/v1/models/{name}/split")
    async def set_split(name: str, request: Request):
        model = _model(name)
        try:
            payload = json.loads(await _body(request))
        except (ValueError, RecursionError) as error:  # bad JSON, deep nesting
            raise RequestError(
                400, "bad_json", f"the body is not valid JSON: {error}"
            ) from None
        if not isinstance(payload, dict) or "weights" not in payload:
            raise RequestError(
                400, "bad_payload", 'send {"weights": {version: weight}}.'
            )
        try:
            model.set_weights(payload["weights"])
        except ValueError as error:
            raise RequestError(400, "bad_split", str(error)) from None
        return {"name": name, "split": model.split()}

    def _drift(served) -> dict:
        if served.drift is None:
            return {"version": served.version, "monitored": False,
                    "reason": "the manifest has no reference statistics; re-export "
                              "the model with this kerasdl"}  # fmt: skip
        return {"version": served.version, "monitored": True,
                **_sanitize(served.drift.report())}  # fmt: skip

    @app.get("/v1/models/{name}/drift")
    async def drift_all(name: str):
        model = _model(name)
        reports = [_drift(v) for v in model.versions.values()]
        return {"name": name, "drift": any(r.get("drift") for r in reports),
                "versions": reports}  # fmt: skip

    @app.get("/v1/models/{name}/versions/{version}/drift")
    async def drift_version(name: str, version: str):
        return {"name": name, **_drift(_version(_model(name), version))}

    def _report(served):
        path = os.path.join(served.directory, "report", "report.html")
        if not os.path.isfile(path):
            raise RequestError(
                404, "no_report",
                f"version {served.version} of {served.name!r} has no evaluation "
                f"report; make it with: kerasdl evaluate {served.path} "
                "--data <test .npz with x and y> "
                f"--report-dir {os.path.join(served.directory, 'report')}",
            )  # fmt: skip
        with open(path, encoding="utf-8") as f:
            return HTMLResponse(f.read())

    @app.get("/v1/models/{name}/report")
    async def report(name: str):
        return _report(_model(name).latest())

    @app.get("/v1/models/{name}/versions/{version}/report")
    async def report_version(name: str, version: str):
        return _report(_version(_model(name), version))

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        missing = [n for n, m in repository.models.items() if not m.versions]
        if missing:
            return JSONResponse(
                {"status": "loading", "models": missing}, status_code=503
            )
        return {"status": "ready", "models": sorted(repository.models)}

    @app.get("/metrics")
    async def metrics_text():
        _update_gauges()
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4"
        )

    def _update_gauges():
        for name in ("kerasdl_ab_weight", "kerasdl_versions_loaded", "kerasdl_drift_psi",
                     "kerasdl_drift_ks", "kerasdl_drift_prediction_psi",
                     "kerasdl_drift_detected", "kerasdl_drift_window"):  # fmt: skip
            metrics.clear(name)
        for name, model in repository.models.items():
            versions = model.versions
            metrics.set("kerasdl_versions_loaded", len(versions), {"model": name})
            for version, share in model.split().items():
                metrics.set(
                    "kerasdl_ab_weight", share, {"model": name, "version": version}
                )
            for served in versions.values():
                if served.drift is None:
                    continue
                labels = {"model": name, "version": served.version}
                report = served.drift.report()
                metrics.set("kerasdl_drift_window", report["window"], labels)
                if not report["ready"]:
                    continue
                metrics.set("kerasdl_drift_detected", int(report["drift"]), labels)
                for entry in report["inputs"]:
                    for j, feature in enumerate(entry["features"]):
                        flabels = {**labels, "input": entry["name"], "feature": str(j)}
                        metrics.set("kerasdl_drift_psi", feature["psi"], flabels)
                        metrics.set("kerasdl_drift_ks", feature["ks"], flabels)
                if report["prediction"]:
                    metrics.set("kerasdl_drift_prediction_psi",
                                report["prediction"]["psi"], labels)  # fmt: skip

    return app
