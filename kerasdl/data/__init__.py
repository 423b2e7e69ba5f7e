"""Data for kerasdl: offline datasets, your own sources, pipelines, augmentation.

Example:
>>> import kerasdl.data
>>> data = kerasdl.data.load("digits", image_size=32)   # LeNet-5 input
>>> train = kerasdl.data.make_pipeline(
...     data.x_train, data.y_train, batch_size=64, seed=0,
...     augment=[{"rotation": 0.05}, {"zoom": 0.1}])
>>> model.fit(train, validation_data=(data.x_test, data.y_test), epochs=10)
"""

from kerasdl.data.augmentation import list_augmentations, make_augmentation
from kerasdl.data.dataset import Dataset
from kerasdl.data.datasets import list_datasets, load
from kerasdl.data.keras_cache import DatasetNotFoundError, cache_dir, load_word_index
from kerasdl.data.pipeline import ArrayPyDataset, make_pipeline
from kerasdl.data.sources import from_arrays, from_csv, from_image_folder, split
from kerasdl.data.text import list_corpora, lm_dataset, load_corpus

__all__ = [
    "ArrayPyDataset",
    "Dataset",
    "DatasetNotFoundError",
    "cache_dir",
    "from_arrays",
    "from_csv",
    "from_image_folder",
    "list_augmentations",
    "list_corpora",
    "list_datasets",
    "lm_dataset",
    "load",
    "load_corpus",
    "load_word_index",
    "make_augmentation",
    "make_pipeline",
    "split",
]
