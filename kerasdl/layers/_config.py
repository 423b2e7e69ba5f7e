"""`get_config` written once: a layer's constructor arguments are its config.

Every kerasdl layer stores each named constructor argument, checked, under an
attribute of the same name. `InitConfig.get_config` reads the named arguments
of every `__init__` in the class's MRO (up to, not including, Keras' own
classes) back from those attributes, so a layer never lists its arguments a
second time. Values are made JSON-ready the way Keras' own layers do it:
initializers and activations by their `serialize`, tuples as lists.
"""

from __future__ import annotations

import functools
import inspect

import keras

__all__ = ["InitConfig"]


@functools.cache
def _argument_names(cls) -> tuple[str, ...]:
    names = []
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, InitConfig) or "__init__" not in vars(klass):
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            named = param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
            if named and param.name != "self" and param.name not in names:
                names.append(param.name)
    return tuple(names)


def _plain(value):
    if isinstance(value, keras.initializers.Initializer):
        return keras.initializers.serialize(value)
    if isinstance(value, tuple):
        return list(value)
    if callable(value):  # an activation function
        return keras.activations.serialize(value)
    return value


class InitConfig:
    """Mixin (before the Keras base class): `get_config` from `__init__`."""

    def get_config(self):
        config = super().get_config()
        for name in _argument_names(type(self)):
            config[name] = _plain(getattr(self, name))
        return config
