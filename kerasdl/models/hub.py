"""keras-hub adapters: BERT, GPT-2, T5 and ViT as ordinary kerasdl models.

Each builder returns a plain functional `keras.Model` whose inputs are named
like keras-hub's (``token_ids``, ``padding_mask``, ``images``, ...). The
keras-hub backbone (or language-model task, for its tied-embedding logits)
sits inside one `HubModel` layer, which takes a list of tensors and hands
keras-hub the dict it expects; classification heads are ordinary Keras layers
around it ("predictions"), so `kerasdl.build`, `kerasdl.to_spec`, the
Trainer, `.keras` files and the registry sweep treat these models like any
other.

Weights are never downloaded. A model is either built from hyperparameters
(random weights) or loaded from a *local* preset directory: the folder
keras-hub's `save_to_preset(dir)` writes (``config.json`` with the backbone
config, ``model.weights.h5`` with its weights, ``metadata.json``). Preset
names ("bert_base_en") and URLs ("kaggle://...", "hf://...") are refused.

| name      | keras-hub classes                 | output                        |
|-----------|-----------------------------------|-------------------------------|
| hub_bert  | BertBackbone                      | class scores on pooled [CLS]  |
| hub_gpt2  | GPT2Backbone + GPT2CausalLM       | next-token logits (tied)      |
| hub_t5    | T5Backbone + T5Seq2SeqLM          | decoder token logits (tied)   |
| hub_vit   | ViTBackbone                       | class scores on class token   |

With ``include_top=False`` every builder returns the backbone's own outputs
(a dict for BERT and T5).
"""

from __future__ import annotations

import os
import re

import keras

from kerasdl import _keras_compat
from kerasdl._checks import check_sizes
from kerasdl._io import read_json, to_plain
from kerasdl.layers.vit import TokenPooling
from kerasdl.models._common import (
    check_bool,
    check_input_shape,
    check_rate,
)
from kerasdl.models._hparams import Arg, builder_args, builder_sections
from kerasdl.models.heads import ClassificationHead, check_head_args
from kerasdl.models.vit import TINY_VIT
from kerasdl.registry import register_model, set_task

__all__ = [
    "PRESET_FILES",
    "HubModel",
    "hub_bert",
    "hub_gpt2",
    "hub_t5",
    "hub_vit",
    "load_preset_backbone",
]

# Files of a local preset directory as written by keras-hub's save_to_preset
# (a large model's weights come as model.weights.json + shards instead).
PRESET_FILES = {
    "config.json": "the backbone config (class name and hyperparameters)",
    "model.weights.h5": "the backbone weights",
}
_SHARDED_WEIGHTS = "model.weights.json"
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def _keras_hub():
    # Imported on first use: keras-hub takes seconds to import on JAX/torch,
    # and only these builders need it.
    import keras_hub

    return keras_hub


# ---------------------------------------------------------------- the layer
@keras.saving.register_keras_serializable(package="kerasdl")
class HubModel(keras.layers.Layer):
    """A keras-hub backbone or task as one layer with list inputs and outputs.

    keras-hub models take and return dicts ({"token_ids": ..., ...}); a
    functional graph node (and a kerasdl spec) passes lists. This layer maps
    its list of inputs onto `input_names`, calls the keras-hub model, and
    returns the outputs named in `output_names` (one tensor, or a list). Its
    config holds the keras-hub model's config, so it survives `from_config`,
    specs and `.keras` files; weights live in the wrapped model.

    Args:
        model: keras_hub.models.Backbone or Task, or its serialized dict
            (`keras.layers.serialize`). Only keras-hub classes are accepted.
        input_names: list of str or None. Order of the layer's list inputs;
            None: the model's input names in their order.
        output_names: list of str or None. Outputs to return when the model
            returns a dict; None: all of them in the model's order. Must be
            None when the model returns one tensor.
        hub_class: str or None. For a functional rebuild of a keras-hub
            model (made by `with_model`, e.g. by pruning, clustering or QAT
            a layer inside the backbone), the registered name of the
            keras-hub class it was rebuilt from ("keras_hub>BertBackbone");
            `model` may then be a functional keras.Model. None: `model` is
            the keras-hub model itself.
        **kwargs: Standard `keras.layers.Layer` arguments (name, dtype, ...).

    Raises:
        ValueError: for a non-keras-hub model or unknown input/output names.

    Example:
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=100,
    ...     num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)
    >>> layer = HubModel(backbone, output_names=["pooled_output"])
    """

    def __init__(
        self, model, input_names=None, output_names=None, hub_class=None, **kwargs
    ):
        super().__init__(**kwargs)
        hub = _keras_hub()
        if hub_class is not None:
            _check_hub_class(hub_class)
        self.hub_class = hub_class
        self.model = (
            _deserialize_hub(model, hub_class) if isinstance(model, dict) else model
        )
        if hub_class is not None:
            if not _is_rebuild(self.model):
                raise ValueError(
                    f"Invalid model={model!r:.120} with hub_class={hub_class!r}: "
                    "expected a functional keras.Model rebuilt from that class "
                    "(see HubModel.with_model)."
                )
        elif not isinstance(self.model, (hub.models.Backbone, hub.models.Task)):
            raise ValueError(
                f"Invalid model={model!r:.120}: expected a keras_hub.models.Backbone "
                "or keras_hub.models.Task (or its serialized config)."
            )
        # `input`/`output` of a functional model are its constructor's
        # structures (dict, list or tensor), as keras-hub declared them.
        struct = self.model.input
        known_inputs = (
            list(struct)
            if isinstance(struct, dict)
            else [t.name for t in keras.tree.flatten(struct)]
        )
        self.input_names = _check_names("input_names", input_names, known_inputs)
        if len(self.input_names) != len(known_inputs):
            raise ValueError(
                f"Invalid input_names={input_names!r}: the model takes all of "
                f"{known_inputs}, each once."
            )
        struct = self.model.output
        if isinstance(struct, dict):
            self.output_names = _check_names("output_names", output_names, list(struct))
        elif output_names is not None:
            raise ValueError(
                f"Invalid output_names={output_names!r}: model {self.model.name!r} "
                "returns one tensor; pass None."
            )
        else:
            self.output_names = None
        self.built = True

    def build(self, input_shape):
        # The wrapped model is a built functional graph: nothing to create.
        self.built = True

    def with_model(self, model):
        """A HubModel of this layer's config around `model`.

        Graph-rebuilding compression steps (prune, cluster, QAT) clone the
        keras-hub model with some layers wrapped or replaced; the clone is a
        plain functional keras.Model with the same inputs and outputs, and
        this method puts it back in the functional graph in place of this
        layer. The result records which keras-hub class the model was
        rebuilt from (`hub_class`) and saves and loads as `.keras` with the
        rebuilt graph in its config.

        Args:
            model: keras.Model. A keras-hub Backbone/Task, or a functional
                model taking and returning the same named inputs and
                outputs as this layer's model.

        Returns:
            HubModel: a new layer with this layer's name, input and output
            names and dtype policy; `model`'s weights are used as they are.

        Raises:
            ValueError: `model` is not a functional keras.Model, or its
                inputs or outputs differ from this layer's model's.
        """
        hub = _keras_hub()
        if isinstance(model, (hub.models.Backbone, hub.models.Task)):
            hub_class = None
        else:
            if not _is_rebuild(model):
                raise ValueError(
                    f"Invalid model={model!r:.120}: expected a functional "
                    "keras.Model (a clone of this layer's keras-hub model)."
                )
            hub_class = self.hub_class or keras.saving.get_registered_name(
                type(self.model)
            )
        for what, old, new, named in (
            ("inputs", self.model.input, model.input, True),
            ("outputs", self.model.output, model.output, False),
        ):
            if _structure_names(old, named) != _structure_names(new, named):
                raise ValueError(
                    f"Invalid model {model.name!r}: its {what} "
                    f"{_structure_names(new, named)} differ from "
                    f"{_structure_names(old, named)}, those of {self.model.name!r}."
                )
        return HubModel(
            model,
            input_names=list(self.input_names),
            output_names=(
                None if self.output_names is None else list(self.output_names)
            ),
            hub_class=hub_class,
            name=self.name,
            dtype=self.dtype_policy,
            trainable=self.trainable,
        )

    def _model_inputs(self, inputs):
        """The layer's list inputs in the structure the keras-hub model takes."""
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) != len(self.input_names):
            raise ValueError(
                f"HubModel {self.name!r} takes {len(self.input_names)} inputs "
                f"{self.input_names}; received {len(inputs)}."
            )
        named = dict(zip(self.input_names, inputs))
        if isinstance(self.model.input, dict):
            return named
        ordered = [named[t.name] for t in keras.tree.flatten(self.model.input)]
        return ordered[0] if len(ordered) == 1 else ordered

    def _select(self, outputs):
        if self.output_names is None:
            return outputs
        selected = [outputs[n] for n in self.output_names]
        return selected[0] if len(selected) == 1 else selected

    def call(self, inputs, training=None):
        return self._select(self.model(self._model_inputs(inputs), training=training))

    def compute_output_spec(self, inputs, training=None):
        # Trace the wrapped functional graph symbolically: tracing `call`
        # with placeholder sizes breaks keras-hub layers that compare the
        # sequence length with their tables.
        return self._select(self.model.compute_output_spec(self._model_inputs(inputs)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": to_plain(keras.layers.serialize(self.model)),
                "input_names": list(self.input_names),
                "output_names": (
                    None if self.output_names is None else list(self.output_names)
                ),
            }
        )
        if self.hub_class is not None:  # only rebuilt models carry the key
            config["hub_class"] = self.hub_class
        return config


def _check_names(arg: str, value, known: list[str]) -> list[str]:
    if value is None:
        return list(known)
    if (
        not isinstance(value, (list, tuple))
        or not value
        or len(set(value)) != len(value)
        or not all(isinstance(v, str) and v in known for v in value)
    ):
        raise ValueError(
            f"Invalid {arg}={value!r}: expected a list of distinct names from {known}."
        )
    return list(value)


def _structure_names(struct, tensor_names=True):
    """Keys of a functional model's input or output dict, else tensor names.

    Output tensors of a cloned graph get new automatic names: outputs are
    compared by dict keys and count only (`tensor_names=False`).
    """
    if isinstance(struct, dict):
        return sorted(struct)
    tensors = keras.tree.flatten(struct)
    if not tensor_names:
        return [f"<{len(tensors)} tensor(s)>"]
    return [getattr(t, "name", None) for t in tensors]


def _is_rebuild(model) -> bool:
    """A functional (not Sequential) keras.Model: what `with_model` accepts."""
    return (
        isinstance(model, keras.Model)
        and _keras_compat.is_functional(model)
        and not isinstance(model, keras.Sequential)
    )


def _check_hub_class(hub_class):
    hub = _keras_hub()
    is_name = isinstance(hub_class, str) and hub_class.startswith("keras_hub>")
    cls = keras.saving.get_registered_object(hub_class) if is_name else None
    if not (
        is_name
        and isinstance(cls, type)
        and issubclass(cls, (hub.models.Backbone, hub.models.Task))
    ):
        raise ValueError(
            f"Invalid hub_class={hub_class!r}: expected the registered name of "
            "a keras-hub Backbone or Task ('keras_hub>BertBackbone', ...)."
        )


def _deserialize_hub(config: dict, hub_class=None):
    """Rebuilds a keras-hub Backbone or Task from `keras.layers.serialize`.

    With `hub_class` (a checked keras-hub class name), `config` may instead
    be a functional model's: the rebuild of that class that `with_model`
    made, restored through Keras' own functional deserialization.
    """
    hub = _keras_hub()
    registered = config.get("registered_name") or ""
    if hub_class is not None and config.get("class_name") == "Functional":
        return keras.saving.deserialize_keras_object(config)
    cls = keras.saving.get_registered_object(registered) if registered else None
    if not (
        registered.startswith("keras_hub>")
        and isinstance(cls, type)
        and issubclass(cls, (hub.models.Backbone, hub.models.Task))
    ):
        raise ValueError(
            f"Invalid model config with registered_name={registered!r}: "
            "HubModel only rebuilds keras-hub backbones and tasks "
            "('keras_hub>BertBackbone', 'keras_hub>GPT2CausalLM', ...)."
        )
    inner = dict(config.get("config") or {})
    if issubclass(cls, hub.models.Task):
        # Tasks compile themselves on construction; a nested task needs no
        # optimizer (the outer model is compiled).
        inner["compile"] = False
    return cls.from_config(inner)


# ---------------------------------------------------------------- presets
def load_preset_backbone(preset, backbone_class: str):
    """Loads a keras-hub backbone from a local preset directory; never downloads.

    Args:
        preset: str or os.PathLike. A local directory holding `config.json`
            and `model.weights.h5` (what `backbone.save_to_preset(dir)` writes).
        backbone_class: str. The keras-hub class the preset must hold
            ("BertBackbone", ...).

    Returns:
        The keras-hub backbone with the preset's weights.

    Raises:
        ValueError: for a preset name, a URL, a missing directory or file, or
            a preset of another architecture.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(
            f"Invalid preset={preset!r}: expected None or the path of a local "
            "preset directory."
        )
    path = os.fspath(preset)
    layout = ", ".join(f"{name} ({what})" for name, what in PRESET_FILES.items())
    how = (
        f"Downloads are disabled in kerasdl: pass preset='/path/to/dir', a local "
        f"directory containing {layout}, as written by keras-hub's "
        "`backbone.save_to_preset(dir)` or unpacked from a Kaggle/Hugging Face "
        "preset archive fetched by hand."
    )
    if _URL.match(path):
        raise ValueError(f"Invalid preset={path!r}: a URL. {how}")
    if not os.path.isdir(path):
        kind = "is not a local directory (a keras-hub preset name?)"
        raise ValueError(f"Invalid preset={path!r}: {kind}. {how}")
    missing = [
        name for name in PRESET_FILES if not os.path.isfile(os.path.join(path, name))
    ]
    if missing == ["model.weights.h5"] and os.path.isfile(
        os.path.join(path, _SHARDED_WEIGHTS)
    ):
        missing = []
    if missing:
        raise ValueError(f"Invalid preset={path!r}: missing {missing}. {how}")
    stored = read_json(os.path.join(path, "config.json"))
    found = stored.get("class_name") if isinstance(stored, dict) else None
    if found is None:
        raise ValueError(
            f"Invalid preset={path!r}: its config.json is not a keras-hub backbone "
            "config (no 'class_name'); a Hugging Face transformers checkpoint is "
            f"not a keras-hub preset. {how}"
        )
    if found != backbone_class:
        raise ValueError(
            f"Invalid preset={path!r}: its config.json holds a {found!r}; this "
            f"builder needs a {backbone_class!r} preset."
        )
    cls = getattr(_keras_hub().models, backbone_class)
    return cls.from_preset(path)


def _backbone(
    backbone_class: str,
    hparams: dict,
    published: dict,
    dropout: float,
    *,
    dropout_key: str = "dropout",
    pairs: tuple[str, ...] = (),
    given: dict | None = None,
    defaults: dict | None = None,
):
    """A keras-hub backbone from a local preset or from hyperparameters.

    Args:
        backbone_class: str. keras-hub backbone class ("BertBackbone", ...).
        hparams: dict. The builder's arguments.
        published: dict. The published base model's sizes under the builder's
            argument names (keras-hub's config keys); the builder's values
            for them are checked here (None: unset).
        dropout: float. The base model's backbone dropout, for an unset
            `backbone_dropout`; `dropout_key` is its config key.
        pairs: tuple of str. Sizes keras-hub stores as a pair (ViT's square
            `patch_size`).
        given: dict or None. Other config values, checked by the builder.
        defaults: dict or None. Their base model's values.

    With a preset, set values must equal the preset's; without one, unset
    values take the base model's.
    """
    sizes = {name: hparams[name] for name in published}
    check_sizes(**{arg: value for arg, value in sizes.items() if value is not None})
    if hparams["backbone_dropout"] is not None:
        check_rate("backbone_dropout", hparams["backbone_dropout"])
    defaults = {**published, **(defaults or {}), dropout_key: dropout}
    given = {**sizes, **(given or {}), dropout_key: hparams["backbone_dropout"]}
    for key in pairs:
        defaults[key] = [defaults[key]] * 2
        if given[key] is not None:
            given[key] = [given[key]] * 2
    preset = hparams["preset"]
    if preset is None:
        config = {k: (defaults[k] if v is None else v) for k, v in given.items()}
        # A fixed name: keras-hub's default one is made unique per session
        # ("vi_t_backbone_1"), which would make two builds' specs differ.
        name = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", backbone_class).lower()
        return getattr(_keras_hub().models, backbone_class)(name=name, **config)
    backbone = load_preset_backbone(preset, backbone_class)
    stored = to_plain(backbone.get_config())
    for key, value in given.items():
        if value is not None and to_plain(value) != stored.get(key):
            raise ValueError(
                f"Invalid {key}={value!r}: preset {os.fspath(preset)!r} fixes "
                f"{key}={stored.get(key)!r}. Leave {key} unset (None) or equal "
                "to the preset's value."
            )
    return backbone


def _check_head(hparams):
    """Checks a classifier builder's head arguments; returns `include_top`."""
    check_head_args(
        hparams["include_top"],
        hparams["num_classes"],
        None,
        hparams["classifier_activation"],
        hparams["dropout"],
    )
    return hparams["include_top"]


def _hub_inputs(model) -> list:
    """kerasdl inputs named and typed like the keras-hub model's.

    They come in alphabetical order of their names: a spec written as YAML
    sorts its `inputs` mapping, and this order keeps list inputs meaning the
    same after a spec round trip. Dicts keyed by input name work as well.
    """
    struct = model.input
    tensors = (
        struct.values() if isinstance(struct, dict) else keras.tree.flatten(struct)
    )
    return [
        keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name)
        for t in sorted(tensors, key=lambda t: t.name)
    ]


def _wrap(model, inputs, name, output_names=None):
    """Calls `model` inside a HubModel layer on the kerasdl inputs (by name)."""
    names = [t.name for t in keras.tree.flatten(inputs)]
    layer = HubModel(model, input_names=names, output_names=output_names, name=name)
    return layer(inputs)


def _classifier(x, hparams, initializer):
    """The shared classification head on pooled features."""
    head = ClassificationHead(
        True,
        hparams["num_classes"],
        None,
        hparams["classifier_activation"],
        hparams["dropout"],
    )
    return head(x, dropout_name="output_dropout", kernel_initializer=initializer)


def _model(inputs, outputs, name, include_top=True):
    """The adapter's model; without its head it outputs features."""
    model = keras.Model(inputs, outputs, name=name)
    return model if include_top else set_task(model, "features")


# ---------------------------------------------------------------- arguments
# Architecture sizes left at None take the preset's values, or the published
# base model's without a preset: each table below holds those values once,
# for the builder's defaults and for its Args lines.
_BERT_BASE = {
    "vocabulary_size": 30522,
    "num_layers": 12,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "max_sequence_length": 512,
    "num_segments": 2,
}
_GPT2_SMALL = {
    "vocabulary_size": 50257,
    "num_layers": 12,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "max_sequence_length": 1024,
}
_T5_SMALL = {
    "vocabulary_size": 32128,
    "num_layers": 6,
    "num_heads": 8,
    "hidden_dim": 512,
    "intermediate_dim": 2048,
}
_VIT_B16 = {
    "patch_size": 16,
    "num_layers": 12,
    "num_heads": 12,
    "hidden_dim": 768,
    "mlp_dim": 3072,
}
# What each size is, for its Args line.
_SIZE_DOCS = {
    "vocabulary_size": "Token vocabulary size",
    "num_layers": "Transformer layers",
    "num_heads": "Attention heads per layer",
    "hidden_dim": "Hidden size",
    "intermediate_dim": "Feed-forward width",
    "max_sequence_length": "Longest sequence",
    "num_segments": "Segment-id vocabulary size",
    "patch_size": "Square patch size",
    "mlp_dim": "Feed-forward width",
}
_PRESET = {
    "preset": Arg(
        None,
        "str or None. A local keras-hub preset directory (config.json and "
        "model.weights.h5); never a preset name or URL.",
    )
}


def _sections(name: str, model: str) -> dict:
    """The Returns and Raises sections of builder `name` of `model`."""
    return builder_sections(
        name,
        raises="ValueError: for an invalid hyperparameter, a preset that is not a "
        f"local {model} preset directory, or a value contradicting the preset.",
    )


def _size_args(base: str, published: dict, dropout: float, **docs) -> dict:
    """The size arguments (None by default) and `backbone_dropout` of a builder.

    Args:
        base: str. Name of the published base model ("BERT-base").
        published: dict. Its sizes; they appear in the Args lines.
        dropout: float. Its backbone dropout.
        **docs: str. What a size is, where `_SIZE_DOCS` says it too loosely.
    """
    args = {
        name: Arg(
            None, f"int or None. {docs.get(name, _SIZE_DOCS[name])} ({base}: {value})."
        )
        for name, value in published.items()
    }
    args["backbone_dropout"] = Arg(
        None, f"float or None. Dropout inside the backbone ({base}: {dropout})."
    )
    return args


def _head_args(num_classes, classifier_activation, dropout, activation_doc) -> dict:
    """`num_classes`, `classifier_activation` and `dropout` of a classifier."""
    return {
        "num_classes": Arg(num_classes, "int. Number of classes of the classifier."),
        "classifier_activation": Arg(
            classifier_activation,
            f"str or None. Activation of the classifier ({activation_doc}).",
        ),
        "dropout": Arg(
            dropout, "float. Dropout rate before the classifier, in [0, 1)."
        ),
    }


# ---------------------------------------------------------------- BERT
@builder_args(
    _size_args("BERT-base", _BERT_BASE, 0.1, num_layers="Transformer encoder layers"),
    {
        "include_top": Arg(
            True,
            "bool. Add the classifier; if False the model returns the backbone's "
            'dict {"sequence_output", "pooled_output"}.',
        )
    },
    _head_args(2, None, 0.1, 'None: logits, as keras-hub\'s default; "softmax", ...'),
    _PRESET,
    sections=_sections("hub_bert", "BERT"),
)
def hub_bert(hparams):
    """BERT (keras-hub BertBackbone) with a text-classification head.

    Inputs "token_ids", "segment_ids" and "padding_mask" (int, shape
    `(batch, seq)`); the head is keras-hub's BertTextClassifier head
    (dropout, then a Dense layer "predictions" on the pooled [CLS] output).
    Architecture hyperparameters left at None take the preset's values, or
    BERT-base's without a preset.

    Args:
        {args}

    Example:
    >>> model = hub_bert(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                  hidden_dim=16, intermediate_dim=32, num_classes=3)
    """
    include_top = _check_head(hparams)
    backbone = _backbone("BertBackbone", hparams, _BERT_BASE, 0.1)
    inputs = _hub_inputs(backbone)
    if not include_top:
        names = ["sequence_output", "pooled_output"]
        features = _wrap(backbone, inputs, "bert", output_names=names)
        return _model(inputs, dict(zip(names, features)), "hub_bert", False)
    pooled = _wrap(backbone, inputs, "bert", output_names=["pooled_output"])
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    outputs = _classifier(pooled, hparams, init)
    return keras.Model(inputs, outputs, name="hub_bert")


# ---------------------------------------------------------------- GPT-2
@builder_args(
    _size_args(
        "GPT-2 small", _GPT2_SMALL, 0.1, num_layers="Transformer decoder layers"
    ),
    {
        "include_top": Arg(
            True,
            "bool. Return the LM logits; if False the backbone's final hidden "
            "states `(batch, seq, hidden_dim)`.",
        )
    },
    _PRESET,
    sections=_sections("hub_gpt2", "GPT-2"),
)
def hub_gpt2(hparams):
    """GPT-2 (keras-hub GPT2Backbone) with its causal language-model head.

    Inputs "token_ids" and "padding_mask" (int, `(batch, seq)`); the output
    is keras-hub GPT2CausalLM's next-token logits `(batch, seq, vocab)`,
    computed with the token embedding transposed (tied weights). Train with
    `sparse_categorical_crossentropy` and `from_logits=True` on the input
    ids shifted by one. Architecture hyperparameters left at None take the
    preset's values, or GPT-2 small's (124M) without a preset.

    Args:
        {args}

    Example:
    >>> model = hub_gpt2(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                  hidden_dim=16, intermediate_dim=32,
    ...                  max_sequence_length=32)
    """
    include_top = check_bool("include_top", hparams["include_top"])
    backbone = _backbone("GPT2Backbone", hparams, _GPT2_SMALL, 0.1)
    inputs = _hub_inputs(backbone)
    if include_top:
        model = _keras_hub().models.GPT2CausalLM(
            backbone, preprocessor=None, compile=False, name="gpt2_causal_lm"
        )
        outputs = _wrap(model, inputs, "gpt2_causal_lm")
    else:
        outputs = _wrap(backbone, inputs, "gpt2")
    return _model(inputs, outputs, "hub_gpt2", include_top)


# ---------------------------------------------------------------- T5
# T5 v1.0's feed-forward (T5-small's): ReLU, not gated, tied embeddings.
_T5_V1 = {
    "activation": "relu",
    "use_gated_activation": False,
    "tie_embedding_weights": True,
}
_T5_SIZES = _size_args(
    "T5-small", _T5_SMALL, 0.1, num_layers="Layers of the encoder and of the decoder"
)
_T5_BACKBONE_DROPOUT = _T5_SIZES.pop("backbone_dropout")  # after the options


@builder_args(
    _T5_SIZES,
    {
        "key_value_dim": Arg(
            None,
            "int or None. Size of each attention head; None in keras-hub means "
            "hidden_dim / num_heads (T5-small: 64).",
        ),
        "activation": Arg(
            None,
            'str or None. Feed-forward activation (T5 v1.0: "relu"; v1.1: "gelu").',
        ),
        "use_gated_activation": Arg(
            None, "bool or None. Gated feed-forward (T5 v1.0: False; v1.1: True)."
        ),
        "tie_embedding_weights": Arg(
            None,
            "bool or None. Share the token embedding with the LM head (T5 v1.0: True).",
        ),
        "backbone_dropout": _T5_BACKBONE_DROPOUT,
        "include_top": Arg(
            True,
            "bool. Return the LM logits; if False the backbone's dict "
            '{"encoder_sequence_output", "decoder_sequence_output"}.',
        ),
    },
    _PRESET,
    sections=_sections("hub_t5", "T5"),
)
def hub_t5(hparams):
    """T5 (keras-hub T5Backbone) with its sequence-to-sequence LM head.

    Inputs "encoder_token_ids", "encoder_padding_mask", "decoder_token_ids"
    and "decoder_padding_mask" (int, `(batch, seq)`); the output is keras-hub
    T5Seq2SeqLM's decoder logits `(batch, decoder_seq, vocab)`. Train with
    `sparse_categorical_crossentropy` and `from_logits=True`. Architecture
    hyperparameters left at None take the preset's values, or T5-small's
    (v1.0: ReLU, not gated, tied embeddings) without a preset.

    Args:
        {args}

    Example:
    >>> model = hub_t5(vocabulary_size=100, num_layers=1, num_heads=2,
    ...                hidden_dim=16, intermediate_dim=32)
    """
    include_top = check_bool("include_top", hparams["include_top"])
    activation = hparams["activation"]
    if activation is not None and activation not in ("relu", "gelu", "silu"):
        raise ValueError(
            f"Invalid activation={activation!r}. Accepted: None, 'relu', 'gelu', "
            "'silu'."
        )
    options = {name: hparams[name] for name in _T5_V1}
    for arg in ("use_gated_activation", "tie_embedding_weights"):
        if options[arg] is not None:
            check_bool(arg, options[arg])
    backbone = _backbone(
        "T5Backbone",
        hparams,
        # keras-hub's None means hidden_dim / num_heads.
        {**_T5_SMALL, "key_value_dim": None},
        0.1,
        given=options,
        defaults=_T5_V1,
    )
    inputs = _hub_inputs(backbone)
    if include_top:
        model = _keras_hub().models.T5Seq2SeqLM(
            backbone, preprocessor=None, compile=False, name="t5_seq2seq_lm"
        )
        outputs = _wrap(model, inputs, "t5_seq2seq_lm")
        return keras.Model(inputs, outputs, name="hub_t5")
    names = ["encoder_sequence_output", "decoder_sequence_output"]
    features = _wrap(backbone, inputs, "t5", output_names=names)
    return _model(inputs, dict(zip(names, features)), "hub_t5", False)


# ---------------------------------------------------------------- ViT
@builder_args(
    {
        "input_shape": Arg(
            None,
            "tuple or None. Image shape (height, width, channels), multiples of "
            "the patch size (ViT-B/16: (224, 224, 3)).",
        )
    },
    _size_args("ViT-B/16", _VIT_B16, 0.0, num_layers="Transformer encoder layers"),
    {
        "include_top": Arg(
            True,
            "bool. Add the classifier; if False the model returns all final "
            "tokens `(batch, 1 + patches, hidden_dim)`.",
        )
    },
    _head_args(1000, "softmax", 0.0, '"softmax", None for logits, ...'),
    _PRESET,
    sections=_sections("hub_vit", "ViT"),
)
def hub_vit(hparams):
    """Vision Transformer (keras-hub ViTBackbone) with an image-classifier head.

    Input "images" `(batch, height, width, channels)`; the head is keras-hub
    ViTImageClassifier's with `pooling="token"`: the class token's final
    features, optional dropout and a Dense layer "predictions".
    Architecture hyperparameters left at None take the preset's values, or
    ViT-B/16's at 224x224 without a preset (86,567,656 parameters with the
    1000-class head).

    Args:
        {args}

    Example:
    >>> model = hub_vit(input_shape=(32, 32, 3), patch_size=8, num_layers=2,
    ...                 num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10)
    """
    include_top = _check_head(hparams)
    input_shape = hparams["input_shape"]
    if input_shape is not None:
        input_shape = list(check_input_shape(input_shape, rank=3))
    backbone = _backbone(
        "ViTBackbone",
        hparams,
        _VIT_B16,
        0.0,
        dropout_key="dropout_rate",
        pairs=("patch_size",),  # keras-hub stores a pair
        given={"image_shape": input_shape},
        defaults={"image_shape": [224, 224, 3]},
    )
    (inputs,) = _hub_inputs(backbone)
    tokens = _wrap(backbone, inputs, "vit")
    if not include_top:
        return _model(inputs, tokens, "hub_vit", False)
    x = TokenPooling("token", name="class_token_pool")(tokens)
    outputs = _classifier(x, hparams, "glorot_uniform")
    return keras.Model(inputs, outputs, name="hub_vit")


_TEXT_TINY = {
    "vocabulary_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "hidden_dim": 8,
    "intermediate_dim": 16,
    "backbone_dropout": 0.0,
}
register_model(
    "hub_bert",
    hub_bert,
    family="hub",
    tiny={
        **_TEXT_TINY,
        "max_sequence_length": 16,
        "num_segments": 4,  # the sweep's random ids reach 3
        "num_classes": 3,
        "dropout": 0.0,
    },
)
register_model(
    "hub_gpt2",
    hub_gpt2,
    family="hub",
    tiny={**_TEXT_TINY, "max_sequence_length": 16},
    task="language_modeling",
)
register_model(
    "hub_t5",
    hub_t5,
    family="hub",
    tiny=dict(_TEXT_TINY),
    task="language_modeling",
)
register_model(
    "hub_vit",
    hub_vit,
    family="hub",
    tiny=dict(TINY_VIT),
)
