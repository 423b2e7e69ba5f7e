"""The evaluation report's figures, as PNG bytes ready to embed in HTML."""

from __future__ import annotations

import io

import numpy as np

from kerasdl.viz._figure import new_figure

__all__ = [
    "confusion_figure",
    "curves_figure",
    "png_bytes",
    "reliability_figure",
]


def png_bytes(figure, dpi: int = 90) -> bytes:
    """The figure as a PNG file's bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def confusion_figure(matrix, labels):
    matrix = np.asarray(matrix)
    side = max(3.0, 0.45 * len(labels) + 1.5)
    figure = new_figure((side + 0.8, side), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=90)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, col), value in np.ndenumerate(matrix):
            color = "white" if value > threshold else "black"
            ax.text(
                col, row, str(value), ha="center", va="center", color=color, fontsize=8
            )
    figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("confusion matrix")
    return figure


def curves_figure(per_class, labels):
    """ROC (left) and precision-recall (right) curves, one line per class."""
    figure = new_figure((10, 4.2), layout="constrained")
    roc, pr = figure.subplots(1, 2)
    for label, entry in zip(labels, per_class):
        if entry["roc_auc"] is not None:
            roc.plot(
                entry["fpr"], entry["tpr"], label=f"{label} ({entry['roc_auc']:.3f})"
            )
        if entry["average_precision"] is not None:
            pr.plot(
                entry["recall"],
                entry["precision"],
                label=f"{label} ({entry['average_precision']:.3f})",
            )
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC (one vs rest, AUC)",
    )
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall (AP)")
    if len(labels) <= 12:
        roc.legend(fontsize=7, loc="lower right")
        pr.legend(fontsize=7, loc="lower left")
    return figure


def reliability_figure(calibration):
    figure = new_figure((4.5, 4.2), layout="constrained")
    ax = figure.add_subplot()
    bins = calibration["bins"]
    centres = [(b["lower"] + b["upper"]) / 2 for b in bins]
    width = bins[0]["upper"] - bins[0]["lower"]
    accuracy = [b["accuracy"] or 0.0 for b in bins]
    ax.bar(centres, accuracy, width=width * 0.95, color="tab:blue", label="accuracy")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence",
        ylabel="accuracy",
        title=f"reliability (ECE {calibration['ece']:.3f})",
    )
    ax.legend(fontsize=7, loc="upper left")
    return figure
