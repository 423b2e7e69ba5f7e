"""A missing TFMOT reference fails the parity tests unless skipping is asked for."""

import pytest
import tfmot_required


def test_missing_reference_fails_and_names_the_extra(monkeypatch):
    monkeypatch.setattr(tfmot_required, "REFERENCE_MODULES", ("no_such_module_xyz",))
    monkeypatch.delenv(tfmot_required.ALLOW_ENV, raising=False)
    with pytest.raises(
        pytest.fail.Exception, match=r"no_such_module_xyz.*`tfmot` extra"
    ):
        tfmot_required.require_tfmot_reference()


def test_missing_reference_skips_only_when_allowed(monkeypatch):
    monkeypatch.setattr(tfmot_required, "REFERENCE_MODULES", ("no_such_module_xyz",))
    monkeypatch.setenv(tfmot_required.ALLOW_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match="no_such_module_xyz"):
        tfmot_required.require_tfmot_reference()


def test_installed_reference_passes(monkeypatch):
    monkeypatch.setattr(tfmot_required, "REFERENCE_MODULES", ("pytest",))
    tfmot_required.require_tfmot_reference()
