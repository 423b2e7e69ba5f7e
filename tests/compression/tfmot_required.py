"""The TFMOT parity tests need their reference: missing, they fail.

TFMOT (on tf_keras) is the reference implementation kerasdl's compression is
checked against; a CI without it would silently stop checking parity if the
tests skipped. They fail instead, saying what to install, unless
KERASDL_ALLOW_MISSING_REFERENCE=1 says that skipping is intended (e.g. on a
machine that cannot install tf-keras).
"""

import importlib.util
import os

import pytest

REFERENCE_MODULES = ("tf_keras", "tensorflow_model_optimization")
ALLOW_ENV = "KERASDL_ALLOW_MISSING_REFERENCE"


def missing_reference() -> list[str]:
    """The reference modules that are not installed."""
    return [m for m in REFERENCE_MODULES if importlib.util.find_spec(m) is None]


def require_tfmot_reference() -> None:
    """Fails the calling test when TFMOT's reference is not installed.

    Skips instead when the environment sets KERASDL_ALLOW_MISSING_REFERENCE=1.
    """
    missing = missing_reference()
    if not missing:
        return
    message = (
        f"The TFMOT parity reference is not installed (missing: {', '.join(missing)}). "
        "Install the `tfmot` extra: pip install -e '.[tfmot]' (tf-keras and "
        "tensorflow-model-optimization). To skip these tests on purpose, set "
        f"{ALLOW_ENV}=1."
    )
    if os.environ.get(ALLOW_ENV) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)
