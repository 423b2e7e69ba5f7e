"""Model evaluation with a self-contained HTML report.

- `evaluate(model_or_exported_file, data, report_dir=...)`: accuracy,
  per-class precision/recall/F1, confusion matrix, ROC and precision-recall
  curves, calibration (reliability diagram, ECE), the most confidently
  wrong examples with their Grad-CAM, and the size and latency of each
  exported file; `report.json` and `report.html` in `report_dir`.
- `kerasdl.evaluation.metrics`: the metrics alone, from labels and
  probabilities (NumPy).

Example:
>>> report = kerasdl.evaluate(model, (x_test, y_test), report_dir="report")
"""

from kerasdl.evaluation.evaluate import evaluate, load_data

__all__ = ["evaluate", "load_data"]
