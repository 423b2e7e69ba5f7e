"""kerasdl: the deep-learning curriculum as buildable, trainable, exportable Keras 3 models.

The public API, all on the package itself:

- `kerasdl.build(name_or_spec, **hparams)`: a `keras.Model` from a registered
  name with hyperparameters, or from a spec (dict, YAML text or file).
- `kerasdl.list_models(pattern="*", family=None)`, `kerasdl.model_info(name)`:
  what the registry holds, with each hyperparameter's default and meaning.
- `kerasdl.to_spec(model)`: a Sequential or Functional model back to a spec.
- `kerasdl.Trainer(config).fit(model, x, y)`: `model.fit` driven by one
  validated training config (optimizer, schedule, precision, callbacks).
- `kerasdl.train(config)`: data, model, training and export from one run
  config (`kerasdl train run.yaml`).
- `kerasdl.compress(config)`: the same run config with compression steps
  (prune, cluster, qat, distill, ptq, lora) and a before/after report.
- `kerasdl.export(model, directory, formats=..., representative_data=...,
  labels=...)`: SavedModel, TFLite and ONNX files, each verified, with a
  manifest.
- `kerasdl.register_model(name, builder, family=..., task=..., tiny=...)`.
- `kerasdl.load_model(path)`: a `.keras` file back (as
  `keras.saving.load_model(path)` does after `import kerasdl`).

Subpackages: `kerasdl.data`, `kerasdl.training`, `kerasdl.compression`,
`kerasdl.exporters`, `kerasdl.layers`, `kerasdl.models`, `kerasdl.generation`,
`kerasdl.viz` (imported on first use where they are not already).

Example:
>>> import kerasdl
>>> model = kerasdl.build("resnet20", input_shape=(32, 32, 3), num_classes=10)
>>> kerasdl.list_models("vgg*")
['vgg11', 'vgg13', 'vgg16', 'vgg19']
"""

import importlib

# Importing the models package registers every architecture family and every
# kerasdl layer with Keras' serialization, so `.keras` files load after
# `import kerasdl` (the registry imports no model module: imports run one way).
# The compression wrappers (pruning, clustering, QAT) are serializable layers
# too: importing compression registers them, so pruned files load as well.
from kerasdl import compression, models  # noqa: F401

# Importing the samplers installs them behind `DiffusionModel.generate`, so a
# diffusion model loaded from a .keras file samples after `import kerasdl`.
from kerasdl.generation import diffusion as _diffusion  # noqa: F401
from kerasdl.models import transfer
from kerasdl.registry import list_models, model_info, register_model
from kerasdl.spec import build, to_spec
from kerasdl.training.trainer import Trainer
from kerasdl.workflow import quickstart, train

__version__ = "0.1.0"


def load_model(path, compile: bool = True, safe_mode: bool = True):
    """Loads a `.keras` file that kerasdl (or plain Keras) wrote.

    `import kerasdl` registers every kerasdl layer, model and compression
    wrapper with Keras, so `keras.saving.load_model(path)` works just as
    well after it; this is the same call for those who look for it here.

    Args:
        path: str or path-like. A `.keras` file.
        compile: bool. Restore the optimizer, loss and metrics too.
        safe_mode: bool. Refuse lambdas and other code in the file (Keras').

    Returns:
        keras.Model.

    Example:
    >>> model = kerasdl.load_model("runs/lenet5/best.keras")
    """
    import keras

    return keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)


# Imported on first use: the exporters and the compression steps load
# converters and runtimes that `import kerasdl` should not pay for.
_LAZY_FUNCTIONS = {
    "export": ("kerasdl.exporters.exporter", "export"),
    "compress": ("kerasdl.compression.pipeline", "compress"),
    "evaluate": ("kerasdl.evaluation.evaluate", "evaluate"),
}
_SUBPACKAGES = (
    "compression",
    "data",
    "exporters",
    "generation",
    "layers",
    "training",
    "viz",
)

__all__ = [
    "Trainer",
    "build",
    "compress",
    "evaluate",
    "export",
    "list_models",
    "load_model",
    "model_info",
    "quickstart",
    "register_model",
    "to_spec",
    "train",
    "transfer",
]


def __getattr__(name):
    if name in _LAZY_FUNCTIONS:
        module, attr = _LAZY_FUNCTIONS[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"kerasdl.{name}")
    else:
        raise AttributeError(f"module 'kerasdl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_FUNCTIONS) | set(_SUBPACKAGES))
