"""The model server over real HTTP on 127.0.0.1: uvicorn in a thread, httpx.

Tiny models are exported once per module (exporting is the slow part):
a 8x8x1 CNN as float TFLite, ONNX and .keras, in two versions. The runtimes
are backend-free (LiteRT, ONNX Runtime), so the module runs on TensorFlow
only, except the .keras test, which uses the active backend.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import shutil
import time

import httpx
import keras
import numpy as np
import pytest

from kerasdl.exporters import export
from kerasdl.exporters.manifest import read_manifest
from kerasdl.serve import BackgroundServer, create_app, ks_statistic, psi

PREPROCESSING = {
    "scale": 1 / 255,
    "offset": 0.0,
    "raw_range": [0, 255],
    "layout": "HWC",
}
LABELS = ["a", "b", "c"]


def _model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"tiny{seed}")


def _data(n=200, seed=0):
    # Reference traffic: pixels in [0, 0.5] (the drift test shifts them up).
    return np.random.default_rng(seed).uniform(0, 0.5, (n, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("savedmodels")
    for version, seed in (("1", 0), ("2", 1)):
        export(
            _model(seed), root / "tiny" / version, formats=("tflite", "onnx"),
            representative_data=_data(), labels=LABELS, preprocessing=PREPROCESSING,
        )  # fmt: skip
    return root


def _server(dirs, **options):
    options.setdefault("poll_seconds", 0.1)
    return BackgroundServer(create_app(dirs, **options))


def _post(client, path, x, **kwargs):
    return client.post(path, json={"instances": np.asarray(x).tolist()}, **kwargs)


@pytest.mark.one_backend
def test_manifest_holds_reference_statistics(exports):
    reference = read_manifest(exports / "tiny" / "1")["reference"]
    assert reference["samples"] == 200
    assert reference["source"] == "representative_data"
    (image,) = reference["inputs"]
    assert image["mode"] == "channel" and len(image["features"]) == 1
    feature = image["features"][0]
    assert 0.2 < feature["mean"] < 0.3 and feature["max"] <= 0.5
    assert abs(sum(feature["fractions"]) - 1) < 1e-9
    assert abs(sum(reference["outputs"][0]["class_fractions"]) - 1) < 1e-9


@pytest.mark.one_backend
def test_psi_and_ks_are_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    quantiles = np.percentile(reference, np.linspace(0, 100, 101))
    assert ks_statistic(quantiles, rng.normal(size=2000)) < 0.05
    assert ks_statistic(quantiles, rng.normal(1.0, size=2000)) > 0.3
    assert psi([0.25] * 4, [0.25] * 4) == 0.0
    assert psi([0.25] * 4, [0.7, 0.1, 0.1, 0.1]) > 0.2


@pytest.mark.one_backend
def test_tflite_and_onnx_predict_match_in_process_runtimes(exports):
    x = _data(4, seed=5)
    results = {}
    for fmt in ("tflite", "onnx"):
        with (
            _server([exports / "tiny"], formats=[fmt]) as server,
            httpx.Client(base_url=server.url) as client,
        ):
            response = _post(client, "/v1/models/tiny:predict", x)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["model"] == "tiny" and body["version"] == "2"
            assert len(body["labels"]) == 4 and set(body["labels"]) <= set(LABELS)
            probs = np.asarray(body["predictions"])
            assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
            assert np.allclose(body["scores"], probs.max(axis=1))
            meta = client.get("/v1/models/tiny").json()
            assert meta["versions"][0]["format"] == fmt
            results[fmt] = probs
    assert np.allclose(results["tflite"], results["onnx"], atol=1e-5)


def test_keras_export_is_served_on_the_active_backend(tmp_path):
    model = _model(2)
    x = _data(3, seed=1)
    export(model, tmp_path / "k", formats=("keras",), preprocessing=PREPROCESSING,
           representative_data=_data(50))  # fmt: skip
    with _server([tmp_path / "k"]) as server:
        response = _post(httpx, server.url + "/v1/models/k:predict", x)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == "1"
    expected = keras.ops.convert_to_numpy(model(x))
    assert np.allclose(response.json()["predictions"], expected, atol=1e-5)


def _png(pixels):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.one_backend
def test_image_upload_gets_the_manifest_preprocessing(exports):
    pixels = np.random.default_rng(0).integers(0, 128, (16, 16), dtype=np.uint8)
    from kerasdl.data._arrays import resize_bilinear

    x = resize_bilinear(pixels[None, :, :, None].astype("float32"), (8, 8)) / 255
    with _server([exports / "tiny"]) as server, httpx.Client(base_url=server.url) as c:
        upload = c.post("/v1/models/tiny/versions/1:predict",
                        files={"file": ("x.png", _png(pixels), "image/png")})  # fmt: skip
        direct = _post(c, "/v1/models/tiny/versions/1:predict", x)
        bad = c.post("/v1/models/tiny:predict",
                     files={"file": ("x.png", b"not an image", "image/png")})  # fmt: skip
    assert upload.status_code == 200, upload.text
    assert np.allclose(
        upload.json()["predictions"], direct.json()["predictions"], atol=1e-5
    )
    assert bad.status_code == 400 and bad.json()["error"]["kind"] == "bad_image"


@pytest.mark.one_backend
def test_new_version_is_hot_swapped_without_dropping_requests(exports, tmp_path):
    root = tmp_path / "tiny"
    shutil.copytree(exports / "tiny" / "1", root / "1")
    x = _data(2)
    with (
        _server([root], keep_versions=1) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        assert c.get("/v1/models/tiny").json()["latest"] == "1"
        codes, seen = [], set()
        stop = time.monotonic() + 30

        def hammer():
            while time.monotonic() < stop and "2" not in seen:
                r = _post(c, "/v1/models/tiny:predict", x)
                codes.append(r.status_code)
                seen.add(r.json().get("version"))

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(hammer) for _ in range(4)]
            time.sleep(0.3)
            # A version appears the way export publishes it: complete, renamed.
            shutil.copytree(exports / "tiny" / "2", tmp_path / "staging")
            os.rename(tmp_path / "staging", root / "2")
            for f in futures:
                f.result()
        meta = c.get("/v1/models/tiny").json()
    assert seen == {"1", "2"}
    assert set(codes) == {200}, codes
    assert [v["version"] for v in meta["versions"]] == ["2"]  # keep_versions=1


@pytest.mark.one_backend
def test_ab_split_is_weighted_sticky_and_visible(exports):
    x = _data(1)
    with _server([exports / "tiny"], ab={"tiny": {"1": 0.5, "2": 0.5}}) as server, \
            httpx.Client(base_url=server.url) as c:  # fmt: skip
        versions = [
            _post(c, "/v1/models/tiny:predict", x,
                  headers={"X-Client-Key": f"user{i}"}).json()["version"]
            for i in range(60)
        ]  # fmt: skip
        again = [
            _post(c, "/v1/models/tiny:predict", x,
                  headers={"X-Client-Key": f"user{i}"}).json()["version"]
            for i in range(60)
        ]  # fmt: skip
        assert versions == again  # sticky per client key
        assert 15 <= versions.count("1") <= 45
        assert c.get("/v1/models/tiny").json()["split"] == {"1": 0.5, "2": 0.5}
        moved = c.put("/v1/models/tiny/split", json={"weights": {"1": 1, "2": 0}})
        assert moved.json()["split"] == {"1": 1.0}
        assert _post(c, "/v1/models/tiny:predict", x).json()["version"] == "1"
        bad = c.put("/v1/models/tiny/split", json={"weights": {"7": 1}})
        assert bad.status_code == 400 and "7" in bad.json()["error"]["message"]
        text = c.get("/metrics").text
    assert 'kerasdl_ab_weight{model="tiny",version="1"} 1.0' in text
    for version in ("1", "2"):
        assert re.search(
            rf'kerasdl_requests_total{{code="200",model="tiny",version="{version}"}} \d+',
            text,
        )


@pytest.mark.one_backend
def test_concurrent_requests_are_batched_and_metrics_are_prometheus_text(exports):
    x = _data(1)
    with _server([exports / "tiny"], batch_window_ms=20, max_batch=16, pool_size=1) as s, \
            httpx.Client(base_url=s.url) as c:  # fmt: skip
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(
                lambda _: _post(c, "/v1/models/tiny:predict", x).status_code, range(48)
            ))  # fmt: skip
        text = c.get("/metrics").text
    assert set(codes) == {200}
    labels = 'model="tiny",version="2"'
    count = float(re.search(rf"kerasdl_batch_size_count{{{labels}}} (\S+)", text)[1])
    total = float(re.search(rf"kerasdl_batch_size_sum{{{labels}}} (\S+)", text)[1])
    assert total == 48 and count < 48  # some model calls held several requests
    assert f'kerasdl_batch_size_bucket{{{labels},le="+Inf"}} {int(count)}' in text
    assert "# TYPE kerasdl_request_latency_seconds histogram" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+(\{.*\})? \S+", line), line


@pytest.mark.one_backend
def test_drift_is_flagged_on_shifted_inputs_only(exports):
    options = {"drift": {"window": 100, "min_samples": 40}}
    with _server([exports / "tiny" / "1"], **options) as s, \
            httpx.Client(base_url=s.url) as c:  # fmt: skip
        assert not c.get("/v1/models/1/drift").json()["versions"][0]["ready"]
        _post(c, "/v1/models/1:predict", _data(60, seed=3))
        calm = c.get("/v1/models/1/drift").json()
        _post(c, "/v1/models/1:predict", _data(100, seed=4) + 0.5)
        shifted = c.get("/v1/models/1/drift").json()
        text = c.get("/metrics").text
    assert calm["drift"] is False, calm
    assert shifted["drift"] is True
    feature = shifted["versions"][0]["inputs"][0]["features"][0]
    assert feature["psi"] > 1 and feature["ks"] > 0.5
    assert 'kerasdl_drift_detected{model="1",version="1"} 1' in text


def _nested(depth):
    value = [0.0]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.one_backend
def test_hostile_requests_get_4xx_json_errors_and_the_server_stays_up(exports):
    x = _data(1).tolist()
    with _server([exports / "tiny"], max_body_bytes=100_000, max_instances=8,
                 api_key="secret") as s, httpx.Client(
        base_url=s.url, headers={"X-API-Key": "secret"}) as c:  # fmt: skip
        p = "/v1/models/tiny:predict"
        cases = {
            "malformed": c.post(
                p, content=b"{not json", headers={"content-type": "application/json"}
            ),
            "no_key": c.post(p, json={"rows": x}),
            "both_keys": c.post(p, json={"instances": x, "inputs": x}),
            "shape": c.post(p, json={"instances": [[1.0, 2.0]]}),
            "ragged": c.post(p, json={"instances": [[[0.1]], [[0.1, 0.2]]]}),
            "dtype": c.post(p, json={"instances": [[["a"] * 1] * 8] * 8}),
            "strings": c.post(p, json={"instances": "abc"}),
            "nan": c.post(
                p,
                content=b'{"instances": [' + b"[[NaN]]" + b"]}",
                headers={"content-type": "application/json"},
            ),
            "range": c.post(p, json={"instances": (np.asarray(x) + 5).tolist()}),
            "too_many": c.post(p, json={"instances": x * 9}),
            "oversized": c.post(p, content=b"[" + b"0," * 60_000 + b"0]"),
            "unknown_model": c.post("/v1/models/nope:predict", json={"instances": x}),
            "unknown_version": c.post(
                "/v1/models/tiny/versions/9:predict", json={"instances": x}
            ),
            "media": c.post(p, content=b"x", headers={"content-type": "text/plain"}),
            "deep_json": c.post(
                p, content=b'{"instances": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
            ),
            "deep_array": c.post(p, json={"instances": _nested(200)}),
            "huge_int": c.post(p, content=b'{"instances": [' + b"9" * 400 + b"]}"),
            "no_api_key": httpx.post(s.url + p, json={"instances": x}),
            "wrong_method": c.get(p),
        }
        health = c.get("/healthz").json()
        ready = c.get("/readyz").status_code
        ok = c.post(p, json={"instances": x}).status_code
    statuses = {k: r.status_code for k, r in cases.items()}
    assert all(400 <= code < 500 for code in statuses.values()), statuses
    assert statuses["oversized"] == 413 and statuses["no_api_key"] == 401
    assert statuses["unknown_model"] == statuses["unknown_version"] == 404
    for name, response in cases.items():
        error = response.json()["error"]
        assert error["kind"] and error["message"], name
    assert "nope" in cases["unknown_model"].json()["error"]["message"]
    assert "[batch, 8, 8, 1]" in cases["shape"].json()["error"]["message"]
    assert (health, ready, ok) == ({"status": "ok"}, 200, 200)


@pytest.mark.one_backend
def test_report_is_served_when_present_else_404_says_how_to_make_it(exports, tmp_path):
    shutil.copytree(exports / "tiny" / "1", tmp_path / "m")
    with _server([tmp_path / "m"]) as s:
        missing = httpx.get(s.url + "/v1/models/m/report")
        os.makedirs(tmp_path / "m" / "report")
        (tmp_path / "m" / "report" / "report.html").write_text("<html>ok</html>")
        present = httpx.get(s.url + "/v1/models/m/versions/1/report")
    assert missing.status_code == 404
    assert "kerasdl evaluate" in missing.json()["error"]["message"]
    assert present.status_code == 200 and present.text == "<html>ok</html>"


@pytest.mark.one_backend
def test_bad_settings_and_folders_are_refused(exports, tmp_path):
    with pytest.raises(ValueError, match="max_batch"):
        create_app([exports / "tiny"], max_batch=0)
    with pytest.raises(ValueError, match="no export"):
        create_app([tmp_path])
    with pytest.raises(ValueError, match="cannot be served"):
        create_app([exports / "tiny"], formats=["saved_model"])


class _Doubler:
    """A runner stand-in that records the batch sizes it is called with."""

    def __init__(self):
        self.calls = []

    def run(self, inputs):
        self.calls.append(len(inputs[0]))
        return [inputs[0] * 2]


@pytest.mark.one_backend
def test_batcher_groups_same_shapes_and_answers_requests_after_close():
    from kerasdl.serve.repository import Batcher

    runner = _Doubler()
    batcher = Batcher([runner], window_s=0.2, max_batch=8)
    for _ in range(4):
        batcher.arrive()  # four requests on the way: the worker waits for them
    futures = [
        batcher.submit([np.full((1, 2), i, "float32")], arrived=True) for i in range(3)
    ]
    odd = batcher.submit([np.ones((2, 3), "float32")], arrived=True)  # own call
    results = [f.result(timeout=10)[0] for f in futures]
    assert [r.tolist() for r in results] == [[[2 * i, 2 * i]] for i in range(3)]
    assert odd.result(timeout=10)[0].shape == (2, 3)
    batcher.close()
    batcher.join(timeout=10)
    late = batcher.submit([np.ones((1, 2), "float32")])  # routed before the swap
    assert late.result(timeout=10)[0].tolist() == [[2.0, 2.0]]
    assert sorted(runner.calls) == [1, 2, 3]


@pytest.mark.one_backend
def test_cli_parses_serve_options_and_ab_splits():
    from kerasdl.cli import _parse_ab
    from kerasdl_cli import make_parser

    args = make_parser().parse_args(
        [
            "serve",
            "a",
            "b",
            "--workers",
            "2",
            "--ab",
            "m=1:0.9,2:0.1",
            "--max-batch",
            "1",
        ]
    )
    assert (args.dirs, args.workers, args.max_batch) == (["a", "b"], 2, 1)
    assert _parse_ab(args.ab) == {"m": {"1": 0.9, "2": 0.1}}
    with pytest.raises(ValueError, match="NAME=VERSION:WEIGHT"):
        _parse_ab(["m1:0.5"])


@pytest.mark.one_backend
def test_access_log_is_one_json_line_with_the_request_id(exports, caplog):
    import json
    import logging

    from kerasdl.serve.server import JsonLogFormatter

    caplog.set_level(logging.INFO, logger="kerasdl.serve.access")
    with _server([exports / "tiny"]) as s:
        response = _post(httpx, s.url + "/v1/models/tiny:predict", _data(1),
                         headers={"X-Request-ID": "abc123"})  # fmt: skip
    assert response.headers["X-Request-ID"] == "abc123"
    (record,) = [r for r in caplog.records if "abc123" in r.getMessage()]
    line = json.loads(JsonLogFormatter().format(record))
    assert line["request_id"] == "abc123" and line["status"] == 200
    assert (line["model"], line["version"], line["logger"]) == (
        "tiny", "2", "kerasdl.serve.access"
    )  # fmt: skip
