"""Registry listing, wildcard matching and model_info."""

import pytest

import kerasdl


def test_list_models_wildcards():
    assert kerasdl.list_models("vgg*") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert kerasdl.list_models("RESNET2?") == ["resnet20"]
    assert "resnet50" in kerasdl.list_models("res*")
    assert kerasdl.list_models("no_such_*") == []
    assert kerasdl.list_models(family="densenet") == [
        "densenet121",
        "densenet169",
        "densenet201",
    ]


def test_every_curriculum_family_is_listed():
    names = set(kerasdl.list_models())
    expected = {
        "perceptron",
        "mlp",
        "lenet5",
        "alexnet",
        "vgg11",
        "vgg13",
        "vgg16",
        "vgg19",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnet18v2",
        "resnet34v2",
        "resnet50v2",
        "resnet101v2",
        "resnet152v2",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
        "densenet121",
        "densenet169",
        "densenet201",
        "googlenet",
        "inception_v3",
        "mobilenet",
        "mobilenet_v2",
        "unet",
        "fcn",
        "transfer",
        "keras_application",
        "dilated_cnn",
    } | {f"efficientnet_b{i}" for i in range(8)}
    assert expected <= names, sorted(expected - names)


def test_model_info_lists_defaults_docs_and_presets():
    info = kerasdl.model_info("vgg16")
    assert info["family"] == "classic_cnn"
    assert info["presets"] == {"depth": 16}
    hp = info["hyperparameters"]
    assert "depth" not in hp
    assert hp["num_classes"]["default"] == 1000
    assert hp["num_classes"]["doc"]
    assert {
        "input_shape",
        "include_top",
        "pooling",
        "classifier_activation",
        "weights",
    } <= set(hp)


def test_model_info_unknown_name():
    with pytest.raises(
        ValueError, match=r"Unknown architecture 'lenet'\. Did you mean 'lenet5'"
    ):
        kerasdl.model_info("lenet")


def test_register_model_refuses_duplicates_and_unknown_presets():
    from kerasdl.registry import register_model

    def builder(width=2):
        """A toy builder."""

    with pytest.raises(ValueError, match=r"already registered"):
        register_model("mlp", builder, family="mlp")
    with pytest.raises(
        ValueError, match=r"presets of 'toy' name unknown hyperparameters \['depth'\]"
    ):
        register_model("toy", builder, family="toy", presets={"depth": 3})
