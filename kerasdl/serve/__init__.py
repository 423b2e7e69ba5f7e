"""A REST model server over exported folders: `kerasdl serve`, `create_app`.

Serves what `kerasdl.exporters.export` writes (manifest.json plus LiteRT,
ONNX or .keras files) with versions and hot swap, A/B splits, dynamic
batching, input validation, Prometheus metrics and drift monitoring
against the manifest's reference statistics.

Example:
>>> from kerasdl.serve import create_app, run
>>> app = create_app(["savedmodels/lenet5"], max_batch=16)
>>> run(app, host="127.0.0.1", port=8000)  # or: kerasdl serve savedmodels/lenet5
"""

from kerasdl.serve.app import create_app
from kerasdl.serve.drift import DriftMonitor, ks_statistic, psi
from kerasdl.serve.server import BackgroundServer, run

__all__ = [
    "BackgroundServer",
    "DriftMonitor",
    "create_app",
    "ks_statistic",
    "psi",
    "run",
]
