"""kerasdl.generative.sample: one argument check for every generative family."""

import numpy as np
import pytest

from kerasdl.generative import check_labels, sample


class _Protocol:
    """The smallest model that follows the sampling protocol."""

    def __init__(self, num_classes=None, sampling_steps=None):
        self.num_classes = num_classes
        self.sampling_steps = sampling_steps
        self.calls = []

    def generate(self, n, labels=None, seed=None, steps=None, guidance=None):
        self.calls.append(
            dict(n=n, labels=labels, seed=seed, steps=steps, guidance=guidance)
        )
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, 4, 4, 1))


def test_sample_passes_checked_arguments():
    model = _Protocol(num_classes=10, sampling_steps=50)
    images = sample(model, 3, labels=[0, 9, 4], seed=5, steps=10, guidance=2)
    assert images.shape == (3, 4, 4, 1) and images.dtype == np.float32
    call = model.calls[-1]
    np.testing.assert_array_equal(call["labels"], [0, 9, 4])
    assert call["labels"].dtype == np.int32
    assert (call["steps"], call["guidance"], call["seed"]) == (10, 2.0, 5)
    sample(model, 4, labels=7)
    np.testing.assert_array_equal(model.calls[-1]["labels"], [7, 7, 7, 7])
    assert sample(model, 0).shape == (0, 4, 4, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=-1), r"n=-1: expected an integer >= 0"),
        (dict(n=2, steps=0), r"steps=0: expected an integer >= 1"),
        (dict(n=2, steps=-3), r"steps=-3"),
        (dict(n=2, guidance=-1.0), r"guidance=-1.0"),
        (dict(n=2, labels=[0, 10]), r"labels=10: expected class ids in \[0, 9\]"),
        (dict(n=2, labels=-1), r"labels=-1: expected class ids in \[0, 9\]"),
        (dict(n=2, labels=[1, 2, 3]), r"shape \(2,\)"),
        (dict(n=2, seed=-4), r"seed=-4"),
    ],
)
def test_sample_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample(_Protocol(num_classes=10, sampling_steps=20), **kwargs)


def test_unconditional_and_one_shot_models_refuse_what_they_cannot_use():
    one_shot = _Protocol()
    with pytest.raises(
        ValueError, match=r"guidance=3.0: expected None: guidance needs"
    ):
        sample(one_shot, 2, guidance=3.0)
    with pytest.raises(
        ValueError, match=r"labels=\[1, 2\]: expected None: the model is unconditional"
    ):
        sample(one_shot, 2, labels=[1, 2])
    with pytest.raises(
        ValueError, match=r"steps=10: expected None: _Protocol samples in one shot"
    ):
        sample(one_shot, 2, steps=10)
    with pytest.raises(TypeError, match="sampling protocol"):
        sample(object(), 2)
    assert one_shot.calls == []


def test_same_seed_same_images():
    model = _Protocol()
    np.testing.assert_array_equal(sample(model, 3, seed=1), sample(model, 3, seed=1))
    assert not np.array_equal(sample(model, 3, seed=1), sample(model, 3, seed=2))


def test_check_labels_none_passes_through():
    assert check_labels(None, 3, 10) is None
