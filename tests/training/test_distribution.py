"""Tests of distributed training (kerasdl/training/distribution.py).

Several devices (or workers) must exist before the backend starts, so the
real distribution runs happen in fresh subprocesses; each is compared with a
single-device run of the same model on the same data.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasdl.training import SUPPORTED_STRATEGIES, Trainer, configure_cpu_devices
from kerasdl.training.config import STRATEGIES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND = keras.backend.backend()


def _run_script(tmp_path, source, backend, *args, env=None, wait=True):
    script = tmp_path / f"script_{backend}.py"
    script.write_text(textwrap.dedent(source))
    full_env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": REPO,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **(env or {}),
    }
    full_env.pop("XLA_FLAGS", None)
    process = subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return _result(process) if wait else process


def _result(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, out[-2000:] + err[-2000:]
    return json.loads(lines[-1][len("RESULT ") :])


# Trains the same tiny model with the strategy and without; prints RESULT json.
_COMPARE = """
import json, sys
from kerasdl.training import Trainer, load_history

distribution = json.loads(sys.argv[1])
base = {"epochs": 2, "batch_size": 16, "verbose": 0, "shuffle": False, "seed": 0,
        "optimizer": {"name": "sgd", "learning_rate": 0.1}}
# Created first: the devices must exist before the backend starts.
trainer = Trainer({**base, "distribution": distribution, "run_dir": sys.argv[2]})

import keras, numpy as np

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 6)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int32")


def model():
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu", name="hidden"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ])


initial = model()
start = initial.get_weights()
history = trainer.fit(initial, x, y)
reference = model()
reference.set_weights(start)
Trainer(base).fit(reference, x, y)
kernel = trainer.model.get_layer("hidden").kernel
value = kernel.value
print("RESULT " + json.dumps({
    "replicas": trainer.context.num_replicas,
    "variable": type(value).__name__,
    "sharding": str(getattr(value, "sharding", "")),
    "devices": len(getattr(getattr(value, "sharding", None), "device_set", [])),
    "max_diff": max(float(np.abs(a - b).max()) for a, b in
                    zip(trainer.model.get_weights(), reference.get_weights())),
    "moved": float(np.abs(trainer.model.get_weights()[0] - start[0]).max()),
    "loss": history.history["loss"],
    # Saved while distributed, reloaded plainly: the best (here last) epoch.
    "best_diff": max(float(np.abs(a - b).max()) for a, b in zip(
        keras.saving.load_model(sys.argv[2] + "/best.keras").get_weights(),
        trainer.model.get_weights())),
    "history_epochs": load_history(sys.argv[2])["epochs"],
}))
"""


def test_unsupported_strategies_name_strategy_backend_and_alternatives():
    supported = SUPPORTED_STRATEGIES[BACKEND]
    for strategy in STRATEGIES:
        if strategy in supported:
            continue
        config = {"distribution": {"strategy": strategy}}
        if strategy == "model_parallel":
            config["distribution"]["mesh_shape"] = [1, 1]
        with pytest.raises(ValueError) as info:
            Trainer(config)
        message = str(info.value)
        assert f"strategy={strategy!r}" in message
        assert f"on the {BACKEND} backend" in message
        assert "supported there: " + ", ".join(supported) in message


def test_cpu_devices_cannot_be_added_after_the_runtime_started():
    keras.ops.convert_to_numpy(keras.ops.ones((2,)) + 1)  # starts the runtime
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="tensorflow and jax backends"):
            configure_cpu_devices(2)
        return
    with pytest.raises(ValueError, match="already initialized with 1"):
        configure_cpu_devices(64)
    configure_cpu_devices(1)  # what exists is fine
    strategy = "mirrored" if BACKEND == "tensorflow" else "data_parallel"
    with pytest.raises(ValueError, match="Cannot make 64 CPU devices"):
        Trainer({"distribution": {"strategy": strategy, "devices": 64}})


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow strategy")
def test_multi_worker_needs_tf_config_and_a_seed(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs `seed`"):
        Trainer({"distribution": {"strategy": "multi_worker"}})
    with pytest.raises(ValueError, match="TF_CONFIG environment variable"):
        Trainer({"seed": 0, "distribution": {"strategy": "multi_worker"}})
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        Trainer({"seed": 0, "distribution": {"strategy": "multi_worker"}})


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow strategy")
def test_mirrored_strategy_over_two_cpu_devices_matches_one_device(tmp_path):
    result = _run_script(
        tmp_path,
        _COMPARE,
        "tensorflow",
        json.dumps({"strategy": "mirrored", "devices": 2}),
        tmp_path / "run",
    )
    assert result["replicas"] == 2
    assert result["variable"] == "MirroredVariable"
    assert result["moved"] > 1e-3  # it trained
    # Two replicas of 8 samples average to the 16-sample gradient.
    assert result["max_diff"] < 1e-5
    assert result["loss"][1] < result["loss"][0]
    assert result["best_diff"] == 0.0 and result["history_epochs"] == [0, 1]


_WORKER = """
import json, sys
from kerasdl.training import Trainer

trainer = Trainer({"epochs": 2, "batch_size": 16, "verbose": 0, "seed": 3,
                   "optimizer": {"name": "sgd", "learning_rate": 0.1},
                   "run_dir": sys.argv[1],
                   "distribution": {"strategy": "multi_worker"}})
import keras, numpy as np

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int32")
# Built before fit seeds anything: each worker starts from other random
# weights, until the Trainer gives them all worker 0's.
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, activation="softmax")])
start = model.get_weights()
history = trainer.fit(model, x, y, validation_data=(x[:16], y[:16]))
print("RESULT " + json.dumps({
    "chief": trainer.context.is_chief,
    "replicas": trainer.context.num_replicas,
    "run_dir": trainer.run_dir,
    "weights": [w.tolist() for w in trainer.model.get_weights()],
    "moved": float(np.abs(trainer.model.get_weights()[0] - start[0]).max()),
    "epochs": history.epoch,
}))
"""


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow strategy")
def test_multi_worker_strategy_two_local_workers_agree(tmp_path):
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
    run_dir = tmp_path / "run"
    processes = [
        _run_script(
            tmp_path,
            _WORKER,
            "tensorflow",
            run_dir,
            env={
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": i}}
                )
            },
            wait=False,
        )
        for i in range(2)
    ]
    try:
        chief, other = (_result(p) for p in processes)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert chief["chief"] is True and other["chief"] is False
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["epochs"] == other["epochs"] == [0, 1]
    assert chief["moved"] > 1e-3
    for a, b in zip(chief["weights"], other["weights"], strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    # The chief owns the run directory; the other worker writes beside it.
    assert chief["run_dir"] == str(run_dir)
    assert other["run_dir"] == str(run_dir / "workers" / "worker-1")
    assert (run_dir / "history.json").is_file()
    assert (run_dir / "workers" / "worker-1" / "history.json").is_file()


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution runs on JAX")
def test_jax_data_parallel_over_two_cpu_devices_matches_one_device(tmp_path):
    result = _run_script(
        tmp_path,
        _COMPARE,
        "jax",
        json.dumps({"strategy": "data_parallel", "devices": 2}),
        tmp_path / "run",
    )
    assert result["replicas"] == 2
    assert result["devices"] == 2  # the kernel lives on both devices
    assert (
        "PartitionSpec()" in result["sharding"] or "P(None, None)" in result["sharding"]
    )
    assert result["moved"] > 1e-3
    assert result["max_diff"] < 1e-5
    assert result["loss"][1] < result["loss"][0]
    assert result["best_diff"] == 0.0 and result["history_epochs"] == [0, 1]


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution runs on JAX")
def test_jax_model_parallel_shards_the_mapped_kernel(tmp_path):
    distribution = {
        "strategy": "model_parallel",
        "mesh_shape": [1, 2],
        "axis_names": ["batch", "model"],
        "layout_map": {".*hidden/kernel": [None, "model"]},
    }
    result = _run_script(
        tmp_path, _COMPARE, "jax", json.dumps(distribution), tmp_path / "run"
    )
    assert result["replicas"] == 1  # the batch axis has size 1
    assert result["devices"] == 2
    assert "'model'" in result["sharding"]  # split over the model axis
    assert result["moved"] > 1e-3
    assert result["max_diff"] < 1e-5
    assert result["loss"][1] < result["loss"][0]
    assert result["best_diff"] == 0.0 and result["history_epochs"] == [0, 1]
