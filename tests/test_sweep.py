"""One sweep over the whole registry: a model is tested once it is registered.

For every name in `kerasdl.list_models()`: it builds from the name and from a
YAML spec. For one name per structure (size variants such as resnet32/44 or
efficientnet_b1..b7 share their smallest sibling's code): its tiny test
variant (`ModelEntry.tiny`, which may use fewer blocks than the full model)
runs forward, takes one training step that changes the weights, and gives
identical outputs after a config round trip, a spec round trip and a `.keras`
save/load. Every structure runs on TensorFlow, JAX and PyTorch.
"""

import re

import keras
import numpy as np
import pytest
import yaml

import kerasdl
from kerasdl.registry import get_entry
from tests.conftest import random_inputs

MODELS = kerasdl.list_models()


def _unique_tiny_variants(names):
    """One name per distinct tiny build: aliases such as efficientnet_b1..b7,
    whose tiny variants share a builder and identical hyperparameters, would
    run the very same graph again; they keep their own build-from-name test."""
    seen = {}
    for name in names:
        entry = get_entry(name)
        key = (entry.builder, repr(sorted({**entry.presets, **entry.tiny}.items())))
        seen.setdefault(key, name)
    return sorted(seen.values())


SWEEP_MODELS = _unique_tiny_variants(MODELS)


def _is_size(value):
    if isinstance(value, (list, tuple)):
        return all(_is_size(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Builders whose `depth` picks the block type (basic below 50, bottleneck
# from 50), not only how many blocks there are.
BLOCK_BY_DEPTH = {"resnet_v1", "resnet_v2"}


def _structure(entry):
    """What decides which code a build runs: the builder (efficientnet_b0..b7
    count as one), which presets it sets, and every preset value that is not a
    size (a string, a bool, None; vit's named sizes are sizes). Variants that
    differ only in sizes (resnet20..110, vgg11..19, vit_b16..l16,
    densenet121..201, efficientnet_b0..b7) run the same code paths with more
    or wider blocks."""
    builder = re.sub(r"_b\d+$", "_b", entry.builder.__qualname__)
    structural = sorted(
        (k, v)
        for k, v in entry.presets.items()
        if not _is_size(v) and k != "size"  # vit's "base", "large"
    )
    if builder in BLOCK_BY_DEPTH:
        structural.append(("bottleneck", entry.presets.get("depth", 0) >= 50))
    return (
        entry.builder.__module__,
        builder,
        tuple(sorted(entry.presets)),
        repr(structural),
    )


def _size(entry):
    return sum(
        sum(keras.tree.flatten(v)) for v in entry.presets.values() if _is_size(v)
    )


def _representatives(names):
    """The smallest name of each structure (see `_structure`)."""
    firsts = {}
    for name in sorted(names, key=lambda n: (_size(get_entry(n)), n)):
        firsts.setdefault(_structure(get_entry(name)), name)
    return sorted(firsts.values())


def _every_backend(names):
    """The representatives run on every backend; the other size variants run
    on TensorFlow only (`one_backend`): on JAX and PyTorch they would repeat
    the same layers at another depth."""
    everywhere = set(_representatives(names))
    return [
        pytest.param(name, marks=() if name in everywhere else pytest.mark.one_backend)
        for name in names
    ]


def _yaml_safe(obj):
    if isinstance(obj, dict):
        return {k: _yaml_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_yaml_safe(v) for v in obj]
    return obj


def _predict(model, x):
    out = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(out)]


def _assert_same(a, b, what):
    assert len(a) == len(b), what
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5, err_msg=what)


def test_registry_is_populated():
    families = {get_entry(n).family for n in MODELS}
    assert len(MODELS) >= 40, MODELS
    assert {
        "mlp",
        "classic_cnn",
        "resnet",
        "densenet",
        "inception",
        "mobilenet",
        "efficientnet",
        "segmentation",
        "transfer",
        "rnn",
        "forecasting",
        "seq2seq",
        "transformer",
        "vit",
        "hub",
        "autoencoder",
        "vae",
        "gan",
        "diffusion",
    } <= families


@pytest.mark.one_backend
@pytest.mark.parametrize("name", MODELS)
def test_model_info_documents_every_hyperparameter(name):
    info = kerasdl.model_info(name)
    assert info["description"], name
    undocumented = [k for k, v in info["hyperparameters"].items() if not v["doc"]]
    assert not undocumented, f"{name}: no docstring line for {undocumented}"


@pytest.mark.parametrize("name", _every_backend(MODELS))
def test_builds_from_name_and_yaml_spec(name):
    entry = get_entry(name)
    hparams = {k: v for k, v in entry.tiny.items() if k not in entry.presets}
    by_name = kerasdl.build(name, **hparams)
    assert isinstance(by_name, keras.Model)
    text = yaml.safe_dump(_yaml_safe({"model": name, **hparams}))
    assert kerasdl.to_spec(kerasdl.build(text)) == kerasdl.to_spec(by_name)


# Every name builds from its name and a YAML spec (on TensorFlow; the
# representatives on every backend); the sweep's training step, round trips
# and save/load run for one name per structure: a size variant would repeat
# the same layers and code at another depth.
@pytest.mark.parametrize("name", _representatives(SWEEP_MODELS))
def test_sweep(name, tmp_path):
    model = get_entry(name).build_tiny()
    assert isinstance(model, keras.Model)

    x = random_inputs(model)
    y0 = _predict(model, x)
    for out in y0:
        assert np.all(np.isfinite(out)), name

    # Config round trip.
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    _assert_same(y0, _predict(clone, x), f"{name}: from_config outputs differ")

    # Spec round trip through YAML text.
    spec = kerasdl.to_spec(model)
    rebuilt = kerasdl.build(yaml.safe_dump(spec))
    assert kerasdl.to_spec(rebuilt) == spec
    rebuilt.set_weights(model.get_weights())
    _assert_same(y0, _predict(rebuilt, x), f"{name}: spec rebuild outputs differ")

    # One training step changes the weights.
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    assert before, f"{name} has no trainable weights"
    # Targets shaped like the actual outputs (sequence models may have
    # variable-length axes that model.outputs leaves as None).
    targets = [
        np.random.default_rng(1).standard_normal(out.shape).astype("float32")
        for out in y0
    ]
    if get_entry(name).task == "generation":
        # Generative models (VAE, GANs, diffusion) compute their own loss
        # and train on data, not on targets: fit(images), or fit(images,
        # labels) for a class-conditional model, with images shaped like
        # the samples they generate.
        rng = np.random.default_rng(1)
        images = rng.random(y0[0].shape).astype("float32")
        classes = getattr(model, "num_classes", None)
        labels = None if classes is None else rng.integers(0, classes, len(images))
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        loss = model.train_on_batch(images, labels)
    else:
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        loss = model.train_on_batch(x, targets[0] if len(targets) == 1 else targets)
    assert np.isfinite(loss).all()
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    changed = [not np.array_equal(a, b) for a, b in zip(before, after)]
    assert sum(changed) >= 0.5 * len(changed), (
        f"{name}: only {sum(changed)}/{len(changed)} trainable weights changed"
    )
    assert changed[-1] or changed[-2], f"{name}: the output layer did not train"

    # .keras save and load give identical outputs.
    y1 = _predict(model, x)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    _assert_same(y1, _predict(loaded, x), f"{name}: outputs differ after load")
