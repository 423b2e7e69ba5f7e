"""kerasdl: the deep-learning curriculum as buildable, trainable, exportable Keras 3 models.

Example:
>>> import kerasdl
>>> model = kerasdl.build("resnet20", input_shape=(32, 32, 3), num_classes=10)
>>> kerasdl.list_models("vgg*")
['vgg11', 'vgg13', 'vgg16', 'vgg19']
"""

# Importing the models package registers every architecture family (the
# registry imports no model module, so imports run one way).
from kerasdl import models  # noqa: F401
from kerasdl.models import transfer
from kerasdl.registry import list_models, model_info, register_model
from kerasdl.spec import build, to_spec
from kerasdl.workflow import quickstart, train

__version__ = "0.1.0"


def __getattr__(name):
    # `kerasdl.export` is the function `kerasdl.exporters.export`, imported on
    # first use so that `import kerasdl` does not load the converters.
    if name == "export":
        from kerasdl.exporters.exporter import export

        globals()["export"] = export
        return export
    raise AttributeError(f"module 'kerasdl' has no attribute {name!r}")


__all__ = [
    "build",
    "export",
    "list_models",
    "model_info",
    "quickstart",
    "register_model",
    "to_spec",
    "train",
    "transfer",
]
