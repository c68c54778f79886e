"""Checkpoints of a training run, and rebuilding a trained model from its directory alone.

A model directory holds:

```
model_dir/
  glow_config.json        the GlowConfig: enough to rebuild the model
  training_config.json    the TrainingConfig of the run (optimizer, EMA, data options)
  checkpoints/ckpt-<step>.*  model (training weights) + optimizer (iterations, moments, EMA weights)
  logs/                   TensorBoard: train/, validation/, samples/
  samples.png             sample grids at the end of training
```

The step of a checkpoint is the optimizer's `iterations`; it is also the data position, because the
training pipeline is seeded and a resumed run skips the batches already seen (see `trainer`).
Each checkpoint is written under a temporary name and renamed when complete (TensorFlow's
`CheckpointManager`), so a killed run leaves the previous checkpoints intact.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf
import tf_keras

from tfglow.config import GlowConfig
from tfglow.model import GlowModel
from tfglow.recipe.callbacks import LOSS_KEY
from tfglow.recipe.config import TrainingConfig
from tfglow.recipe.optimizers import make_optimizer

GLOW_CONFIG_FILE = "glow_config.json"
TRAINING_CONFIG_FILE = "training_config.json"
CHECKPOINT_SUBDIRECTORY = "checkpoints"


class ModelDirectoryMismatchError(ValueError):
    """A model directory holds a different model configuration than the one asked for."""


# `restore_model(network_dtype=AS_TRAINED)`: the coupling networks compute in the dtype of training.
AS_TRAINED = "as_trained"


def checkpoint_manager(model_dir: str | os.PathLike, model: GlowModel,
                       optimizer: tf_keras.optimizers.Optimizer,
                       max_to_keep: int = 3) -> tf.train.CheckpointManager:
    """The `CheckpointManager` of `model` and `optimizer` in `model_dir/checkpoints`."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    return tf.train.CheckpointManager(
        checkpoint, os.path.join(os.fspath(model_dir), CHECKPOINT_SUBDIRECTORY), max_to_keep=max_to_keep,
        step_counter=optimizer.iterations)


def checkpoint_step(path: str) -> int:
    """The step a checkpoint was saved at, from its name `…/ckpt-<step>`."""
    return int(path.rsplit("-", 1)[1])


def variables_are_finite(variables) -> bool:
    """Whether every value of every variable is finite (bool variables count as finite)."""
    checks = [tf.reduce_all(tf.math.is_finite(variable)) for variable in variables
              if variable.dtype.is_floating]
    return bool(tf.reduce_all(checks)) if checks else True


class CheckpointEvery(tf_keras.callbacks.Callback):
    """Saves a checkpoint every `every_steps` global steps and at the end of training.

    A checkpoint is written only when the step's loss and every model and optimizer variable are
    finite, so the last good checkpoint survives a divergence untouched.
    """

    def __init__(self, manager: tf.train.CheckpointManager, every_steps: int):
        super().__init__()
        self._supports_tf_logs = True
        self.manager = manager
        self.every_steps = every_steps
        self.refused_steps: list[int] = []

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every_steps == 0:
            self._save(step, (logs or {}).get(LOSS_KEY))

    def on_train_end(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        latest = self.manager.latest_checkpoint
        if latest is None or checkpoint_step(latest) != step:
            self._save(step, None)

    def _save(self, step: int, loss) -> None:
        finite_loss = loss is None or np.isfinite(float(loss))
        if not (finite_loss and variables_are_finite(self.model.variables)
                and variables_are_finite(self.model.optimizer.variables)):
            self.refused_steps.append(step)
            tf.get_logger().warning(f"not saving the checkpoint of step {step}: non-finite values")
            return
        self.manager.save(checkpoint_number=step)

    def describe_last_checkpoint(self) -> str:
        """A sentence naming the last good checkpoint, for error messages."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return "No checkpoint was written before that."
        return f"The last good checkpoint, {latest} (step {checkpoint_step(latest)}), is untouched."


class ResumeCounters:
    """Tells `tf_keras.Model.fit` to start at `(epoch, step_in_epoch)`, for a run resumed mid-epoch.

    Keras reads this through `model._training_state`, the hook that its own `BackupAndRestore`
    callback uses for the same purpose (tf_keras 2.21, `Model._maybe_load_initial_counters_from_ckpt`).
    """

    def __init__(self, epoch: int, step_in_epoch: int):
        self.epoch = epoch
        self.step_in_epoch = step_in_epoch

    def maybe_load_initial_counters_from_ckpt(self, steps_per_epoch, initial_epoch, mode=None):
        del steps_per_epoch, initial_epoch, mode
        return self.epoch, self.step_in_epoch


def write_configs(model_dir: str | os.PathLike, config: TrainingConfig) -> None:
    """Writes `glow_config.json` and `training_config.json` into `model_dir`.

    Raises:
      ModelDirectoryMismatchError: `model_dir` already holds a different model configuration (its
        checkpoints would not fit the new model); the message names the fields that differ.
    """
    model_dir = os.fspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    glow_path = os.path.join(model_dir, GLOW_CONFIG_FILE)
    if os.path.exists(glow_path):
        existing = read_glow_config(model_dir)
        if existing != config.model:
            differences = ", ".join(
                f"{field.name}: saved {getattr(existing, field.name)!r}, requested "
                f"{getattr(config.model, field.name)!r}"
                for field in dataclasses.fields(existing)
                if getattr(existing, field.name) != getattr(config.model, field.name))
            raise ModelDirectoryMismatchError(
                f"{model_dir} holds a different model ({glow_path}): {differences}; use another "
                f"--model_dir, or the flags that give the saved values to resume it")
    _write_text_atomically(glow_path, config.model.to_json())
    _write_text_atomically(os.path.join(model_dir, TRAINING_CONFIG_FILE), config.to_json())


def read_glow_config(model_dir: str | os.PathLike) -> GlowConfig:
    """The `GlowConfig` saved in `model_dir`."""
    path = os.path.join(os.fspath(model_dir), GLOW_CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: {model_dir} is not a tfglow model directory")
    with open(path) as file:
        return GlowConfig.from_json(file.read())


def read_training_config(model_dir: str | os.PathLike) -> TrainingConfig | None:
    """The `TrainingConfig` saved in `model_dir`, or `None` if there is none."""
    path = os.path.join(os.fspath(model_dir), TRAINING_CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return TrainingConfig.from_json(file.read())


def restore_model(model_dir: str | os.PathLike, use_ema: bool = True,
                  checkpoint_path: str | None = None,
                  network_dtype: str | None = AS_TRAINED) -> tuple[GlowModel, int]:
    """Rebuilds the trained `GlowModel` of `model_dir` from its latest checkpoint.

    Args:
      model_dir: a directory written by `tfglow.recipe.train`.
      use_ema: Python `bool`, load the Polyak (EMA) weights if the run kept them. Default value: `True`.
      checkpoint_path: a specific checkpoint prefix. Default value: `None` (the latest).
      network_dtype: the dtype the coupling networks compute in: `AS_TRAINED` (the run's
        `GlowConfig.network_dtype`), or any `GlowConfig.network_dtype` value. The variables are
        the same whatever it is: a model trained with bfloat16 networks (for speed) restored with
        `"float32"` decodes exactly what it encodes and scores as well (measured on the 20-minute
        MNIST run of `benchmarks/likelihood_budget.py`: 10,000 of 10,000 test digits identical
        against 7,625 in bfloat16, held-out bits/dim 1.9738 against 1.9751).
        Default value: `AS_TRAINED`.

    Returns:
      `(model, step)`: the model and the step of its checkpoint.

    Raises:
      FileNotFoundError: no configuration or no checkpoint in `model_dir`.
    """
    model_dir = os.fspath(model_dir)
    config = read_glow_config(model_dir)
    if network_dtype != AS_TRAINED:
        config = config.replace(network_dtype=network_dtype)
    model = GlowModel(config)
    path = checkpoint_path or tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIRECTORY))
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(model_dir, CHECKPOINT_SUBDIRECTORY)}")
    training_config = read_training_config(model_dir)
    if training_config is None or training_config.ema_momentum is None or not use_ema:
        tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
        return model, checkpoint_step(path)
    # The optimizer of the run holds the EMA weights; rebuild it to restore them, then swap them in.
    optimizer = make_optimizer(training_config.optimizer, ema_momentum=training_config.ema_momentum)
    optimizer.build(model.trainable_variables)
    tf.train.Checkpoint(model=model, optimizer=optimizer).restore(path).assert_existing_objects_matched()
    optimizer.use_average_weights(model.trainable_variables)
    return model, checkpoint_step(path)


def _write_text_atomically(path: str, text: str) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w") as file:
        file.write(text + "\n")
    os.replace(temporary, path)
