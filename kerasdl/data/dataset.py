"""`Dataset`: train/test arrays with the metadata an export manifest records.

Its own module so that the named loaders (`datasets.py`) and the array/file
sources (`sources.py`) can both build one without importing each other.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["Dataset"]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test dataset held in NumPy arrays, with its metadata.

    Unpacks like the Keras loaders' arrays:
    `x_train, y_train, x_test, y_test = kerasdl.data.load("digits")`.

    Attributes:
        x_train: np.ndarray. Training inputs, shape (N, *input_shape).
        y_train: np.ndarray. Training labels, int32 class indices, shape (N,).
        x_test: np.ndarray. Test inputs.
        y_test: np.ndarray. Test labels.
        num_classes: int. Number of classes.
        class_names: tuple of str. Name of each class index.
        input_shape: tuple of int. Shape of one input (no batch axis).
        name: str. Dataset name.
        preprocessing: dict. JSON-serializable record of what was done to the
            raw inputs. Keys used by kerasdl: "scale" and "offset" (model input
            = raw * scale + offset; a float, or one value per feature),
            "layout" ("HWC" images, "TC" time steps x channels, "T" flat
            series, "features" tabular rows, "flat" flattened images,
            "tokens" integer word indices), "dtype", "raw_range", and
            "resize" ({"size": [h, w], "method": ...}) when images were
            resized.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple
    input_shape: tuple
    name: str
    preprocessing: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if len(x) != len(y):
                raise ValueError(
                    f"x_{part} and y_{part} must hold the same number of "
                    f"samples; received {len(x)} and {len(y)}."
                )
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(
            self,
            "input_shape",
            tuple(None if d is None else int(d) for d in self.input_shape),
        )
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names must name every class: num_classes="
                f"{self.num_classes} but received {len(self.class_names)} names."
            )
        try:
            json.dumps(self.preprocessing)
        except TypeError as error:
            raise ValueError(
                "preprocessing must be JSON-serializable (it goes into the "
                f"export manifest); received {self.preprocessing!r}: {error}"
            ) from None

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape}, num_classes={self.num_classes}, "
            f"input_shape={self.input_shape})"
        )

    def metadata(self) -> dict[str, Any]:
        """What an export manifest records about the data (JSON-serializable).

        Returns:
            dict with "name", "input_shape", "num_classes", "class_names",
            "preprocessing", "num_train" and "num_test".

        Example:
        >>> kerasdl.data.load("digits").metadata()["preprocessing"]["scale"]
        0.0625
        """
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "preprocessing": dict(self.preprocessing),
            "num_train": len(self.x_train),
            "num_test": len(self.x_test),
        }
