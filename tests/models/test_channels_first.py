"""Every CNN builder builds channels_first (NCHW) as well as channels_last.

One tiny variant per builder that takes `data_format` (found in the registry,
so a new CNN family is covered once it is registered): built channels_first
it trains a step, gives the channels_last model's outputs when both hold the
same weights and see the same (transposed) images, and rebuilds
channels_last with `to_channels_last`; a `.keras` file keeps the layout.
"""

import inspect
import re

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.models.layout import to_channels_last
from kerasdl.registry import get_entry


def _size(name):
    presets = get_entry(name).presets.values()
    return sum(v for v in presets if isinstance(v, int) and not isinstance(v, bool))


def _cnn_builders():
    """The smallest registered name of each builder with a data_format
    argument (resnet18, resnet20, ...: the size variants run the same code)."""
    firsts = {}
    for name in sorted(kerasdl.list_models(), key=lambda n: (_size(n), n)):
        entry = get_entry(name)
        if "data_format" in inspect.signature(entry.builder).parameters:
            # efficientnet_b0..b7 are one builder made eight times.
            builder = re.sub(r"_b\d+$", "", entry.builder.__qualname__)
            firsts.setdefault((entry.builder.__module__, builder), name)
    return sorted(firsts.values())


CNNS = _cnn_builders()

# The layout sweep is for the PyTorch backend, where channels_first avoids a
# transpose around every convolution; TensorFlow and JAX build the same
# graphs, and running every family three times would cost CI minutes.
torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="channels_first sweep runs on PyTorch (CI time)",
)


def _nchw(shape):
    height, width, chans = shape
    return (chans, height, width)


def _hparams(name):
    entry = get_entry(name)
    return {**entry.presets, **entry.tiny}


def _to_nhwc(array):
    return np.transpose(array, (0, 2, 3, 1)) if array.ndim == 4 else array


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.one_backend
def test_every_cnn_family_is_covered():
    families = {get_entry(n).family for n in CNNS}
    expected = (
        "classic_cnn resnet resnet_v2 resnet_cifar densenet inception mobilenet "
        "efficientnet segmentation transfer"
    )
    assert set(expected.split()) <= families, families


@torch_only
@pytest.mark.parametrize("name", CNNS)
def test_channels_first_matches_channels_last(name):
    hparams = _hparams(name)
    last = get_entry(name).builder(**hparams)
    first = get_entry(name).builder(
        **{**hparams, "input_shape": _nchw(hparams["input_shape"])},
        data_format="channels_first",
    )
    assert first.input_shape[1:] == _nchw(last.input_shape[1:])
    first.set_weights(last.get_weights())  # same shapes in both layouts

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *first.input_shape[1:])).astype("float32")
    y_first = _predict(first, x)
    y_last = _predict(last, _to_nhwc(x))
    np.testing.assert_allclose(_to_nhwc(y_first), y_last, rtol=1e-4, atol=1e-5)

    # The rebuilt channels_last copy (what export converts) agrees too.
    rebuilt = to_channels_last(first)
    assert rebuilt.input_shape == last.input_shape
    np.testing.assert_allclose(
        _predict(rebuilt, _to_nhwc(x)), y_last, rtol=1e-4, atol=1e-5
    )

    # One training step changes the weights.
    before = [keras.ops.convert_to_numpy(w).copy() for w in first.trainable_weights]
    first.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    loss = first.train_on_batch(x, rng.standard_normal(y_first.shape))
    assert np.isfinite(loss)
    after = [keras.ops.convert_to_numpy(w) for w in first.trainable_weights]
    assert not np.array_equal(before[-1], after[-1]), f"{name}: no training step"


@torch_only
def test_keras_file_keeps_the_layout(tmp_path):
    model = kerasdl.build(
        "resnet20", input_shape=(3, 16, 16), data_format="channels_first"
    )
    path = tmp_path / "resnet20.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # global setting: channels_last
    assert loaded.get_layer("conv1_conv").data_format == "channels_first"
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype("float32")
    np.testing.assert_allclose(_predict(loaded, x), _predict(model, x), atol=1e-6)


@pytest.mark.one_backend
def test_bad_data_format_names_the_value_and_the_accepted_ones():
    with pytest.raises(ValueError, match="data_format='NCHW'.*channels_first"):
        kerasdl.build("resnet20", input_shape=(3, 32, 32), data_format="NCHW")


@pytest.mark.one_backend
def test_resnet20_channels_first_from_the_registry():
    model = kerasdl.build(
        "resnet20", input_shape=(3, 32, 32), data_format="channels_first"
    )
    assert model.input_shape == (None, 3, 32, 32)
    assert model.output_shape == (None, 10)
    assert model.get_layer("conv1_conv").data_format == "channels_first"
    assert model.get_layer("conv1_bn").axis == 1
    # The global setting is restored after the build.
    assert keras.config.image_data_format() == "channels_last"


@pytest.mark.one_backend
def test_to_channels_last_refuses_layout_bound_layers():
    inputs = keras.Input((3, 8, 8))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first")(inputs)
    x = keras.layers.Reshape((-1,))(x)
    model = keras.Model(inputs, x)
    with pytest.raises(ValueError, match="Reshape"):
        to_channels_last(model)
