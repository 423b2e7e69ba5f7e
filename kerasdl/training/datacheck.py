"""Checks of training data: non-finite values, empty data, labels.

One NaN in the inputs, targets or sample weights turns every weight into
NaN after a single step, and `fit` still returns normally. The Trainer
therefore checks array data before `fit` (one vectorised NumPy pass per
array), and guards pipelines (tf.data, `keras.utils.PyDataset`,
generators), whose data cannot be read twice for free, with
`NonFiniteGuard`: it reads the epoch's loss, which Keras has already
brought to the host at the end of the epoch (no extra device sync per
batch), and only when that loss is NaN or inf does it read the pipeline
again to name the first bad value. The config key `check_data: false`
turns both off.

Labels that cannot be right for the model's loss (a class id outside the
output's classes, strings, one-hot rows of the wrong width) are reported in
one line before `fit`, instead of as a long trace from inside the first
step.

Example:
>>> check_finite({"x": x, "y": y})
Traceback (most recent call last):
ValueError: Training data x holds NaN at index [17, 3] ...
"""

from __future__ import annotations

import logging
import math

import keras
import numpy as np

__all__ = [
    "NonFiniteGuard",
    "check_finite",
    "check_labels",
    "check_not_empty",
    "find_non_finite",
    "scan_pipeline",
]

logger = logging.getLogger(__name__)

# Names of the parts of a (x, y, sample_weight) training element.
PARTS = ("x", "y", "sample_weight")
# At most this many batches of a pipeline are read again to find the first
# non-finite value (a repeated dataset never ends).
MAX_SCAN_BATCHES = 100_000
_HOW_TO_OPT_OUT = "set check_data: false in the training config to train anyway"


def _path_name(name: str, path: tuple) -> str:
    return name + "".join(f"[{p!r}]" for p in path)


def _as_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if keras.ops.is_tensor(value) or hasattr(value, "numpy"):
        return np.asarray(keras.ops.convert_to_numpy(value))
    return np.asarray(value)


def find_non_finite(name: str, data, within: str = "") -> str | None:
    """Describes the first NaN/inf in a nest of arrays, or returns None.

    Only floating-point (and complex) arrays are read; a clean array costs
    one vectorised sum (a non-finite value makes the sum non-finite; a sum
    that overflows is looked at element by element).

    Args:
        name: str. What the data are ("x", "y", "sample_weight").
        data: array, tensor, or a list/dict nest of them.
        within: str. Said after the input's name (e.g. " of batch 3").

    Returns:
        str or None: e.g. "x['image'] holds NaN at index [17, 3]".

    Example:
    >>> find_non_finite("y", np.array([0.0, np.inf]))
    'y holds inf at index [1]'
    """
    if data is None:
        return None
    for path, leaf in keras.tree.flatten_with_path(data):
        array = _as_numpy(leaf)
        if array.dtype.kind not in "fc" or array.size == 0:
            continue
        wide = np.complex128 if array.dtype.kind == "c" else np.float64
        with np.errstate(all="ignore"):
            if math.isfinite(abs(np.sum(array, dtype=wide))):
                continue
        bad = ~np.isfinite(array)
        if not bad.any():  # the sum overflowed; every value is finite
            continue
        index = np.unravel_index(int(np.argmax(bad)), array.shape)
        value = array[index]
        what = "NaN" if np.isnan(value) else ("inf" if np.real(value) > 0 else "-inf")
        count = int(bad.sum())
        return (
            f"{_path_name(name, path)}{within} holds {what} at index "
            f"{[int(i) for i in index]} ({count} non-finite value"
            f"{'s' if count != 1 else ''} of {array.size})"
        )
    return None


def check_finite(parts: dict, where: str = "Training data") -> None:
    """Raises a ValueError naming the first NaN/inf in any of `parts`.

    Args:
        parts: dict {name: array nest or None}, e.g. {"x": x, "y": y,
            "sample_weight": w}.
        where: str. What the data are, for the message.

    Raises:
        ValueError: naming the part, the input (key or position) and the
            first bad index.
    """
    for name, data in parts.items():
        found = find_non_finite(name, data)
        if found:
            harm = (
                "training on it would make every weight NaN"
                if where == "Training data"
                else "every loss and metric on it would be NaN"
            )
            raise ValueError(
                f"{where} {found}: {harm}. Clean or impute the data, or "
                f"{_HOW_TO_OPT_OUT}."
            )


def _num_samples(data) -> int | None:
    leaves = keras.tree.flatten(data)
    if not leaves:
        return None
    shape = tuple(getattr(leaves[0], "shape", None) or np.shape(leaves[0]))
    return int(shape[0]) if shape and shape[0] is not None else None


def check_not_empty(x, arrays: bool) -> None:
    """Raises a ValueError when the training data hold no samples.

    Args:
        x: the training inputs: arrays, a tf.data.Dataset or a PyDataset
            (generators cannot be counted without reading them).
        arrays: bool. Whether `x` is arrays.

    Raises:
        ValueError: for arrays with 0 samples, an empty PyDataset or a
            tf.data.Dataset whose cardinality is 0.
    """
    if x is None:
        raise ValueError(
            "Training data x is None: give arrays, a tf.data.Dataset, a "
            "keras.utils.PyDataset or a generator of (x, y) batches."
        )
    count = None
    if arrays:
        count = _num_samples(x)
        kind = "samples"
    elif isinstance(x, keras.utils.PyDataset):
        count = x.num_batches
        kind = "batches"
    elif hasattr(x, "cardinality") and hasattr(x, "element_spec"):  # tf.data
        count = int(x.cardinality())
        kind = "batches"
    if count == 0:
        raise ValueError(
            f"Training data x holds no {kind} ({type(x).__name__}): there is "
            "nothing to train on."
        )


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None)
    return name if isinstance(name, str) else ""


def check_labels(model, y, where: str = "y") -> None:
    """Raises a one-line ValueError for labels the model's loss cannot use.

    Checked for a single-output model compiled with a sparse categorical
    loss (integer class ids in [0, classes), or its `ignore_class`), a
    categorical loss (one-hot rows as wide as the output) or a binary
    cross-entropy (values in [0, 1]). Other losses and multi-output
    models are left alone.

    Args:
        model: keras.Model. Compiled.
        y: array or tensor (or None: nothing to check).
        where: str. The labels' name in the message ("y", or "y of the
            first batch").

    Raises:
        ValueError: naming the label, its index, the accepted range and the
            loss.
    """
    if y is None or len(keras.tree.flatten(model.outputs)) != 1:
        return
    leaves = keras.tree.flatten(y)
    if len(leaves) != 1:
        return
    loss = model.loss
    name = _loss_name(loss).lower()
    if "categorical" not in name and not name.startswith("binary"):
        return  # a loss whose labels are not classes: nothing to check here
    units = model.outputs[0].shape[-1]
    labels = _as_numpy(leaves[0])
    if labels.size == 0:
        return
    if labels.dtype.kind not in "biuf":
        raise ValueError(
            f"Labels {where} have dtype {labels.dtype} (e.g. {labels.flat[0]!r}); "
            f"loss {name or type(loss).__name__!r} needs numbers: map class "
            "names to integer ids 0..N-1 first."
        )
    if "sparse_categorical" in name and units:
        ignore = None
        if hasattr(loss, "get_config"):
            ignore = loss.get_config().get("ignore_class")
        flat = labels.reshape(-1)
        if labels.dtype.kind == "f":
            whole = np.isfinite(flat) & (flat == np.floor(flat))
            if not whole.all():
                i = int(np.argmin(whole))
                raise ValueError(
                    f"Labels {where} must be integer class ids for loss {name!r}; "
                    f"{where}[{i}] is {flat[i].item()!r}."
                )
        bad = (flat < 0) | (flat >= units)
        if ignore is not None:
            bad &= flat != ignore
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"Labels {where} hold class {flat[i].item()!r} at index {i}, "
                f"outside the model's {units} output classes (0..{units - 1}) "
                f"for loss {name!r}: fix the labels, or give the model "
                f"{int(np.max(flat)) + 1} output classes."
            )
    elif name.startswith("categorical") and units and labels.ndim >= 1:
        if labels.shape[-1] != units:
            raise ValueError(
                f"Labels {where} have shape {labels.shape}: loss {name!r} needs "
                f"one-hot rows of {units} values (the model's output classes); "
                "integer class ids need sparse_categorical_crossentropy."
            )
    elif name.startswith("binary") and labels.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = (labels < 0) | (labels > 1)
        if bad.any():
            index = np.unravel_index(int(np.argmax(bad)), labels.shape)
            raise ValueError(
                f"Labels {where} hold {labels[index].item()!r} at index "
                f"{[int(i) for i in index]}; loss {name!r} needs values in [0, 1]."
            )


def _split_element(element) -> dict:
    """{"x": ..., "y": ..., "sample_weight": ...} of one pipeline element."""
    if isinstance(element, (tuple, list)) and 1 <= len(element) <= 3:
        return dict(zip(PARTS, element, strict=False))
    return {"x": element}


def _batches(data, max_batches: int):
    """Yields the batches of a tf.data.Dataset or PyDataset, or None."""
    if isinstance(data, keras.utils.PyDataset):
        count = data.num_batches
        count = max_batches if count is None else min(count, max_batches)
        for i in range(count):
            yield data[i]
        return
    if hasattr(data, "take") and hasattr(data, "element_spec"):  # tf.data
        yield from data.take(max_batches).as_numpy_iterator()
        return
    raise TypeError(type(data).__name__)


def scan_pipeline(data, max_batches: int = MAX_SCAN_BATCHES) -> str | None:
    """Reads a pipeline again; describes its first non-finite value, or None.

    Args:
        data: tf.data.Dataset or keras.utils.PyDataset yielding x, (x, y)
            or (x, y, sample_weight) batches.
        max_batches: int. At most this many batches are read.

    Returns:
        str or None: e.g. "y of batch 3 holds NaN at index [5]".

    Raises:
        TypeError: for data that cannot be read again (a generator).
    """
    for number, element in enumerate(_batches(data, max_batches)):
        for name, part in _split_element(element).items():
            found = find_non_finite(name, part, within=f" of batch {number}")
            if found:
                return found
    return None


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training on a pipeline that feeds NaN or inf, naming where.

    At the end of every epoch it reads the epoch's loss from the logs
    (already on the host: no sync per batch). A NaN/inf loss makes it read
    the training pipeline again (a tf.data.Dataset or PyDataset, the
    batches trained on so far, at most `max_batches`) and raise a ValueError naming the first
    non-finite value (x/y/sample_weight, the input, the batch and the
    index). When the data are finite the loss diverged: it logs a warning
    and leaves the decision to `callbacks.terminate_on_nan`.

    Put it before the callbacks that save state (checkpoint, backup), so
    that an epoch of NaN weights is never saved.

    Args:
        data: the training pipeline (tf.data.Dataset, PyDataset, or a
            generator, which cannot be read again: the error then says so).
        max_batches: int. Most batches read again to locate the value.

    Example:
    >>> model.fit(dataset, epochs=3, callbacks=[NonFiniteGuard(dataset)])
    """

    def __init__(self, data, max_batches: int = MAX_SCAN_BATCHES):
        super().__init__()
        self.data = data
        self.max_batches = max_batches
        self.diverged = False

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        try:
            value = float(np.asarray(loss).reshape(-1)[0])
        except (TypeError, ValueError):
            return
        if math.isfinite(value) or self.diverged:
            return
        # Only the batches trained on so far (a repeated dataset never ends).
        steps = (self.params or {}).get("steps")
        limit = (
            self.max_batches
            if not steps
            else min(self.max_batches, steps * (epoch + 1))
        )
        try:
            found = scan_pipeline(self.data, limit)
        except TypeError:
            raise ValueError(
                f"The training loss of epoch {epoch} is {value}, and the data "
                f"({type(self.data).__name__}) cannot be read again to look for "
                "NaN/inf values; check the data (or use a tf.data.Dataset or "
                f"PyDataset), lower the learning rate, or {_HOW_TO_OPT_OUT}."
            ) from None
        if found:
            raise ValueError(
                f"Training data {found}: the loss of epoch {epoch} is {value}. "
                f"Clean or impute the data, or {_HOW_TO_OPT_OUT}."
            )
        self.diverged = True  # the data were read once: not again every epoch
        logger.warning(
            "The training loss of epoch %d is %s although the data are finite: "
            "the training diverged (try a lower learning rate or clipnorm).",
            epoch,
            value,
        )
