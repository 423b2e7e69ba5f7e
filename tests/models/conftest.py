"""Full-size architecture checks run once, in the TensorFlow pass.

Parameter counts, layer names and keras.applications comparisons build
full-size models (up to 143M parameters); the arithmetic is the same on every
backend, so the JAX and PyTorch passes skip them. The registry sweep still
runs every model on all three backends.
"""

import re

import keras
import pytest

_FULL_SIZE = re.compile(
    r"count|params|keras_applications|torchvision|paper|table_1|by_hand|formula"
)


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason="full-size check: runs in the TensorFlow pass")
    for item in items:
        if "tests/models/" in item.nodeid and _FULL_SIZE.search(item.name):
            item.add_marker(skip)
