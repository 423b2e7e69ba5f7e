"""Verification criteria, format names, converter-error parsing, data forms."""

import itertools

import keras
import numpy as np
import pytest

from kerasdl.exporters import (
    VerificationError,
    compare_outputs,
    export,
    needed_tf_ops,
    run_file,
)
from kerasdl.exporters.formats import validate_formats

# Excerpt of a real TFLite converter error (builtin ops only, Keras 3 model
# with ops.cumprod and ops.erf in a Lambda layer).
CONVERTER_ERROR = """Could not translate MLIR to FlatBuffer.<unknown>:0: error: \
loc(callsite(fused["Cumprod:", "functional_1/lambda_1/Cumprod@__inference___call___70"] \
at fused["StatefulPartitionedCall:", "StatefulPartitionedCall_1"])): 'tf.Cumprod' op is \
neither a custom op nor a flex op
<unknown>:0: note: Error code: ERROR_NEEDS_FLEX_OPS
<unknown>:0: error: loc(callsite(fused["Erf:", "functional_1/lambda_1/Erf@__inference___call___70"] \
at fused["StatefulPartitionedCall:", "StatefulPartitionedCall_1"])): 'tf.Erf' op is neither \
a custom op nor a flex op
<unknown>:0: error: failed while converting: 'main':
Some ops are not supported by the native TFLite runtime, you can enable TF kernels \
fallback using TF Select.
TF Select ops: Cumprod, Erf
Details:
\ttf.Cumprod(tensor<?x8xf32>, tensor<i32>) -> (tensor<?x8xf32>)
"""


def test_needed_tf_ops_parses_converter_error():
    ops, places = needed_tf_ops(CONVERTER_ERROR)
    assert ops == ["Cumprod", "Erf"]
    assert places == ["functional_1/lambda_1/Cumprod", "functional_1/lambda_1/Erf"]


def test_needed_tf_ops_reads_custom_op_lists_and_ignores_other_errors():
    assert needed_tf_ops("Some ops are custom ops\nCustom ops: Svd\n")[0] == ["Svd"]
    assert needed_tf_ops("error: tensor shapes are incompatible") == ([], [])


def _probs(n=10, classes=4, seed=0):
    logits = np.random.default_rng(seed).standard_normal((n, classes))
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def test_float_tolerance_is_relative_to_output_scale():
    ref = np.array([[10.0, -20.0, 30.0]])
    # 30 * 1e-4 = 3e-3 allowed: 2e-3 passes, 4e-3 fails for float formats.
    ok = compare_outputs("tflite", [ref + 2e-3], [ref])
    assert ok["passed"] and ok["max_abs_error"] == pytest.approx(2e-3)
    assert ok["relative_error"] == pytest.approx(2e-3 / 30)
    assert not compare_outputs("onnx", [ref + 4e-3], [ref])["passed"]
    # fp16 allows 1e-2 relative.
    assert compare_outputs("tflite_fp16", [ref + 0.2], [ref])["passed"]
    assert not compare_outputs("tflite_fp16", [ref + 0.4], [ref])["passed"]


def test_small_outputs_use_an_absolute_floor():
    ref = np.full((3, 2), 1e-3) * np.arange(1, 4)[:, None]
    assert compare_outputs("saved_model", [ref + 5e-5], [ref])["passed"]
    assert not compare_outputs("saved_model", [ref + 5e-4], [ref])["passed"]


def test_constant_reference_outputs_never_verify():
    # An untrained network that answers every input alike: a file that
    # returns the same constant would "agree" with it and prove nothing.
    ref = np.tile(np.array([[0.1, 0.7, 0.2]]), (8, 1))
    for fmt in ("saved_model", "tflite", "tflite_int8"):
        check = compare_outputs(fmt, [ref.copy()], [ref])
        assert not check["passed"]
        assert "same outputs for all 8 samples" in check["criterion"]
        assert "representative data" in check["criterion"]
    # One output that varies is enough to judge; a single sample can't be judged
    # for spread and is compared as before.
    varying = ref + np.linspace(0, 0.01, 8)[:, None]
    assert compare_outputs("tflite", [varying.copy(), ref.copy()], [varying, ref])[
        "passed"
    ]
    assert compare_outputs("tflite", [ref[:1].copy()], [ref[:1]])["passed"]


def test_export_refuses_identical_samples_and_names_the_fix(tmp_path):
    with pytest.raises(VerificationError, match="same outputs for all 4 samples"):
        export(
            _features_model(),
            tmp_path / "out",
            formats="keras",
            sample_inputs={"features": np.ones((4, 6), "float32")},
        )
    assert not (tmp_path / "out").exists()


def test_quantized_formats_are_judged_by_class_agreement():
    ref = _probs()
    out = ref.copy()
    top = np.argmax(ref[0])
    out[0, top] = 0.0  # one of ten samples changes class
    check = compare_outputs("tflite_int8", [out], [ref], min_agreement=0.9)
    assert check["class_agreement"] == pytest.approx(0.9)
    assert check["passed"]
    assert not compare_outputs("tflite_int8", [out], [ref], min_agreement=0.95)[
        "passed"
    ]
    # Float formats would reject the same error.
    assert not compare_outputs("tflite", [out], [ref])["passed"]


def test_quantized_outputs_without_class_axis_use_relative_error():
    ref = np.linspace(-2.0, 2.0, 8).reshape(8, 1)
    assert compare_outputs("tflite_dynamic", [ref + 0.1], [ref])["passed"]
    check = compare_outputs("tflite_dynamic", [ref + 0.5], [ref])
    assert check["class_agreement"] is None
    assert not check["passed"]


def test_every_output_must_pass():
    probs, score = _probs(), np.ones((10, 1))
    good = compare_outputs("tflite_int8", [probs, score + 0.05], [probs, score])
    assert good["passed"]
    bad = compare_outputs("tflite_int8", [probs, score + 1.0], [probs, score])
    assert not bad["passed"]
    assert bad["class_agreement"] == 1.0


def test_shape_mismatch_fails():
    check = compare_outputs("keras", [np.zeros((2, 3))], [np.zeros((2, 4))])
    assert not check["passed"]
    assert "[[2, 4]]" in check["criterion"]


def test_validate_formats():
    assert validate_formats("onnx") == ["onnx"]
    assert validate_formats(("tflite", "onnx", "tflite")) == ["tflite", "onnx"]
    with pytest.raises(ValueError, match=r"'savedmodel'.*Did you mean 'saved_model'"):
        validate_formats(["savedmodel"])
    with pytest.raises(ValueError, match=r"Unknown export format 3"):
        validate_formats([3])


def test_unknown_format_in_run_file_and_compare():
    with pytest.raises(ValueError, match=r"'tf_lite'.*accepted: saved_model"):
        run_file("tf_lite", "x", [], [])
    with pytest.raises(ValueError, match=r"'tf_lite'"):
        compare_outputs("tf_lite", [], [])


def _features_model():
    inputs = keras.Input((6,), name="features")
    return keras.Model(inputs, keras.layers.Dense(3)(inputs), name="features_model")


def test_data_as_endless_stream_of_fit_batches(tmp_path):
    x = np.random.default_rng(0).standard_normal((10, 6)).astype("float32")
    y = np.zeros((10,), "int32")
    # An endless (x, y) stream, as model.fit takes it: read up to the cap only.
    manifest = export(
        _features_model(),
        tmp_path / "m",
        formats="keras",
        representative_data=itertools.repeat((x, y)),
    )
    assert manifest["verification_samples"] == {
        "count": 32,
        "source": "representative_data",
    }
    assert manifest["files"]["keras"]["verification"]["samples"] == 32


def test_sample_inputs_as_dict_and_random_default(tmp_path):
    # float64, cast to the model's float32; rows differ (identical samples
    # give identical outputs, which verify nothing and are refused).
    x = np.arange(30, dtype="float64").reshape(5, 6) / 30
    manifest = export(
        _features_model(),
        tmp_path / "a",
        formats="keras",
        sample_inputs={"features": x},
    )
    assert manifest["verification_samples"] == {"count": 5, "source": "sample_inputs"}
    manifest = export(_features_model(), tmp_path / "b", formats="keras")
    assert manifest["verification_samples"] == {"count": 8, "source": "random"}


def test_run_file_in_batches_gives_the_whole_run(tmp_path):
    model = _features_model()
    x = np.random.default_rng(1).standard_normal((10, 6)).astype("float32")
    export(model, tmp_path / "m", formats="keras", sample_inputs=x)
    path = str(tmp_path / "m" / "model.keras")
    (whole,) = run_file("keras", path, [x], ["features"])
    (batched,) = run_file("keras", path, [x], ["features"], batch_size=3)
    assert batched.shape == (10, 3)
    np.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole, keras.ops.convert_to_numpy(model(x)), atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        run_file("keras", path, [x], ["features"], batch_size=0)
