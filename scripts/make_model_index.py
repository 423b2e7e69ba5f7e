"""Writes kerasdl/model_index.json: what `kerasdl list` prints without Keras.

Run it after registering, renaming or re-describing an architecture:

    python scripts/make_model_index.py

tests/test_cli.py fails while the file differs from the live registry.
"""

from __future__ import annotations

import pathlib

import kerasdl  # registers every family
from kerasdl._io import write_json_atomic
from kerasdl.registry import model_index

PATH = pathlib.Path(kerasdl.__file__).resolve().parent / "model_index.json"


def main() -> None:
    index = model_index()
    write_json_atomic(PATH, index)
    print(f"{len(index)} architectures written to {PATH}")


if __name__ == "__main__":
    main()
