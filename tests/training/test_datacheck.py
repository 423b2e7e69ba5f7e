"""Bad training data: NaN/inf, labels out of range, empty data (datacheck.py).

The checks read NumPy arrays and the epoch's loss from the logs, whatever
the backend, so they run on one backend.
"""

import keras
import numpy as np
import pytest

from kerasdl.training import Trainer
from kerasdl.training.datacheck import NonFiniteGuard, find_non_finite

pytestmark = pytest.mark.one_backend

QUIET = {"verbose": 0, "batch_size": 8, "epochs": 1}


def _data(n=32, classes=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype("float32")
    return x, rng.integers(0, classes, n).astype("int32")


def _classifier(classes=3):
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(classes, activation="softmax")]
    )


def _fit_refused(model, match, config=None, **data):
    before = [np.copy(w) for w in model.get_weights()]
    with pytest.raises(ValueError, match=match) as info:
        Trainer({**QUIET, **(config or {})}).fit(model, **data)
    # Refused before a single step: the weights are untouched.
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert "\n" not in str(info.value)  # one line, not a graph trace
    return str(info.value)


@pytest.mark.parametrize("part", ["x", "y", "sample_weight"])
def test_nan_or_inf_in_arrays_is_refused_before_fit(part):
    x, y = _data()
    y = y.astype("float32")  # float targets can hold NaN too
    weights = np.ones(len(x), "float32")
    bad = {"x": x, "y": y, "sample_weight": weights}[part]
    if part == "x":
        bad[5, 2] = np.nan
        where = r"x holds NaN at index \[5, 2\]"
    else:
        bad[7] = np.inf
        where = rf"{part} holds inf at index \[7\]"
    message = _fit_refused(_classifier(), where, x=x, y=y, sample_weight=weights)
    assert "check_data: false" in message


def test_a_multi_input_dict_names_the_input():
    x, y = _data()
    inputs = {"a": keras.Input((4,), name="a"), "b": keras.Input((4,), name="b")}
    merged = keras.layers.Concatenate()([inputs["a"], inputs["b"]])
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(merged))
    b = x.copy()
    b[3, 0] = -np.inf
    _fit_refused(
        model, r"x\['b'\] holds -inf at index \[3, 0\]", x={"a": x, "b": b}, y=y
    )


def test_nan_in_array_validation_data_is_named():
    x, y = _data()
    bad = x.copy()
    bad[1, 1] = np.nan
    message = _fit_refused(
        _classifier(),
        r"Validation data x holds NaN",
        x=x,
        y=y,
        validation_data=(bad, y),
    )
    assert "every loss and metric on it would be NaN" in message


def test_check_data_false_trains_on_nan_as_asked():
    x, y = _data()
    x[0, 0] = np.nan
    model = _classifier()
    history = Trainer({**QUIET, "check_data": False}).fit(model, x, y)
    assert not np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="check_data"):
        Trainer({"check_data": "no"})


def test_find_non_finite_ignores_integers_and_overflowing_sums():
    assert find_non_finite("x", np.arange(5)) is None
    assert find_non_finite("x", np.full(4, 1e308)) is None  # sum is inf, values are not
    assert find_non_finite("y", np.array([0.0, np.inf])).startswith(
        "y holds inf at index [1]"
    )


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x) // 8

    def __getitem__(self, i):
        return self.x[i * 8 : (i + 1) * 8], self.y[i * 8 : (i + 1) * 8]


def test_nan_in_a_pydataset_stops_the_first_epoch_naming_the_batch():
    x, y = _data()
    x[19, 1] = np.nan  # batch 2, row 3
    model = _classifier()
    with pytest.raises(ValueError, match=r"x of batch 2 holds NaN at index \[3, 1\]"):
        Trainer(QUIET).fit(model, _Batches(x, y))


def test_nan_in_a_tf_data_pipeline_names_the_part_and_batch():
    tf = pytest.importorskip("tensorflow")
    x, y = _data()
    y = keras.utils.to_categorical(y, 3)
    y[9, 0] = np.nan  # batch 1, row 1
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model = _classifier()
    model.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y of batch 1 holds NaN at index \[1, 0\]"):
        Trainer(QUIET).fit(model, dataset)


def test_labels_out_of_range_or_of_the_wrong_kind_are_one_line_errors():
    x, y = _data()
    y[4] = 3
    message = _fit_refused(_classifier(), r"class 3 at index 4", x=x, y=y)
    assert "3 output classes (0..2)" in message
    _fit_refused(
        _classifier(),
        r"must be integer class ids .* y\[2\] is 0.5",
        x=x,
        y=np.where(np.arange(32) == 2, 0.5, 1.0),
    )
    _fit_refused(_classifier(), "dtype <U1", x=x, y=np.array(list("abcd") * 8))
    wrong_width = keras.utils.to_categorical(_data()[1], 4)
    model = _classifier()
    model.compile("adam", "categorical_crossentropy")
    _fit_refused(model, r"one-hot rows of 3 values", x=x, y=wrong_width)


def test_empty_data_is_an_error():
    x, y = _data()
    _fit_refused(_classifier(), r"x holds no samples", x=x[:0], y=y[:0])
    _fit_refused(_classifier(), r"x holds no batches", x=_Batches(x[:4], y[:4]))


def test_the_guard_reads_a_clean_pipeline_once_and_refuses_generators(caplog):
    x, y = _data()
    reads = []

    class Counted(_Batches):
        def __getitem__(self, i):
            reads.append(i)
            return super().__getitem__(i)

    guard = NonFiniteGuard(Counted(x, y))
    guard.set_params({"steps": 2, "epochs": 3})
    guard.on_epoch_end(0, {"loss": 0.5})
    assert reads == []  # a finite loss reads nothing
    guard.on_epoch_end(1, {"loss": float("nan")})
    assert reads == [0, 1, 2, 3]  # the batches trained on so far (2 per epoch)
    assert "diverged" in caplog.text
    guard.on_epoch_end(2, {"loss": float("nan")})
    assert reads == [0, 1, 2, 3]  # not read again every epoch
    generator = NonFiniteGuard(iter([(x, y)]))
    with pytest.raises(ValueError, match="cannot be read again"):
        generator.on_epoch_end(0, {"loss": float("inf")})
