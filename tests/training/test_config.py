"""Tests of the training config (kerasdl/training/config.py)."""

import os

import pytest
import yaml

from kerasdl.training.config import (
    CallbacksConfig,
    DistributionConfig,
    TrainingConfig,
    load_config,
    save_config,
    split_optimizer_config,
)

YAML_CONFIG = """
seed: 3
epochs: 7
batch_size: 16
optimizer:
  name: sgd
  momentum: 0.9
  learning_rate: {name: cosine, learning_rate: 0.1, decay_steps: 100}
precision: mixed_bfloat16
callbacks:
  early_stopping: {patience: 2}
  checkpoint: true
run_dir: runs/x
"""


def test_defaults_are_valid_and_plain():
    config = TrainingConfig()
    data = config.to_dict()
    assert data["epochs"] == 10 and data["batch_size"] == 32
    assert data["optimizer"] == {"name": "adam"}
    assert data["callbacks"]["terminate_on_nan"] is True
    assert data["callbacks"]["early_stopping"] is None
    assert data["distribution"]["strategy"] == "none"
    assert yaml.safe_load(config.to_yaml()) == data


def test_yaml_string_file_and_dict_give_the_same_config(tmp_path):
    from_text = load_config(YAML_CONFIG)
    path = tmp_path / "train.yaml"
    path.write_text(YAML_CONFIG)
    from_file = load_config(str(path))
    from_pathlike = load_config(path)
    from_dict = load_config(yaml.safe_load(YAML_CONFIG))
    assert from_text == from_file == from_pathlike == from_dict
    assert from_text.epochs == 7
    assert from_text.optimizer["momentum"] == 0.9
    # Callback sections are completed with their defaults.
    es = from_text.callbacks.early_stopping
    assert es["patience"] == 2 and es["restore_best_weights"] is True
    assert from_text.callbacks.checkpoint == {
        "monitor": "auto",
        "mode": "auto",
        "save_best_only": True,
    }


def test_save_config_round_trips_and_leaves_no_temp_file(tmp_path):
    config = load_config(YAML_CONFIG)
    path = tmp_path / "config.yaml"
    save_config(config, path)
    assert load_config(str(path)) == config
    assert os.listdir(tmp_path) == ["config.yaml"]


def test_load_config_passes_through_a_config_as_a_copy():
    config = TrainingConfig(epochs=4)
    copy = load_config(config)
    assert copy == config and copy is not config
    assert load_config(None) == TrainingConfig()


def test_sections_accept_dicts_and_dataclasses():
    config = TrainingConfig(
        callbacks={"csv_log": True},
        distribution=DistributionConfig(strategy="mirrored", devices=2),
        run_dir="r",
    )
    assert isinstance(config.callbacks, CallbacksConfig)
    assert config.callbacks.csv_log is True
    assert config.distribution.devices == 2
    replaced = config.replace(callbacks=CallbacksConfig(terminate_on_nan=False))
    assert replaced.callbacks.terminate_on_nan is False
    assert replaced.distribution == config.distribution


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ({"epoch": 3}, ["'epoch'", "Did you mean 'epochs'"]),
        (
            {"optimizer": {"name": "sgd", "momentm": 0.9}},
            ["'optimizer.momentm'", "Did you mean 'momentum'", "nesterov"],
        ),
        ({"optimizer": "adamm"}, ["optimizer.name", "'adamm'", "'adam'"]),
        (
            {"optimizer": {"name": "adam", "learning_rate": {"name": "cosine"}}},
            ["optimizer.learning_rate", "decay_steps"],
        ),
        (
            {
                "optimizer": {
                    "name": "adam",
                    "learning_rate": {
                        "name": "cosine",
                        "learning_rate": 0.1,
                        "decay_step": 10,
                    },
                }
            },
            ["'optimizer.learning_rate.decay_step'", "decay_steps"],
        ),
        (
            {"callbacks": {"early_stopping": {"patiense": 3}}},
            ["'callbacks.early_stopping.patiense'", "Did you mean 'patience'"],
        ),
        ({"callbacks": {"early_stoping": True}}, ["'callbacks.early_stoping'"]),
        (
            {"callbacks": {"early_stopping": {"patience": -1}}},
            ["callbacks.early_stopping.patience=-1", "integer >= 0"],
        ),
        (
            {"precision": "mixed_float61"},
            ["precision='mixed_float61'", "mixed_float16"],
        ),
        ({"epochs": 0}, ["epochs=0", "integer >= 1"]),
        ({"batch_size": 2.5}, ["batch_size=2.5"]),
        ({"validation_split": 1.0}, ["validation_split=1.0", "[0.0, 1.0)"]),
        ({"jit_compile": "yes"}, ["jit_compile='yes'", "'auto'"]),
        ({"verbose": 3}, ["verbose=3"]),
        ({"loss": "msee"}, ["'loss'", "msee", "'mse'"]),
        ({"loss": {"name": "huber", "delta": -1}}, ["'loss.delta'", "delta"]),
        ({"metrics": ["acuracy"]}, ["metrics[0]", "'accuracy'"]),
        ({"metrics": "accuracy"}, ["metrics='accuracy'", "a list"]),
        (
            {"distribution": {"strategy": "mirorred"}},
            ["distribution.strategy='mirorred'", "'mirrored'"],
        ),
        ({"distribution": {"stratgy": "none"}}, ["'distribution.stratgy'"]),
        (
            {"distribution": {"strategy": "mirrored", "mesh_shape": [2]}},
            ["'distribution.mesh_shape'", "'model_parallel' only"],
        ),
        (
            {"distribution": {"strategy": "model_parallel", "mesh_shape": [2, 0]}},
            ["distribution.mesh_shape", "positive integers"],
        ),
        (
            {
                "distribution": {
                    "strategy": "model_parallel",
                    "mesh_shape": [1, 2],
                    "layout_map": {".*kernel": [None, "modle"]},
                }
            },
            ["distribution.layout_map['.*kernel']", "Did you mean 'model'"],
        ),
        (
            {
                "distribution": {
                    "strategy": "model_parallel",
                    "mesh_shape": [2, 2],
                    "devices": 2,
                }
            },
            ["devices", "needs 4 devices"],
        ),
        ({"distribution": {"devices": 2}}, ["'distribution.devices' needs a strategy"]),
        (
            {
                "optimizer": {"name": "adam", "gradient_accumulation_steps": 2},
                "distribution": {"strategy": "mirrored", "devices": 2},
            },
            [
                "'optimizer.gradient_accumulation_steps'=2",
                "'distribution.strategy'='mirrored'",
                "Remove gradient_accumulation_steps",
            ],
        ),
        ({"callbacks": {"checkpoint": True}}, ["'callbacks.checkpoint'", "run_dir"]),
        ({"resume": True}, ["'resume'", "run_dir"]),
        (
            {
                "optimizer": {
                    "name": "sgd",
                    "learning_rate": {
                        "name": "reduce_on_plateau",
                        "learning_rate": 0.1,
                    },
                },
                "callbacks": {"reduce_on_plateau": True},
            },
            ["configured twice"],
        ),
        (
            {
                "optimizer": {
                    "name": "sgd",
                    "learning_rate": {
                        "name": "step",
                        "learning_rate": 0.1,
                        "step_size": 2,
                    },
                },
                "callbacks": {"reduce_on_plateau": {"patience": 1}},
            },
            ["float 'optimizer.learning_rate'"],
        ),
        (
            {"callbacks": {"reduce_on_plateau": {"factor": 2.0}}},
            ["callbacks.reduce_on_plateau.factor", "(0, 1)"],
        ),
    ],
)
def test_invalid_configs_name_the_dotted_key(data, fragments):
    with pytest.raises(ValueError) as info:
        load_config(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_direct_construction_validates():
    with pytest.raises(ValueError, match="epochs=-2"):
        TrainingConfig(epochs=-2)
    with pytest.raises(ValueError, match="callbacks.terminate_on_nan=1"):
        TrainingConfig(callbacks={"terminate_on_nan": 1})


def test_replace_validates_and_keeps_the_rest():
    config = TrainingConfig(epochs=3, seed=1)
    assert config.replace(batch_size=8).to_dict() == {
        **config.to_dict(),
        "batch_size": 8,
    }
    with pytest.raises(ValueError, match="Unknown training config key 'epcohs'"):
        config.replace(epcohs=2)


def test_bad_sources_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="must be a mapping"):
        load_config("- 1\n- 2\n")
    with pytest.raises(ValueError, match="Could not parse"):
        load_config("epochs: [1\n")
    with pytest.raises(ValueError, match="must be a TrainingConfig"):
        load_config(12)
    assert load_config("") == TrainingConfig()


def test_model_parallel_defaults():
    config = DistributionConfig(
        strategy="model_parallel",
        mesh_shape=[2, 2],
        layout_map={".*kernel": [None, "model"]},
    )
    assert config.axis_names == ["batch", "model"]
    assert config.batch_dim_name == "batch"
    assert config.layout_map == {".*kernel": [None, "model"]}


def test_split_optimizer_config_moves_the_plateau_schedule_out():
    plateau = {"name": "reduce_on_plateau", "learning_rate": 0.1, "patience": 2}
    optimizer, split = split_optimizer_config({"name": "sgd", "learning_rate": plateau})
    assert optimizer == {"name": "sgd", "learning_rate": 0.1}
    assert split == plateau
    assert split_optimizer_config("adam") == ({"name": "adam"}, None)
