"""Keras callbacks of a training run: stop on a non-finite loss, stop at a step, throughput,
samples."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras

from tfglow.recipe import sample_pictures

LOSS_KEY = "bits_per_dim"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


def _step(model: tf_keras.Model) -> int:
    """The global step: optimizer updates so far (carried on by checkpoints)."""
    return int(model.optimizer.iterations.numpy())


class NonFiniteLossStop(tf_keras.callbacks.Callback):
    """Raises `NonFiniteLossError` as soon as the training (or held-out) bits/dim is NaN or
    infinite.

    Put it before the checkpoint callback: the exception ends `fit` before anything else sees the
    step, so the bad weights are never saved (`CheckpointEvery` also refuses non-finite weights).
    """

    def __init__(self, describe_last_checkpoint=None):
        """Args:
        describe_last_checkpoint: `None`, or a callable returning a sentence about the last good
          checkpoint, appended to the error message.
        """
        super().__init__()
        self._supports_tf_logs = True
        self._describe_last_checkpoint = describe_last_checkpoint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get(LOSS_KEY, 0.0))
        if not math.isfinite(loss):
            self._stop(
                f"the loss ({LOSS_KEY}) became {loss} at step {_step(self.model)} "
                f"(epoch {self._epoch + 1}, batch {batch + 1})"
            )

    def on_epoch_end(self, epoch, logs=None):
        # An update can leave non-finite weights behind a finite loss; the held-out loss shows it.
        loss = float((logs or {}).get("val_" + LOSS_KEY, 0.0))
        if not math.isfinite(loss):
            self._stop(
                f"the held-out loss (val_{LOSS_KEY}) became {loss} after step {_step(self.model)} "
                f"(end of epoch {epoch + 1})"
            )

    def _stop(self, what: str):
        message = (
            f"training stopped: {what}; the weights of that step were not saved. Lower the "
            "learning rate, lengthen the warmup or clip the gradient norm."
        )
        if self._describe_last_checkpoint is not None:
            message += " " + self._describe_last_checkpoint()
        raise NonFiniteLossError(message)


class StopAtStep(tf_keras.callbacks.Callback):
    """Stops `fit` once the global step (optimizer iterations) reaches `last_step`.

    Lets a run end in the middle of an epoch, so the total number of steps is exact also when it
    is not a multiple of the epoch length, and when a resumed run starts mid-epoch.
    """

    def __init__(self, last_step: int):
        super().__init__()
        self.last_step = last_step

    def on_train_batch_end(self, batch, logs=None):
        if _step(self.model) >= self.last_step:
            self.model.stop_training = True


class Throughput(tf_keras.callbacks.Callback):
    """Adds `images_per_second` (training steps only, not evaluation) to each epoch's logs.

    The first step of `fit` (tracing and compiling) is not counted.

    List it before `tf_keras.callbacks.TensorBoard` so that the scalar reaches TensorBoard.
    """

    def __init__(self, global_batch_size: int):
        super().__init__()
        self._supports_tf_logs = True
        self.global_batch_size = global_batch_size
        self._seconds = 0.0
        self._steps = 0
        self._batch_start = 0.0
        self._first_batch = True

    def on_train_begin(self, logs=None):
        self._first_batch = True

    def on_epoch_begin(self, epoch, logs=None):
        self._seconds, self._steps = 0.0, 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._first_batch:  # includes tracing and compiling the training step: not counted
            self._first_batch = False
            return
        self._seconds += time.perf_counter() - self._batch_start
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._seconds > 0:
            logs["images_per_second"] = self._steps * self.global_batch_size / self._seconds


class SampleSummary(tf_keras.callbacks.Callback):
    """Writes a TensorBoard image of samples at each temperature at the end of every epoch.

    Tags are `samples/temperature_0.7` etc.; the step is the global step. The same seed is used
    each time, so the images show how fixed latents evolve over training.
    """

    def __init__(self, log_dir: str | os.PathLike, temperatures, num_samples: int, seed: int = 0):
        super().__init__()
        self.temperatures = tuple(temperatures)
        self.num_samples = num_samples
        self.seed = seed
        self._writer = tf.summary.create_file_writer(os.path.join(os.fspath(log_dir), "samples"))

    def on_epoch_end(self, epoch, logs=None):
        grids = sample_pictures.sample_grids(
            self.model, self.temperatures, self.num_samples, self.seed
        )
        with self._writer.as_default():
            for temperature, grid in grids.items():
                tf.summary.image(
                    f"samples/temperature_{temperature:g}", grid[np.newaxis], step=_step(self.model)
                )
        self._writer.flush()


class StopAfterSeconds(tf_keras.callbacks.Callback):
    """Stops `fit` after the step during which `max_seconds` of wall-clock time have passed.

    The clock starts when training begins (after the model is built and initialised).
    """

    def __init__(self, max_seconds: float):
        super().__init__()
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        self.max_seconds = max_seconds
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self._start >= self.max_seconds:
            self.model.stop_training = True
