"""Chapter 14, production: export, serve, query, watch drift, A/B two versions.

Thin recipe: run configs of plain values and a main that only calls library
code. Trains LeNet-5 on digits and publishes it as version 1 of
<run-root>/savedmodels/digits (float TFLite + ONNX, manifest with reference
statistics), serves the folder with `kerasdl.serve` on 127.0.0.1 (the same
app `kerasdl serve` runs), and over HTTP:

1. queries the test split (JSON instances) and PNG uploads of the same
   digits (the server applies the manifest's preprocessing);
2. sends test-like traffic, then the same digits inverted (1 - x, a shifted
   input distribution) and reads the drift alarm (KS, PSI per feature);
3. trains a longer version 2 while the server runs and publishes it next
   to version 1: the watcher loads it and swaps it in while requests keep
   flowing;
4. splits traffic 80/20 between versions 1 and 2 (sticky per client key)
   and measures each version's share and accuracy.

Prints one row per measurement: what, the value (a fraction in [0, 1]),
and a note. Finally `kerasdl.evaluate` writes version 2's evaluation report
into its folder, which the server serves at
/v1/models/digits/versions/2/report.

    python recipes/ch14_production.py            # full run, a few minutes
    python recipes/ch14_production.py --quick    # smoke run, about a minute
"""

import argparse
import concurrent.futures
import io
import os
import sys
import threading
import time

import httpx
import numpy as np
from PIL import Image

import kerasdl
from kerasdl.serve import BackgroundServer, create_app

SETTINGS = {
    "full": {"v1": 2, "v2": 15, "queries": 300, "latency": 20},
    "quick": {"v1": 1, "v2": 2, "queries": 60, "latency": 2},
}
SERVER = {
    "batch_window_ms": 2.0,
    "max_batch": 32,
    "poll_seconds": 0.5,
    "drift": {"window": 200, "min_samples": 50},
}


def config(epochs: int, directory: str) -> dict:
    """LeNet-5 on digits at 32x32, exported as float TFLite and ONNX."""
    return {
        "data": {"name": "digits", "image_size": 32, "seed": 0},
        "model": {"model": "lenet5", "activation": "relu", "batch_norm": True},
        "training": {
            "seed": 0,
            "epochs": epochs,
            "batch_size": 32,
            "optimizer": {"name": "adam", "learning_rate": 0.002},
            "verbose": 0,
        },
        "export": {"directory": directory, "formats": ["tflite", "onnx"]},
    }


def _predict(client, x, **headers):
    response = client.post(
        "/v1/models/digits:predict", json={"instances": x.tolist()}, headers=headers
    )
    response.raise_for_status()
    return response.json()


def _png(image) -> bytes:
    buffer = io.BytesIO()
    pixels = np.round(image[:, :, 0] * 16).astype(np.uint8)  # back to raw 0..16
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _row(what: str, value: float, note: str) -> None:
    # One token per note: the value is always the second-to-last field.
    print(f"{what:<46} {value:>7.3f} {note}", flush=True)


def _max_ks(client) -> float:
    report = client.get("/v1/models/digits/drift").json()
    served = [v for v in report["versions"] if v.get("ready")]
    return max(f["ks"] for v in served for e in v["inputs"] for f in e["features"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1+2 epochs, fewer queries"
    )
    parser.add_argument("--run-root", default="runs/ch14")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    root = os.path.join(args.run_root, "savedmodels", "digits")
    v1 = kerasdl.train(config(settings["v1"], os.path.join(root, "1")))
    x, y = v1.dataset.x_test, v1.dataset.y_test
    n = min(settings["queries"], len(x))
    print(f"{'measurement':<46} {'value':>7} note")
    with (
        BackgroundServer(create_app([root], **SERVER)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        # 1. Query: JSON instances and PNG uploads of the same digits.
        body = _predict(client, x[:n])
        served = np.asarray([int(label) for label in body["labels"]])
        _row("v1 test accuracy over HTTP (LiteRT)", np.mean(served == y[:n]), "v1")
        uploads = [
            client.post("/v1/models/digits:predict",
                        files={"file": (f"{i}.png", _png(x[i]), "image/png")})
            for i in range(8)
        ]  # fmt: skip
        agree = np.mean(
            [u.json()["labels"][0] == body["labels"][i] for i, u in enumerate(uploads)]
        )
        _row("PNG uploads labelled as their JSON instances", agree, "preprocessed")

        # 2. Drift: test-like traffic, then a shifted distribution.
        for start in range(0, n, 32):
            _predict(client, x[start : start + 32])
        drift = client.get("/v1/models/digits/drift").json()
        _row("drift: test-like traffic, max KS", _max_ks(client),
             "DRIFT" if drift["drift"] else "no-drift")  # fmt: skip
        for start in range(0, 200, 32):
            _predict(client, 1.0 - x[start : start + 32])
        drift = client.get("/v1/models/digits/drift").json()
        _row("drift: inverted digits, max KS", _max_ks(client),
             "DRIFT" if drift["drift"] else "no-drift")  # fmt: skip

        # 3. Version 2 trained and published while traffic flows.
        codes, stop = [], threading.Event()

        def traffic():
            while not stop.is_set():
                codes.append(
                    client.post("/v1/models/digits:predict",
                                json={"instances": x[:1].tolist()}).status_code
                )  # fmt: skip
                time.sleep(0.05)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            running = pool.submit(traffic)
            v2 = kerasdl.train(config(settings["v2"], os.path.join(root, "2")))
            deadline = time.monotonic() + 60
            while client.get("/v1/models/digits").json()["latest"] != "2":
                if time.monotonic() > deadline:
                    raise RuntimeError("version 2 was not loaded within 60 s")
                time.sleep(0.1)
            time.sleep(0.3)
            stop.set()
            running.result()
        _row("requests answered 200 across the hot swap", np.mean(np.asarray(codes) == 200),
             f"{len(codes)}-requests")  # fmt: skip

        # 4. A/B: 80% to version 1, 20% to version 2, sticky per client key.
        client.put("/v1/models/digits/split", json={"weights": {"1": 0.8, "2": 0.2}})
        versions, correct = [], []
        for i in range(n):
            answer = _predict(client, x[i : i + 1], **{"X-Client-Key": f"user{i}"})
            versions.append(answer["version"])
            correct.append(int(answer["labels"][0]) == y[i])
        versions, correct = np.asarray(versions), np.asarray(correct)
        again = [_predict(client, x[i : i + 1], **{"X-Client-Key": f"user{i}"})["version"]
                 for i in range(20)]  # fmt: skip
        for version in ("1", "2"):
            mine = versions == version
            _row(f"A/B v{version} share of traffic", np.mean(mine), "target-"
                 + ("0.8" if version == "1" else "0.2"))  # fmt: skip
            _row(f"A/B v{version} accuracy on its traffic",
                 np.mean(correct[mine]) if mine.any() else 0.0, f"{int(mine.sum())}-requests")  # fmt: skip
        _row("A/B same version on repeat (sticky)", np.mean(np.asarray(again) == versions[:20]),
             "X-Client-Key")  # fmt: skip
        _row(
            "v2 test accuracy (Keras, before export)", v2.test_metrics["accuracy"], "v2"
        )

        # 5. The evaluation report of version 2, served next to it.
        report_dir = os.path.join(root, "2", "report")
        report = kerasdl.evaluate(
            os.path.join(root, "2", "model.tflite"), (x, y), report_dir=report_dir,
            latency_runs=settings["latency"],
        )  # fmt: skip
        _row("v2 test accuracy in the evaluation report", report["accuracy"], "tflite")
        page = client.get("/v1/models/digits/versions/2/report")
        _row("evaluation report served by the server", float(page.status_code == 200),
             "report.html")  # fmt: skip
        metrics = client.get("/metrics").text
    print(f"served from {os.path.abspath(root)}; /metrics has "
          f"{metrics.count(chr(10))} lines", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
