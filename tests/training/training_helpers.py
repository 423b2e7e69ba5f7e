"""Callbacks shared by the training tests."""

import keras


class Snapshots(keras.callbacks.Callback):
    """Weights after every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = self.model.get_weights()


class StopAt(keras.callbacks.Callback):
    """Raises at the start of epoch `epoch`, simulating a killed run."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated kill")
