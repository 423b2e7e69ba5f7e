"""The compression report: exact counts, sizes, accuracy from the files, latency."""

import json
import os
import types

import keras
import numpy as np
import pytest

from kerasdl.compression.report import CompressionReport, count_parameters, report

# On JAX and PyTorch every TFLite export converts in a TensorFlow subprocess
# (15-50 s each on a shared 2-core machine); tests/exporters covers that path, so
# there the report is measured on .keras files only.
CONVERTS = keras.backend.backend() == "tensorflow"
FORMATS = ("keras", "tflite", "tflite_int8") if CONVERTS else ("keras",)
needs_tflite = pytest.mark.skipif(
    not CONVERTS, reason="TFLite files are converted on the TensorFlow backend only"
)
SPARSITY = 0.8


def _data(n, seed):
    """Gaussian clusters: 10 classes in 64 features."""
    rng = np.random.default_rng(seed)
    centers = 2.0 * np.random.default_rng(99).standard_normal((10, 64))
    y = rng.integers(0, 10, n)
    x = (centers[y] + rng.standard_normal((n, 64))).astype("float32")
    return x, y.astype("int32")


def _mlp(name):
    inputs = keras.Input((64,), name="features")
    h = keras.layers.Dense(128, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(h)
    return keras.Model(inputs, outputs, name=name)


def _magnitude_prune(model, sparsity):
    """A copy with the smallest |w| of each kernel set to exactly 0.

    Returns:
        (model, zeros): the copy and the number of weights set to zero.
    """
    pruned = _mlp("sparse")
    weights, zeros = [], 0
    for w in model.get_weights():
        w = w.copy()
        if w.ndim == 2:
            assert np.all(w != 0)
            k = int(sparsity * w.size)
            w.reshape(-1)[np.argsort(np.abs(w).reshape(-1))[:k]] = 0.0
            zeros += k
        else:
            assert np.all(w != 0)  # trained biases: no zero to begin with
        weights.append(w)
    pruned.set_weights(weights)
    return pruned, zeros


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    keras.utils.set_random_seed(0)
    x, y = _data(600, 0)
    x_test, y_test = _data(200, 1)
    dense = _mlp("dense")
    dense.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    dense.fit(x, y, epochs=3, batch_size=32, verbose=0)
    sparse, zeros = _magnitude_prune(dense, SPARSITY)
    # An uncompiled copy: a .keras file of a compiled model also holds the
    # optimizer's state (Adam: 2 more values per weight).
    trained, dense = dense, _mlp("dense")
    dense.set_weights(trained.get_weights())
    directory = tmp_path_factory.mktemp("report")
    rep = report(
        {"dense": dense, "sparse": sparse},
        data=(x_test, y_test),
        formats=FORMATS,
        representative_data=x[:200],
        directory=directory,
        latency_runs=20,
        export_options={
            "labels": list("0123456789"),
            **({"int8_io": "uint8"} if CONVERTS else {}),
        },
    )
    return types.SimpleNamespace(
        dense=dense,
        sparse=sparse,
        zeros=zeros,
        x=x_test,
        y=y_test,
        report=rep,
        directory=str(directory),
    )


def test_rows_cover_every_model_and_format(measured):
    rep = measured.report
    assert [(r.model, r.format) for r in rep.rows] == [
        (m, f) for m in ("dense", "sparse") for f in FORMATS
    ]
    assert rep.metric_name == "accuracy"
    assert rep.baseline == "dense"
    assert rep.samples == 200
    assert all(r.error is None for r in rep.rows)


def test_parameter_counts_are_exact(measured):
    params = 64 * 128 + 128 + 128 * 10 + 10
    assert measured.dense.count_params() == params
    assert measured.zeros == int(SPARSITY * 64 * 128) + int(SPARSITY * 128 * 10)
    for fmt in FORMATS:
        dense = measured.report.row("dense", fmt)
        sparse = measured.report.row("sparse", fmt)
        assert dense.parameters == sparse.parameters == params
        assert dense.nonzero_parameters == params
        assert sparse.nonzero_parameters == params - measured.zeros
        assert sparse.sparsity == pytest.approx(measured.zeros / params)
    assert count_parameters(measured.sparse) == (params, params - measured.zeros)


def test_sparse_model_gzips_smaller(measured):
    rep = measured.report
    for fmt in FORMATS:
        dense, sparse = rep.row("dense", fmt), rep.row("sparse", fmt)
        # Zeros are stored like any value: the raw files are the same size...
        assert abs(sparse.bytes - dense.bytes) <= 0.02 * dense.bytes
        # ...but they compress: 80% zeros leave well under half after gzip.
        assert sparse.gzip_bytes < 0.5 * dense.gzip_bytes
        assert rep.ratio(sparse) == pytest.approx(sparse.gzip_bytes / dense.gzip_bytes)


@needs_tflite
def test_int8_file_is_smaller(measured):
    rep = measured.report
    # int8 weights (the file's fixed overhead is ~5 KiB of this small model).
    assert (
        rep.row("dense", "tflite_int8").bytes < 0.4 * rep.row("dense", "tflite").bytes
    )


def test_sizes_match_the_files_on_disk(measured):
    for row in measured.report.rows:
        path = os.path.join(measured.directory, row.model, row.file)
        assert os.path.getsize(path) == row.bytes
    assert measured.report.directories == {
        m: os.path.join(measured.directory, m) for m in ("dense", "sparse")
    }
    with open(os.path.join(measured.directory, "sparse", "manifest.json")) as f:
        manifest = json.load(f)
    assert sorted(manifest["files"]) == sorted(FORMATS)


def test_keras_accuracy_equals_a_direct_evaluation(measured):
    for name, model in (("dense", measured.dense), ("sparse", measured.sparse)):
        probs = np.asarray(model.predict(measured.x, verbose=0))
        keras_accuracy = np.mean(np.argmax(probs, -1) == measured.y)
        row = measured.report.row(name, "keras")
        assert row.metric == pytest.approx(keras_accuracy, abs=1e-9)
    # Trained: the comparisons here are meaningful.
    assert measured.report.row("dense", "keras").metric >= 0.9


@needs_tflite
def test_tflite_accuracy_equals_a_direct_evaluation(measured):
    from ai_edge_litert.interpreter import Interpreter

    for name in ("dense", "sparse"):
        row = measured.report.row(name, "tflite")
        runner = Interpreter(
            model_path=os.path.join(measured.directory, name, row.file)
        ).get_signature_runner()
        (out,) = runner(features=measured.x).values()
        assert row.metric == np.mean(np.argmax(out, -1) == measured.y)
        # uint8 in and out, quantized with the manifest's numbers.
        with open(os.path.join(measured.directory, name, "manifest.json")) as f:
            entry = json.load(f)["files"]["tflite_int8"]
        assert entry["int8_io"] == "uint8"
        (spec_in,), (spec_out,) = entry["inputs"], entry["outputs"]
        assert spec_in["dtype"] == spec_out["dtype"] == "uint8"
        q = np.round(measured.x / spec_in["scale"] + spec_in["zero_point"])
        runner = Interpreter(
            model_path=os.path.join(measured.directory, name, entry["path"])
        ).get_signature_runner()
        (out,) = runner(features=np.clip(q, 0, 255).astype(np.uint8)).values()
        assert out.dtype == np.uint8
        probs = (out.astype(np.float32) - spec_out["zero_point"]) * spec_out["scale"]
        row = measured.report.row(name, "tflite_int8")
        assert row.metric == np.mean(np.argmax(probs, -1) == measured.y)
    dense = measured.report.row("dense", "keras").metric
    # int8 costs little accuracy on this model.
    assert measured.report.row("dense", "tflite_int8").metric >= dense - 0.03


def test_latency_is_positive_and_p95_not_below_p50(measured):
    for row in measured.report.rows:
        assert 0 < row.latency_p50_ms <= row.latency_p95_ms, row
        assert row.latency_p95_ms < 1000


def test_table_markdown_and_json(measured, tmp_path):
    rep = measured.report
    table = rep.table().splitlines()
    assert table[0].split()[:4] == ["model", "format", "params", "nonzero"]
    assert len(table) == 2 + len(rep.rows)
    last = FORMATS[-1]
    sparse_line = next(line for line in table if line.startswith(f"sparse  {last} "))
    cells = sparse_line.split()
    assert cells[2:4] == ["9,610", f"{9610 - measured.zeros:,}"]
    assert cells[6] == f"{rep.ratio(rep.row('sparse', last)):.3f}"
    data = json.loads(rep.to_json())
    first_sparse = data["rows"][len(FORMATS)]
    assert first_sparse["model"] == "sparse"
    assert first_sparse["nonzero_parameters"] == 9610 - measured.zeros
    assert data["rows"][0]["metric_delta_to_baseline"] == 0.0
    assert CompressionReport.from_dict(data).rows == rep.rows
    json_path, md_path = rep.write(tmp_path)
    with open(json_path) as f:
        assert json.load(f) == data
    with open(md_path) as f:
        markdown = f.read()
    assert markdown.count("\n| sparse |") == len(FORMATS)
    assert f"| dense | {last} |" in markdown


@pytest.fixture(scope="module")
def quantized(measured):
    """The dense model with Keras' own int8 quantization (model.quantize)."""
    model = keras.models.clone_model(measured.dense)
    model.set_weights(measured.dense.get_weights())
    model.quantize("int8")
    return model


def test_keras_quantized_model(measured, quantized):
    rep = report(
        {"float": measured.dense, "int8": quantized},
        data=(measured.x, measured.y),
        formats="keras",
        latency_runs=5,
    )
    row = rep.row("int8", "keras")
    # int8 kernels plus one float scale per output unit.
    assert row.parameters == quantized.count_params() == 9610 + 128 + 10
    assert row.nonzero_parameters <= row.parameters
    assert row.gzip_bytes < 0.6 * rep.row("float", "keras").gzip_bytes
    assert row.metric >= rep.row("float", "keras").metric - 0.03
    assert rep.directories == {"float": None, "int8": None}


@pytest.mark.slow
@needs_tflite
def test_failed_formats_are_recorded_or_raised(measured, quantized, tmp_path):
    rep = report(
        {"float": measured.dense, "int8": quantized},
        data=(measured.x, measured.y),
        formats=("keras", "tflite"),
        latency_runs=5,
        on_error="record",
        directory=tmp_path,
    )
    # TFLite cannot convert Keras' int8 layers: recorded, not raised.
    failed = rep.row("int8", "tflite")
    assert failed.error and "TFLite conversion" in failed.error
    assert failed.bytes is None and failed.metric is None
    assert rep.row("int8", "keras").error is None
    assert rep.row("int8", "keras").metric == rep.row("float", "keras").metric
    assert rep.row("float", "tflite").error is None
    assert "int8/tflite: TFLite conversion" in rep.table()
    assert "- int8/tflite: TFLite conversion" in rep.markdown()
    with pytest.raises(RuntimeError, match="TFLite conversion"):
        report({"int8": quantized}, (measured.x, measured.y), formats="tflite")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": ["tflite_int8"]}, r"'tflite_int8' needs representative_data"),
        ({"formats": ["tflite_int"]}, r"Unknown export format 'tflite_int'"),
        ({"metric": "f1"}, r"metric must be one of 'auto', 'accuracy'.*received 'f1'"),
        ({"latency_runs": 0}, r"latency_runs=0: expected an integer >= 1"),
        ({"on_error": "skip"}, r"on_error must be one of.*received 'skip'"),
        ({"baseline": "other"}, r"baseline 'other' is not a model name"),
        ({"models": {"a/b": None}}, r"Model name 'a/b' in models is not usable"),
        ({"data": (np.zeros((4, 64), "float32"), np.zeros(3))}, r"4 inputs but 3"),
        ({"data": np.zeros((4, 64))}, r"data must be a tuple \(x, y\)"),
        ({"data": (np.zeros((4, 5), "float32"), None)}, r"data input 'features'"),
        (
            {"export_options": {"int8_io": "int16"}},
            r"int8_io must be True, False, 'int8' or 'uint8'; received 'int16'",
        ),
        (
            {"export_options": {"sample_inputs": None}},
            r"export_options may not set \['sample_inputs'\]",
        ),
    ],
)
def test_bad_arguments_fail_before_writing(measured, tmp_path, kwargs, message):
    args = {
        "models": {"dense": measured.dense},
        "data": (measured.x[:4], measured.y[:4]),
        "formats": ("keras",),
        "directory": tmp_path / "out",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        report(**args)
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.slow
@needs_tflite
def test_onnx_and_saved_model_rows(measured):
    rep = report(
        {"dense": measured.dense},
        data=(measured.x, measured.y),
        formats=("saved_model", "onnx"),
        latency_runs=5,
        metric="accuracy",
    )
    keras_accuracy = measured.report.row("dense", "keras").metric
    for fmt in ("saved_model", "onnx"):
        row = rep.row("dense", fmt)
        # Float formats: the same predictions as Keras.
        assert row.metric == keras_accuracy
        assert 0 < row.latency_p50_ms <= row.latency_p95_ms
        assert row.bytes > 4 * 9610
