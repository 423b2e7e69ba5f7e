"""The command line: list, info, build (with overrides and spec output).

The launcher (kerasdl_cli) answers --help and list without importing Keras;
list reads kerasdl/model_index.json, which must equal the live registry.
"""

import json
import pathlib
import subprocess
import sys

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
    # The short named form by default; --expand writes the whole graph.
    assert spec == {"model": "lenet5", "num_classes": 4}
    model = kerasdl.build(str(out_file))
    assert model.output.shape[-1] == 4
    expanded = tmp_path / "lenet_full.yaml"
    assert main(["build", str(out_file), "--output", str(expanded), "--expand"]) == 0
    full = yaml.safe_load(expanded.read_text())
    assert "nodes" in full and kerasdl.to_spec(model) == full
    assert kerasdl.to_spec(kerasdl.build(str(expanded))) == full


def test_build_reports_bad_names_without_a_traceback(capsys):
    assert main(["build", "lenet6"]) == 2
    err = capsys.readouterr().err
    assert "Unknown architecture 'lenet6'" in err and "lenet5" in err


ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_model_index_file_equals_the_live_registry():
    from kerasdl.registry import model_index

    stored = json.loads((ROOT / "kerasdl" / "model_index.json").read_text())
    assert stored == model_index(), (
        "kerasdl/model_index.json is stale: run python scripts/make_model_index.py"
    )


def test_unknown_family_is_named_with_the_known_ones(capsys):
    assert main(["list", "--family", "resnett"]) == 2
    err = capsys.readouterr().err
    assert "unknown family 'resnett'" in err and "Did you mean 'resnet'" in err
    assert "classic_cnn" in err and "vit" in err
    assert main(["list", "--family", "vit", "vit_t*"]) == 0
    assert capsys.readouterr().out.split()[0] == "vit_tiny"


_LIGHT = """
import sys
import kerasdl_cli

for argv in (["list"], ["list", "res*", "--family", "resnet"], ["--help"]):
    try:
        code = kerasdl_cli.main(argv)
    except SystemExit as exit:  # argparse's --help
        code = exit.code
    assert code == 0, (argv, code)
heavy = ("keras", "tensorflow", "jax", "torch", "kerasdl.models")
print("IMPORTED", [name for name in heavy if name in sys.modules])
"""


def test_help_and_list_import_neither_keras_nor_tensorflow():
    out = subprocess.run(
        [sys.executable, "-c", _LIGHT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "resnet50" in out and "usage: kerasdl" in out
    assert out.splitlines()[-1] == "IMPORTED []"


def test_python_dash_m_kerasdl_still_runs_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "kerasdl", "list", "vgg1*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["vgg11", "vgg13", "vgg16", "vgg19"]


def test_commands_that_import_tensorflow_print_no_start_up_lines(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    result = subprocess.run(
        [sys.executable, "-c", "import sys, kerasdl_cli; sys.exit(kerasdl_cli.main())"]
        + ["build", "mlp", "--set", "input_shape=[4]", "--set", "num_classes=2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mlp:" in result.stdout and "parameters" in result.stdout
    for noise in ("absl::InitializeLog", "oneDNN", "cuda", "cpu_feature_guard"):
        assert noise not in result.stderr, result.stderr
