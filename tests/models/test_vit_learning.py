"""A small ViT learns sklearn's 8x8 digits through the Trainer (slow)."""

import numpy as np
import pytest

import kerasdl
from kerasdl.training import Trainer


@pytest.mark.slow
def test_vit_learns_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]  # (1797, 8, 8, 1)
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    # Patch size 2 on 8x8 images: 16 patch tokens plus the class token.
    model = kerasdl.build(
        "vit",
        input_shape=(8, 8, 1),
        patch_size=2,
        hidden_dim=32,
        num_layers=2,
        num_heads=4,
        mlp_dim=64,
        num_classes=10,
    )
    epochs = 20
    steps = int(np.ceil(len(x_train) / 32)) * epochs
    trainer = Trainer(
        {
            "epochs": epochs,
            "batch_size": 32,
            "seed": 0,
            "verbose": 0,
            "optimizer": {
                "name": "adamw",
                "weight_decay": 1e-4,
                "learning_rate": {
                    "name": "warmup_cosine",
                    "learning_rate": 3e-3,
                    "warmup_steps": steps // 10,
                    "decay_steps": steps,
                },
            },
        }
    )
    history = trainer.fit(model, x_train, y_train)
    predictions = trainer.model.predict(x_test, verbose=0)
    accuracy = float(np.mean(np.argmax(predictions, axis=-1) == y_test))
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    assert accuracy >= 0.90, f"test accuracy {accuracy:.3f}"
