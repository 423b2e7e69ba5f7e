"""kerasdl.search.tune and `kerasdl search`: keras-tuner over run configs."""

import csv
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import yaml

from kerasdl.search.tune import tune

# Tiny trials: sklearn's 8x8 digits, an MLP, one epoch.
CONFIG = {
    "name": "tiny",
    "data": {"name": "digits", "test_fraction": 0.2, "seed": 0},
    "model": {
        "model": "mlp",
        "hidden_units": {"choice": [[4], [16]]},
        "dropout": {"range": [0.0, 0.2]},
    },
    "training": {
        "seed": 0,
        "epochs": 1,
        "batch_size": 128,
        "validation_split": 0.2,
        "optimizer": {
            "name": {"choice": ["adam", "sgd"]},
            "learning_rate": {"range": [1.0e-3, 3.0e-2], "log": True},
            "momentum": {
                "range": [0.0, 0.9],
                "when": {"training.optimizer.name": "sgd"},
            },
        },
        "callbacks": {"plot": False, "checkpoint": False},
    },
}


def test_random_search_runs_trials_in_their_own_run_dirs_and_resumes(tmp_path):
    result = tune(CONFIG, "random", max_trials=2, directory=tmp_path, seed=1)
    assert len(result.rows) == 2
    scores = [row["val_accuracy"] for row in result.rows]
    assert scores == sorted(scores, reverse=True)  # best first
    assert result.best_score == scores[0]
    best = result.rows[0]
    assert result.best_config["model"]["hidden_units"] == best["model.hidden_units"]
    assert (
        result.best_config["training"]["optimizer"]["name"]
        == best["training.optimizer.name"]
    )
    for row in result.rows:
        # The table's parameter count is the trained model's.
        assert (
            row["parameters"]
            == 64 * row["model.hidden_units"][0]
            + (row["model.hidden_units"][0] + 1) * 10
            + row["model.hidden_units"][0]
        )
        assert (row["training.optimizer.momentum"] is None) == (
            row["training.optimizer.name"] == "adam"
        )
        run_dir = tmp_path / "tiny" / "trials" / f"trial_{row['trial']}"
        history = json.loads((run_dir / "history.json").read_text())
        assert max(history["history"]["val_accuracy"]) == pytest.approx(
            row["val_accuracy"]
        )
    with open(result.files["csv"], newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["trial"] for r in table] == [r["trial"] for r in result.rows]
    assert {"model.hidden_units", "val_accuracy", "parameters", "seconds"} <= set(
        table[0]
    )
    with open(result.files["json"]) as f:
        assert json.load(f)["trials"] == result.rows
    assert os.path.getsize(result.files["png"]) > 5000
    assert result.total_epochs == 2

    # The same call with more trials resumes: the two finished trials are kept.
    again = tune(CONFIG, "random", max_trials=3, directory=tmp_path, seed=1)
    assert len(again.rows) == 3
    old = {r["trial"]: r["val_accuracy"] for r in result.rows}
    assert {
        r["trial"]: r["val_accuracy"] for r in again.rows if r["trial"] in old
    } == old


@pytest.mark.one_backend
def test_hyperband_sets_each_trials_epochs_and_refuses_searched_epochs(tmp_path):
    config = json.loads(json.dumps(CONFIG))
    config["training"]["epochs"] = 3
    result = tune(config, "hyperband", directory=tmp_path, factor=3)
    budgets = [row["tuner/epochs"] for row in result.rows]
    assert [row["epochs"] for row in result.rows] == budgets
    assert set(budgets) <= {1, 3} and 3 in budgets
    assert result.total_epochs == sum(budgets)
    config["training"]["epochs"] = {"int": [1, 3]}
    with pytest.raises(ValueError, match="training.epochs=.*a fixed number"):
        tune(config, "hyperband", directory=tmp_path)
    with pytest.raises(ValueError, match="algorithm='grid'"):
        tune(CONFIG, "grid", directory=tmp_path)


@pytest.mark.one_backend
def test_cli_search_prints_trials_and_writes_results(tmp_path, capsys):
    from kerasdl_cli import main

    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    code = main(
        ["search", str(path), "--algorithm", "bayesian", "--max-trials", "2",
         "--directory", str(tmp_path / "runs")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("trial ") == 2
    assert "best val_accuracy:" in out
    assert (tmp_path / "runs" / "tiny" / "results.csv").is_file()
    assert main(["search", str(path), "--max-trials", "0"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.one_backend
def test_distributed_chief_and_two_workers_share_one_oracle(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    port = str(_free_port())
    command = [
        sys.executable, "-c", "import sys, kerasdl_cli; sys.exit(kerasdl_cli.main())",
        "search", str(path), "--max-trials", "3", "--directory", str(tmp_path / "runs"),
    ]  # fmt: skip
    env = dict(
        os.environ,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=port,
        KERAS_BACKEND="tensorflow",
        CUDA_VISIBLE_DEVICES="",
    )
    start = time.perf_counter()
    chief = subprocess.Popen(
        command, env={**env, "KERASTUNER_TUNER_ID": "chief"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            command,
            env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=180)[0] for p in [*workers, chief]]
    finally:
        for p in [*workers, chief]:
            if p.poll() is None:
                p.kill()
    for p, out in zip([*workers, chief], outputs):
        assert p.returncode == 0, out[-3000:]
    assert all("worker done" in out for out in outputs[:2])
    # Each worker ran trials, and the chief's table has all three.
    ran = [out.count("trial ") for out in outputs[:2]]
    assert all(n >= 1 for n in ran), outputs
    results = json.loads((tmp_path / "runs" / "tiny" / "results.json").read_text())
    assert len(results["trials"]) == 3
    trial_dirs = os.listdir(tmp_path / "runs" / "tiny" / "trials")
    assert len(trial_dirs) == 3
    print(f"distributed search: {time.perf_counter() - start:.1f} s")
