"""Export tests: seed every test, reset Keras state without a full gc pass.

The root conftest's `clear_session()` runs `gc.collect()` after every test,
which takes over a second here once TensorFlow graphs, converters and the
module-scoped exported models are alive; the export tests skip that pass.
"""

import keras
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session(free_memory=False)
