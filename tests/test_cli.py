"""The command line: list, info, build (with overrides and spec output)."""

import yaml

import kerasdl
from kerasdl.cli import main


def test_list_filters_by_pattern(capsys):
    assert main(["list", "vgg1*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["vgg11", "vgg13", "vgg16", "vgg19"]


def test_info_prints_hyperparameters(capsys):
    assert main(["info", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "num_classes" in out and "hidden_units" in out


def test_build_with_overrides_writes_a_rebuildable_spec(tmp_path, capsys):
    out_file = tmp_path / "lenet.yaml"
    code = main(
        ["build", "lenet5", "--set", "num_classes=4", "--output", str(out_file)]
    )
    assert code == 0
    assert "parameters" in capsys.readouterr().out
    spec = yaml.safe_load(out_file.read_text())
    model = kerasdl.build(str(out_file))
    assert model.output.shape[-1] == 4
    assert kerasdl.to_spec(model) == spec


def test_build_reports_bad_names_without_a_traceback(capsys):
    assert main(["build", "lenet6"]) == 2
    err = capsys.readouterr().err
    assert "Unknown architecture 'lenet6'" in err and "lenet5" in err
