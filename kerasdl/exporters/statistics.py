"""Reference statistics of a model's inputs and outputs, for drift monitoring.

Export runs the model on data it already has (the representative or
verification samples) and records, in the manifest's "reference" entry,
what typical traffic looks like: per feature (rank-2 inputs with few
columns) or per channel (images, sequences: the last axis, pooled over the
others), the moments, the quantiles and a decile histogram; per output, the
distribution of predicted classes and of the top score. A server compares a
window of live traffic with it (`kerasdl.serve.drift`).

`feature_values` is the one reduction of a batch to (values, features) that
both sides use, so the reference and the live window are binned alike.

Example:
>>> reference = reference_statistics([x[:300]], [probs], ["image"], ["probs"])
>>> reference["inputs"][0]["mode"]
'channel'
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_FEATURES",
    "QUANTILES",
    "feature_values",
    "histogram",
    "prediction_summary",
    "reference_statistics",
]

# Inputs with more columns (or channels) than this are pooled into one
# feature: a drift test per pixel of a flattened image would be noise.
MAX_FEATURES = 64
# Quantiles stored per feature (0%, 1%, ..., 100%): KS against the
# reference CDF is computed from them.
QUANTILES = np.linspace(0.0, 100.0, 101)
# Values kept per feature and sample when pooling (images have thousands).
MAX_VALUES_PER_SAMPLE = 64


def _mode(shape) -> str:
    """The reduction of a sample shape: "feature", "channel" or "pooled"."""
    if len(shape) == 1 and shape[0] <= MAX_FEATURES:
        return "feature"
    if len(shape) >= 2 and shape[-1] <= MAX_FEATURES:
        return "channel"
    return "pooled"


def feature_values(batch: np.ndarray, seed: int = 0) -> tuple[str, np.ndarray]:
    """A batch reduced to (values, features) for per-feature statistics.

    Args:
        batch: np.ndarray. Shape (N, ...), one input of the model.
        seed: int. Seed of the subsample taken when values are pooled.

    Returns:
        (mode, values): mode is "feature" (one column per input feature),
        "channel" (one column per channel of the last axis, values of the
        other axes pooled, at most 64 per sample) or "pooled" (one column);
        values is a float64 array of shape (M, features).
    """
    batch = np.asarray(batch, dtype=np.float64)
    mode = _mode(batch.shape[1:])
    if mode == "feature":
        return mode, batch.reshape(len(batch), -1)
    columns = batch.shape[-1] if mode == "channel" else 1
    per_sample = batch.reshape(len(batch), -1, columns)
    if per_sample.shape[1] > MAX_VALUES_PER_SAMPLE:
        rng = np.random.default_rng(seed)
        keep = rng.choice(per_sample.shape[1], MAX_VALUES_PER_SAMPLE, replace=False)
        per_sample = per_sample[:, np.sort(keep)]
    return mode, per_sample.reshape(-1, columns)


def histogram(values: np.ndarray, edges) -> list[float]:
    """Fractions of `values` in the bins cut at the inner `edges`.

    Bin i holds edges[i-1] < v <= edges[i]; the first and last bins are
    open-ended, so live values outside the reference range still count.
    """
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), values, side="left"),
        minlength=len(edges) + 1,
    )
    return (counts / max(1, len(values))).tolist()


def _feature_entry(column: np.ndarray) -> dict:
    quantiles = np.percentile(column, QUANTILES)
    # Decile edges; ties (many zero pixels) merge bins instead of emptying them.
    edges = np.unique(quantiles[10:100:10])
    return {
        "mean": float(np.mean(column)),
        "std": float(np.std(column)),
        "min": float(quantiles[0]),
        "max": float(quantiles[-1]),
        "quantiles": quantiles.tolist(),
        "edges": edges.tolist(),
        "fractions": histogram(column, edges),
    }


def prediction_summary(values) -> tuple[np.ndarray | None, np.ndarray]:
    """(predicted classes or None, score) per sample of one model output.

    A (N, classes) output gives its argmax and top score; any other output
    (regression, sequences) no classes and its first value per sample.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] > 1:
        return np.argmax(values, axis=1), np.max(values, axis=1)
    return None, values.reshape(len(values), -1)[:, 0]


def _output_entry(name: str, values: np.ndarray) -> dict:
    entry = {"name": name}
    classes, top = prediction_summary(values)
    if classes is not None:
        count = np.shape(values)[1]
        entry["class_fractions"] = (
            np.bincount(classes, minlength=count) / len(classes)
        ).tolist()
    entry["score"] = _feature_entry(top)
    return entry


def reference_statistics(
    inputs, outputs, input_names, output_names, source: str = "samples"
) -> dict:
    """The manifest's "reference" entry: what typical traffic looks like.

    Args:
        inputs: list of np.ndarray. One batch per model input, (N, ...).
        outputs: list of np.ndarray. The model's outputs on them.
        input_names: list of str. Names of the inputs.
        output_names: list of str. Names of the outputs.
        source: str. Where the samples came from (recorded).

    Returns:
        dict: {"samples", "source", "inputs": [{"name", "mode", "features":
        [{"mean", "std", "min", "max", "quantiles", "edges", "fractions"}]}],
        "outputs": [{"name", "class_fractions" (classifiers), "score"}]}.

    Example:
    >>> reference_statistics([x], [model.predict(x)], ["x"], ["probs"])
    """
    entries = []
    for name, batch in zip(input_names, inputs, strict=True):
        mode, values = feature_values(batch)
        entries.append(
            {
                "name": name,
                "mode": mode,
                "features": [
                    _feature_entry(values[:, j]) for j in range(values.shape[1])
                ],
            }
        )
    return {
        "samples": len(inputs[0]),
        "source": source,
        "inputs": entries,
        "outputs": [
            _output_entry(name, values)
            for name, values in zip(output_names, outputs, strict=True)
        ],
    }
