"""Transfer learning: backbones, block discovery, freezing and fine-tuning.

- `backbone(name_or_model, input_shape, weights)` builds a headless feature
  extractor from a kerasdl CNN name or a keras.applications name.
- `blocks(model)` lists the backbone's blocks, recognised from layer names.
- `freeze(model)` / `unfreeze(model, last_n_blocks)` set what fine-tuning
  trains; batch normalization stays frozen (and in inference mode) by default.
- Registered builders: "transfer" (a backbone plus a new classification head
  in one flat functional graph) and "keras_application" (any keras.applications
  model as a plain functional model).

Weights are never downloaded: pass None or the path of a local file, e.g. the
file keras.applications would have fetched into ~/.keras/models/. Models from
keras.applications get session-independent names for the layers it leaves
unnamed, so two builds give the same graph and the same spec.
"""

from __future__ import annotations

import inspect
import os
import re

import keras
from keras import layers

from kerasdl._checks import closest
from kerasdl.models._common import (
    TINY_IMAGE,
    check_activation,
    check_activation_or_softmax,
    check_choice,
    check_input_shape,
    check_int,
    check_int_list,
    check_rate,
    dense_stack,
    leaf_layers,
    load_weights,
)
from kerasdl.models.heads import POOLINGS, ClassificationHead, pool
from kerasdl.models.layout import image_builder
from kerasdl.registry import build_model, get_entry, list_models, register_model

__all__ = [
    "BLOCK_PATTERNS",
    "application_names",
    "backbone",
    "backbone_names",
    "block_of",
    "blocks",
    "freeze",
    "keras_application",
    "transfer",
    "unfreeze",
]

# Block names recognised in layer names, tried in order; the first pattern that
# matches a layer name gives its block (re.Match.expand of the template).
# A layer matching none (stem, transitions, auto-named convs, heads) has no
# block of its own.
BLOCK_PATTERNS = (
    # ResNet / ResNetV2 / DenseNet: "conv2_block1_1_conv" -> "conv2_block1".
    (re.compile(r"^(conv\d+_block\d+)_"), r"\1"),
    # Generic kerasdl "stage2_block1_conv1", ConvNeXt
    # "convnext_tiny_stage_0_block_0_...", RegNet "..._Stage_0_XBlock_0_...".
    (re.compile(r"(?:^|_)(stage_?\d+_[a-z]?block_?\d+)(?:_|$)", re.I), r"\1"),
    # EfficientNet (V1 and V2): "block1a_dwconv" -> "block1a".
    (re.compile(r"^(block\d+[a-z])_"), r"\1"),
    # MobileNetV2: "block_1_expand" -> "block_1".
    (re.compile(r"^(block_\d+)_"), r"\1"),
    # MobileNetV2's first block "expanded_conv_depthwise", MobileNetV3
    # "expanded_conv_3_expand" -> "expanded_conv", "expanded_conv_3".
    (re.compile(r"^(expanded_conv(?:_\d+)?)_"), r"\1"),
    # InceptionResNetV2: "block35_1_conv", "block35_1" -> "block35_1".
    (re.compile(r"^(block\d+_\d+)(?:_|$)"), r"\1"),
    # VGG, Xception: "block1_conv1" -> "block1".
    (re.compile(r"^(block\d+)_"), r"\1"),
    # MobileNet v1: "conv_pad_2", "conv_dw_2_bn", "conv_pw_2" -> "conv_pw_2".
    (re.compile(r"^conv_(?:dw|pw|pad)_(\d+)(?:_|$)"), r"conv_pw_\1"),
    # InceptionV3 "mixed3", InceptionResNetV2 "mixed_6a": the block's final
    # concat. Its auto-named convs ("conv2d_12") and inner concats ("mixed9_1",
    # inside mixed10) precede it and carry no block of their own: a block
    # spans from the end of the previous one (see `unfreeze`).
    (re.compile(r"^(mixed_?\d+[a-z]?)$"), r"\1"),
    # GoogLeNet: "inception3a_1x1" -> "inception3a".
    (re.compile(r"^(inception_?\d[a-z])(?:_|$)"), r"\1"),
)

# Layers of a new head: always trainable under `unfreeze` ("predictions" is the
# shared classifier's name, "head_*" the transfer builder's hidden layers).
_HEAD = re.compile(r"^(?:head_.*|predictions)$")

_NEVER_DOWNLOAD = (
    "kerasdl never downloads weights. Pass {arg}=None or the path of a local "
    "weights file, e.g. {arg}='~/.keras/models/<file>.h5' (the file "
    "keras.applications would download: fetch it once yourself and pass its "
    "path)."
)


# ---------------------------------------------------------------- names
def application_names() -> list[str]:
    """Names of the keras.applications model functions ("ResNet50", ...)."""
    return sorted(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def backbone_names() -> list[str]:
    """kerasdl registered names that can serve as backbones (have include_top)."""
    return [
        name
        for name in list_models()
        if "include_top" in inspect.signature(get_entry(name).builder).parameters
        and name != "keras_application"
    ]


def _normalized(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _application(name: str) -> str | None:
    """The keras.applications name for `name` (case, "_", "-" ignored)."""
    apps = application_names()
    if name in apps:
        return name
    matches = [app for app in apps if _normalized(app) == _normalized(name)]
    return matches[0] if len(matches) == 1 else None


def _resolve(name: str, arg: str = "backbone") -> tuple[str, str]:
    """Returns ("keras.applications" or "kerasdl", canonical name).

    Lookup order: an exact keras.applications name ("ResNet50"), then a
    kerasdl registered name (case-insensitive: "resnet50"), then a
    keras.applications name ignoring case, "_" and "-" ("mobilenet_v3_small"
    -> "MobileNetV3Small").
    """
    if not isinstance(name, str):
        raise ValueError(
            f"Invalid {arg}={name!r}: expected a kerasdl or keras.applications "
            "model name (str)."
        )
    if name in application_names():
        return "keras.applications", name
    ours = backbone_names()
    if name.lower() in ours:
        return "kerasdl", name.lower()
    if name.lower() in list_models():
        raise ValueError(
            f"Invalid {arg}={name!r}: this kerasdl model is not a backbone (its "
            "builder has no include_top). Backbones: " + ", ".join(ours) + "."
        )
    app = _application(name)
    if app is not None:
        return "keras.applications", app
    apps = application_names()
    raise ValueError(
        f"Unknown {arg} {name!r}.{closest(name, ours + apps)} "
        f"kerasdl backbones: {', '.join(ours)}. "
        f"keras.applications: {', '.join(apps)}."
    )


def _weights_path(weights, arg: str = "weights") -> str | None:
    """Returns None or an existing local file path; refuses downloads."""
    if weights is None:
        return None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise ValueError(
            f"Invalid {arg}={weights!r}: " + _NEVER_DOWNLOAD.format(arg=arg)
        )
    if isinstance(weights, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(weights))
        if os.path.isfile(path):
            return path
    raise ValueError(
        f"Invalid {arg}={weights!r}: no such local file. "
        + _NEVER_DOWNLOAD.format(arg=arg)
    )


def _application_kwargs(fn, kwargs: dict, fixed: tuple, arg: str) -> dict:
    """Validates extra keyword arguments of a keras.applications function."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"Invalid {arg}={kwargs!r}: expected a dict or None.")
    accepted = [p for p in inspect.signature(fn).parameters if p not in fixed]
    for key in kwargs:
        if key not in accepted:
            raise ValueError(
                f"Unknown hyperparameter {key!r} in {arg} for keras.applications."
                f"{fn.__name__}.{closest(key, accepted)} "
                f"Accepted: {', '.join(accepted)}."
            )
    return dict(kwargs)


def _snake_case(name: str) -> str:
    # The rule Keras uses to name a layer after its class ("Conv2D" -> "conv2d").
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _stable_names(model):
    """Clone of a keras.applications model whose names do not depend on history.

    keras.applications leaves some layers unnamed (the input, InceptionV3's
    "conv2d_12", MobileNetV2's "global_average_pooling2d"), and Keras numbers
    such names per session, so two builds of one architecture would differ
    (and so would their specs). The clone names them in graph order as a
    fresh session would, and its input "input" as kerasdl's builders do.
    Weights are not copied: load them afterwards.
    """
    counts: dict[str, int] = {}

    def rename(layer):
        config = layer.get_config()
        base = _snake_case(type(layer).__name__)
        if re.fullmatch(rf"{re.escape(base)}(?:_\d+)?", layer.name):
            k = counts.get(base, 0)
            counts[base] = k + 1
            config["name"] = base if k == 0 else f"{base}_{k}"
        return type(layer).from_config(config)

    inputs = keras.Input(shape=model.input_shape[1:], name="input")
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=rename)


# ---------------------------------------------------------------- backbone
def _build_backbone(
    name_or_model,
    input_shape,
    weights,
    hparams: dict,
    weights_arg: str = "weights",
    hparams_arg: str = "hparams",
):
    """`backbone()`, with the argument names its errors should quote."""
    hparams = dict(hparams)
    path = _weights_path(weights, weights_arg)
    if isinstance(name_or_model, keras.Model):
        if hparams:
            raise ValueError(
                "Hyperparameters apply only when the backbone is given by name; "
                f"received {sorted(hparams)} with a keras.Model."
            )
        if input_shape is not None and tuple(name_or_model.input_shape[1:]) != (
            tuple(input_shape)
        ):
            raise ValueError(
                f"Invalid input_shape={tuple(input_shape)!r}: the given model "
                f"takes {tuple(name_or_model.input_shape[1:])!r}."
            )
        return load_weights(name_or_model, path)
    source, name = _resolve(name_or_model, "backbone")
    if input_shape is not None:
        input_shape = check_input_shape(input_shape, rank=3)
    if source == "kerasdl":
        for fixed in ("include_top", "weights"):
            if fixed in hparams:
                raise ValueError(
                    f"Hyperparameter {fixed!r} in {hparams_arg} is set by "
                    f"backbone(); received {fixed}={hparams[fixed]!r}."
                )
        if input_shape is not None:
            hparams["input_shape"] = input_shape
        model = build_model(name, include_top=False, **hparams)
        return load_weights(model, path)
    fn = getattr(keras.applications, name)
    kwargs = _application_kwargs(
        fn,
        hparams,
        (
            "include_top",
            "weights",
            "input_tensor",
            "input_shape",
            "classes",
            "classifier_activation",
        ),
        hparams_arg,
    )
    model = fn(include_top=False, weights=None, input_shape=input_shape, **kwargs)
    return load_weights(_stable_names(model), path)


def backbone(name_or_model, input_shape=None, weights=None, **hparams):
    """Builds a headless backbone (feature extractor) for transfer learning.

    Names are looked up in this order: an exact keras.applications function
    name ("ResNet50", "MobileNetV2", "EfficientNetB0", ...), a kerasdl
    registered CNN name (case-insensitive: "resnet50", "mobilenet_v2"), then a
    keras.applications name ignoring case, "_" and "-" ("mobilenet_v3_small").
    kerasdl models are built with include_top=False through the registry;
    keras.applications ones with include_top=False and weights=None or the
    given local file.

    Args:
        name_or_model: str or keras.Model. A model name, or a model to return
            as is (optionally loading `weights` into it).
        input_shape: tuple or None. Input (height, width, channels); None keeps
            the builder's default.
        weights: str or None. None or the path of a local weights file
            (.weights.h5, .keras, or a keras.applications .h5 file). Never
            "imagenet": kerasdl does not download.
        **hparams: Extra hyperparameters of the builder (e.g. alpha=0.35).

    Returns:
        keras.Model without classifier, whose output is the last feature map.

    Raises:
        ValueError: for an unknown name (with the closest matches),
            weights="imagenet" or a missing file, or invalid hyperparameters.

    Example:
    >>> bb = backbone("MobileNetV2", (96, 96, 3), alpha=0.35)
    >>> bb.output_shape
    (None, 3, 3, 1280)
    """
    return _build_backbone(name_or_model, input_shape, weights, hparams)


# ---------------------------------------------------------------- blocks
def block_of(layer_name: str) -> str | None:
    """Returns the block a layer name belongs to, or None (see BLOCK_PATTERNS)."""
    for pattern, template in BLOCK_PATTERNS:
        match = pattern.search(layer_name)
        if match:
            return match.expand(template)
    return None


def blocks(model) -> list[str]:
    """Lists a backbone's blocks, in graph order, from its layer names.

    Recognised names (`BLOCK_PATTERNS`, first match wins):
    "conv2_block1" (ResNet, DenseNet: `^(conv\\d+_block\\d+)_`),
    "stage2_block1" (generic kerasdl, ConvNeXt, RegNet),
    "block1a" (EfficientNet: `^(block\\d+[a-z])_`),
    "block_1" and "expanded_conv" (MobileNetV2: `^(block_\\d+)_`),
    "block35_1" (InceptionResNetV2), "block1" (VGG, Xception:
    `^(block\\d+)_`), "conv_pw_1" (MobileNet v1: `^conv_(dw|pw|pad)_(\\d+)`),
    "mixed3" (InceptionV3: `^(mixed_?\\d+[a-z]?)$`) and "inception3a"
    (GoogLeNet). Stems, transitions and heads belong to no block.

    Args:
        model: keras.Model. A backbone or a model built on one (nested
            sub-models are searched too).

    Returns:
        list of block names, e.g. ["conv2_block1", ..., "conv5_block3"].

    Example:
    >>> blocks(keras.applications.VGG16(weights=None, include_top=False))
    ['block1', 'block2', 'block3', 'block4', 'block5']
    """
    names: list[str] = []
    for layer in leaf_layers(model):
        block = block_of(layer.name)
        if block is not None and block not in names:
            names.append(block)
    return names


# ---------------------------------------------------------------- freezing
def freeze(model):
    """Freezes a whole model (`model.trainable = False`).

    Frozen BatchNormalization layers also run in inference mode (Keras 3), so
    their moving statistics stay as loaded. Recompile after changing what is
    trainable.

    Args:
        model: keras.Model. The model to freeze.

    Returns:
        The same model.

    Example:
    >>> freeze(bb).trainable_weights
    []
    """
    model.trainable = False
    return model


def unfreeze(model, last_n_blocks: int, train_batch_norm: bool = False):
    """Makes the last N blocks (and every layer after them) trainable.

    Everything before them is frozen. A block spans from the layer after the
    previous block's last layer to its own last layer (`blocks`), so a block's
    auto-named layers (InceptionV3's "conv2d_12") go with it, and the last
    block extends over the backbone's top layers ("Conv_1", "top_conv").
    last_n_blocks=0 leaves only the new head trainable (layers named
    "predictions" or "head_*", as the "transfer" builder names them, are
    always trainable); last_n_blocks >= number of blocks unfreezes everything,
    stem included. BatchNormalization layers stay frozen (trainable=False,
    which in Keras 3 also means inference mode) unless `train_batch_norm`.
    Recompile after calling this.

    Args:
        model: keras.Model. A backbone or a model built on one.
        last_n_blocks: int. Number of blocks to fine-tune, counted from the end.
        train_batch_norm: bool. Also train (and update the statistics of) the
            BatchNormalization layers of the unfrozen blocks.

    Returns:
        The same model.

    Raises:
        ValueError: for a negative count, or a positive count when no block is
            recognised in the layer names.

    Example:
    >>> unfreeze(model, 2)  # fine-tune the last two blocks and the head
    """
    check_int("last_n_blocks", last_n_blocks, minimum=0)
    if not isinstance(train_batch_norm, bool):
        raise ValueError(
            f"Invalid train_batch_norm={train_batch_norm!r}: expected a bool."
        )
    flat = leaf_layers(model)
    names = blocks(model)
    if last_n_blocks and not names:
        raise ValueError(
            f"Invalid last_n_blocks={last_n_blocks}: no block recognised in the "
            f"layer names of model {model.name!r} (see kerasdl BLOCK_PATTERNS)."
        )
    if last_n_blocks == 0:
        start = len(flat)
    elif last_n_blocks >= len(names):
        start = 0
    else:
        previous = names[len(names) - last_n_blocks - 1]
        start = 1 + max(
            i for i, layer in enumerate(flat) if block_of(layer.name) == previous
        )
    model.trainable = True  # containers trainable; leaves set one by one below
    for i, layer in enumerate(flat):
        train = i >= start or bool(_HEAD.match(layer.name))
        if isinstance(layer, layers.BatchNormalization) and not train_batch_norm:
            train = False
        layer.trainable = train
    return model


# ---------------------------------------------------------------- builders
@image_builder
def transfer(
    backbone: str = "mobilenet_v2",
    input_shape=(224, 224, 3),
    num_classes: int = 2,
    backbone_weights: str | None = None,
    trainable_blocks: int = 0,
    train_batch_norm: bool = False,
    pooling: str = "avg",
    dropout: float = 0.2,
    hidden_units=(),
    activation: str = "relu",
    classifier_activation: str | None = "softmax",
    weights: str | None = None,
    backbone_hparams: dict | None = None,
    data_format: str | None = None,
):
    """Transfer learning classifier: a (pre-trained) backbone and a new head.

    One flat functional graph: the backbone's layers followed by pooling
    ("avg_pool"), optional hidden Dense layers ("head_dense1", ...), dropout
    ("top_dropout") and the classifier ("predictions"); no nested sub-model,
    so it summarizes, exports and prunes by layer name. The backbone is frozen
    except its last `trainable_blocks` blocks (see `unfreeze`); its batch
    normalization layers stay frozen, in inference mode.

    Args:
        backbone: str. kerasdl CNN name or keras.applications name (see
            `backbone()` for the lookup order).
        input_shape: tuple. Input (height, width, channels).
        num_classes: int. Number of classes of the new task.
        backbone_weights: str or None. Local weights file of the headless
            backbone (e.g. ~/.keras/models/<file>_notop.h5); never "imagenet".
        trainable_blocks: int. Number of last backbone blocks to fine-tune.
        train_batch_norm: bool. Also train the BatchNormalization layers of
            those blocks (by default they stay frozen, in inference mode).
        pooling: str. "avg", "max" or "flatten" over the feature map.
        dropout: float. Dropout rate after each hidden layer and before the
            classifier.
        hidden_units: list. Widths of hidden Dense layers of the head.
        activation: str. Activation of the hidden Dense layers.
        classifier_activation: str or None. Activation of the classifier.
        weights: str or None. Local weights file of the whole model.
        backbone_hparams: dict or None. Extra backbone hyperparameters (e.g.
            {"alpha": 0.35}).

    Returns:
        keras.Model named "transfer".

    Raises:
        ValueError: if a hyperparameter is invalid (the message names it).

    Example:
    >>> model = kerasdl.build("transfer", backbone="MobileNetV2",
    ...                       input_shape=(96, 96, 3), num_classes=5,
    ...                       backbone_hparams={"alpha": 0.35})
    """
    _resolve(backbone, "backbone")
    check_input_shape(input_shape, rank=3)
    check_int("num_classes", num_classes, minimum=1)
    _weights_path(backbone_weights, "backbone_weights")
    check_int("trainable_blocks", trainable_blocks, minimum=0)
    if not isinstance(train_batch_norm, bool):
        raise ValueError(
            f"Invalid train_batch_norm={train_batch_norm!r}: expected a bool."
        )
    check_choice("pooling", pooling, [p for p in POOLINGS if p is not None])
    check_rate("dropout", dropout)
    units = (
        [] if hidden_units in ((), []) else check_int_list("hidden_units", hidden_units)
    )
    check_activation(activation)
    if classifier_activation is not None:
        check_activation_or_softmax(classifier_activation)
    path = _weights_path(weights)
    if backbone_hparams is not None and not isinstance(backbone_hparams, dict):
        raise ValueError(
            f"Invalid backbone_hparams={backbone_hparams!r}: expected a dict or None."
        )
    for key in ("pooling", "name", "input_shape"):
        if key in (backbone_hparams or {}):
            raise ValueError(
                f"Invalid backbone_hparams={backbone_hparams!r}: {key!r} is set by "
                "the transfer builder (use its own hyperparameter)."
            )

    bb = _build_backbone(
        backbone,
        input_shape,
        backbone_weights,
        backbone_hparams or {},
        "backbone_weights",
        "backbone_hparams",
    )
    x = pool(bb.output, pooling)
    x = dense_stack(
        x,
        units,
        "head_dense{i}",
        act_name="head_act{i}",
        dropout_name="head_dropout{i}",
        activation=activation,
        dropout=dropout,
    )
    head = ClassificationHead(True, num_classes, None, classifier_activation, dropout)
    model = keras.Model(bb.input, head(x), name="transfer")
    unfreeze(model, trainable_blocks, train_batch_norm=train_batch_norm)
    return load_weights(model, path)


@image_builder
def keras_application(
    application: str = "MobileNetV2",
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    weights: str | None = None,
    application_kwargs: dict | None = None,
    data_format: str | None = None,
):
    """Any keras.applications model, with random or local weights.

    The model is keras.applications' functional graph (same layers and
    parameters, no nesting), with two differences: the weights come from None
    or a local file, never a download; and the layers keras.applications
    leaves unnamed (the input, "conv2d_12", ...) are named as in a fresh Keras
    session, so every build (and its spec) is identical. The input is "input".

    Args:
        application: str. keras.applications function name ("ResNet50",
            "MobileNetV2", "EfficientNetB0", ...); case, "_" and "-" ignored.
        input_shape: tuple. Input (height, width, channels).
        num_classes: int. Number of classes of the classifier.
        include_top: bool. Add keras.applications' classifier head.
        pooling: str or None. None, "avg" or "max" when include_top=False.
        classifier_activation: str or None. Activation of the classifier.
        weights: str or None. None or the path of a local weights file (e.g.
            ~/.keras/models/<file>.h5); never "imagenet".
        application_kwargs: dict or None. Extra arguments of the function
            (e.g. {"alpha": 0.35} for MobileNetV2).

    Returns:
        keras.Model as keras.applications names it (e.g. "mobilenetv2_1.00_224").

    Raises:
        ValueError: for an unknown application (with the closest names),
            weights="imagenet" or a missing file, or invalid arguments.

    Example:
    >>> model = kerasdl.build("keras_application", application="ResNet50",
    ...                       input_shape=(64, 64, 3), num_classes=10)
    """
    name = _application(application) if isinstance(application, str) else None
    if name is None:
        apps = application_names()
        raise ValueError(
            f"Invalid application={application!r}.{closest(str(application), apps)}"
            f" Accepted (keras.applications): {', '.join(apps)}."
        )
    check_input_shape(input_shape, rank=3)
    check_int("num_classes", num_classes, minimum=1)
    if not isinstance(include_top, bool):
        raise ValueError(f"Invalid include_top={include_top!r}: expected a bool.")
    check_choice("pooling", pooling, (None, "avg", "max"))
    if classifier_activation is not None:
        check_activation_or_softmax(classifier_activation)
    path = _weights_path(weights)
    fn = getattr(keras.applications, name)
    kwargs = _application_kwargs(
        fn,
        application_kwargs,
        (
            "include_top",
            "weights",
            "input_tensor",
            "input_shape",
            "pooling",
            "classes",
            "classifier_activation",
        ),
        "application_kwargs",
    )
    model = fn(
        include_top=include_top,
        weights=None,
        input_shape=tuple(input_shape),
        pooling=pooling,
        classes=num_classes,
        classifier_activation=classifier_activation,
        **kwargs,
    )
    return load_weights(_stable_names(model), path)


register_model(
    "transfer",
    transfer,
    family="transfer",
    # CIFAR ResNet-20 with its last block trainable. An untrained backbone with
    # frozen BN (inference mode) does not normalize its features, so a softmax
    # head can saturate and stop its kernel from training in one step: the
    # tiny instance outputs logits.
    tiny={
        **TINY_IMAGE,
        "backbone": "resnet20",
        "backbone_hparams": {"base_filters": 8},
        "classifier_activation": None,
        "trainable_blocks": 1,
    },
)
register_model(
    "keras_application",
    keras_application,
    family="transfer",
    tiny={
        **TINY_IMAGE,
        "application": "MobileNetV2",
        "application_kwargs": {"alpha": 0.35},
    },
)
