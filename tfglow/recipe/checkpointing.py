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
from tfglow.recipe import checkpoint_files
from tfglow.recipe.callbacks import LOSS_KEY
from tfglow.recipe.config import TrainingConfig
from tfglow.recipe.optimizers import make_optimizer

GLOW_CONFIG_FILE = "glow_config.json"
TRAINING_CONFIG_FILE = "training_config.json"
CHECKPOINT_SUBDIRECTORY = "checkpoints"


class ModelDirectoryMismatchError(ValueError):
    """A model directory holds a different model configuration than the one asked for."""


class NonFiniteCheckpointError(ValueError):
    """A checkpoint's weights are NaN or infinite, or give a non-finite loss."""


# GlowConfig fields that change how the flow computes, not what its weights are: a run may be
# resumed with other values.
COMPUTATION_FIELDS = ("reversible_gradients",)


# `restore_model(network_dtype=AS_TRAINED)`: the coupling networks compute in the dtype of training.
AS_TRAINED = "as_trained"


def checkpoint_manager(
    model_dir: str | os.PathLike,
    model: GlowModel,
    optimizer: tf_keras.optimizers.Optimizer,
    max_to_keep: int = 3,
) -> tf.train.CheckpointManager:
    """The `CheckpointManager` of `model` and `optimizer` in `model_dir/checkpoints`."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    return tf.train.CheckpointManager(
        checkpoint,
        os.path.join(os.fspath(model_dir), CHECKPOINT_SUBDIRECTORY),
        max_to_keep=max_to_keep,
        step_counter=optimizer.iterations,
    )


def checkpoint_step(path: str) -> int:
    """The step a checkpoint was saved at, from its name `…/ckpt-<step>`."""
    return int(path.rsplit("-", 1)[1])


def variables_are_finite(variables) -> bool:
    """Whether every value of every variable is finite (bool variables count as finite)."""
    checks = [
        tf.reduce_all(tf.math.is_finite(variable))
        for variable in variables
        if variable.dtype.is_floating
    ]
    return bool(tf.reduce_all(checks)) if checks else True


class CheckpointEvery(tf_keras.callbacks.Callback):
    """Saves a checkpoint every `every_steps` global steps and at the end of training.

    A checkpoint is written only when its weights are good: every model and optimizer variable is
    finite, the step's loss is finite, and the weights being saved give a finite loss on
    `probe_images` (the loss Keras reports was computed before the step's update, so it says
    nothing of the weights after it). A refused save rotates nothing out, so the last good
    checkpoint survives a divergence untouched.
    """

    def __init__(
        self,
        manager: tf.train.CheckpointManager,
        every_steps: int,
        probe_images=None,
        probe_labels=None,
    ):
        super().__init__()
        self._supports_tf_logs = True
        self.manager = manager
        self.every_steps = every_steps
        self.probe = (probe_images, probe_labels)
        self.refused_steps: list[int] = []
        self._probe_loss = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every_steps == 0:
            self._save(step, (logs or {}).get(LOSS_KEY))

    def on_train_end(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        latest = self.manager.latest_checkpoint
        if latest is None or checkpoint_step(latest) != step:
            self._save(step, None)

    def _weights_give_a_finite_loss(self) -> bool:
        images, labels = self.probe
        if images is None:
            return True
        if self._probe_loss is None:
            self._probe_loss = tf.function(
                lambda: tf.reduce_mean(self.model.bits_per_dim(images, labels, dequantize=False))
            )
        return bool(np.isfinite(float(self._probe_loss())))

    def _save(self, step: int, loss) -> None:
        finite_loss = loss is None or np.isfinite(float(loss))
        if not (
            finite_loss
            and variables_are_finite(self.model.variables)
            and variables_are_finite(self.model.optimizer.variables)
            and self._weights_give_a_finite_loss()
        ):
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
    callback uses for the same purpose (tf_keras 2.21,
    `Model._maybe_load_initial_counters_from_ckpt`).
    """

    def __init__(self, epoch: int, step_in_epoch: int):
        self.epoch = epoch
        self.step_in_epoch = step_in_epoch

    def maybe_load_initial_counters_from_ckpt(self, steps_per_epoch, initial_epoch, mode=None):
        del steps_per_epoch, initial_epoch, mode
        return self.epoch, self.step_in_epoch


def check_resumable(model_dir: str | os.PathLike, config: TrainingConfig) -> None:
    """Refuses, before anything is written, a run that `model_dir`'s saved run cannot continue.

    The model must be the same (`COMPUTATION_FIELDS` may differ). Once checkpoints exist, the
    optimizer and whether it keeps Polyak (EMA) weights must be the same too: the checkpoint holds
    that optimizer's state, which another one cannot restore.

    Raises:
      ModelDirectoryMismatchError: the message names each field that differs.
    """
    model_dir = os.fspath(model_dir)
    glow_path = os.path.join(model_dir, GLOW_CONFIG_FILE)
    if os.path.exists(glow_path):
        existing = read_glow_config(model_dir)
        differences = [
            f"{field.name}: saved {getattr(existing, field.name)!r}, requested "
            f"{getattr(config.model, field.name)!r}"
            for field in dataclasses.fields(existing)
            if field.name not in COMPUTATION_FIELDS
            and getattr(existing, field.name) != getattr(config.model, field.name)
        ]
        if differences:
            raise ModelDirectoryMismatchError(
                f"{model_dir} holds a different model ({glow_path}): {', '.join(differences)}; "
                f"use another --model_dir, or the flags that give the saved values to resume it"
            )
    checkpoints = os.path.join(model_dir, CHECKPOINT_SUBDIRECTORY)
    saved = read_training_config(model_dir)
    if saved is None or not checkpoint_files.whole_checkpoints(checkpoints):
        return
    differences = []
    if saved.optimizer != config.optimizer:
        differences.append(
            f"optimizer: saved {saved.optimizer!r}, requested {config.optimizer!r} "
            f"(--optimizer {saved.optimizer})"
        )
    if (saved.ema_momentum is None) != (config.ema_momentum is None):
        differences.append(
            f"ema_momentum: saved {saved.ema_momentum!r}, requested {config.ema_momentum!r} "
            f"(EMA weights cannot be added to or dropped from a run's optimizer state)"
        )
    if differences:
        raise ModelDirectoryMismatchError(
            f"{model_dir} holds checkpoints of a run with another optimizer state: "
            f"{'; '.join(differences)}. Nothing was changed; resume with the saved values or "
            f"use another --model_dir"
        )


def write_configs(model_dir: str | os.PathLike, config: TrainingConfig) -> None:
    """Writes `glow_config.json` and `training_config.json` into `model_dir`, each atomically.

    Call `check_resumable` first: this overwrites what is there.
    """
    model_dir = os.fspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    _write_text_atomically(os.path.join(model_dir, GLOW_CONFIG_FILE), config.model.to_json())
    _write_text_atomically(os.path.join(model_dir, TRAINING_CONFIG_FILE), config.to_json())


def read_glow_config(model_dir: str | os.PathLike) -> GlowConfig:
    """The `GlowConfig` saved in `model_dir`.

    Raises:
      FileNotFoundError: there is none.
      ValueError: the file is damaged (truncated, not JSON, unknown or invalid fields).
    """
    path = os.path.join(os.fspath(model_dir), GLOW_CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} does not exist: {model_dir} is not a tfglow model directory"
        )
    with open(path) as file:
        return _parse_config(path, GlowConfig.from_json, file.read())


def read_training_config(model_dir: str | os.PathLike) -> TrainingConfig | None:
    """The `TrainingConfig` saved in `model_dir`, or `None` if there is none."""
    path = os.path.join(os.fspath(model_dir), TRAINING_CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return _parse_config(path, TrainingConfig.from_json, file.read())


def _parse_config(path: str, parse, text: str):
    try:
        return parse(text)
    except (ValueError, TypeError, KeyError) as error:  # json's errors are ValueErrors
        raise ValueError(
            f"{path} is damaged or not a tfglow configuration ({type(error).__name__}: {error}); "
            f"restore it from a copy, or write it again with the run's flags"
        ) from None


def restore_model(
    model_dir: str | os.PathLike,
    use_ema: bool = True,
    checkpoint_path: str | None = None,
    network_dtype: str | None = AS_TRAINED,
) -> tuple[GlowModel, int]:
    """Rebuilds the trained `GlowModel` of `model_dir` from its latest checkpoint.

    Args:
      model_dir: a directory written by `tfglow.recipe.train`.
      use_ema: Python `bool`, load the Polyak (EMA) weights if the run kept them. Default value:
        `True`.
      checkpoint_path: a specific checkpoint prefix. Default value: `None` (the latest).
      network_dtype: the dtype the coupling networks compute in: `AS_TRAINED` (the run's
        `GlowConfig.network_dtype`), or any `GlowConfig.network_dtype` value. The variables are
        the same whatever it is: a model trained with bfloat16 networks (for speed) restored with
        `"float32"` decodes what it encodes exactly and scores as well (README, mixed
        precision). Default value: `AS_TRAINED`.

    Returns:
      `(model, step)`: the model and the step of its checkpoint.

    Raises:
      FileNotFoundError: no configuration or no checkpoint in `model_dir`.
      NonFiniteCheckpointError: the restored weights are NaN or infinite.
      CheckpointDirectoryError: no checkpoint could be read back whole.
    """
    model_dir = os.fspath(model_dir)
    config = read_glow_config(model_dir)
    if network_dtype != AS_TRAINED:
        config = config.replace(network_dtype=network_dtype)
    model = GlowModel(config)
    checkpoints = os.path.join(model_dir, CHECKPOINT_SUBDIRECTORY)
    candidates = (
        [checkpoint_path]
        if checkpoint_path
        else checkpoint_files.resumable_checkpoints(checkpoints, repair=False)
    )
    if not candidates:
        raise FileNotFoundError(f"no checkpoint in {checkpoints}")
    training_config = read_training_config(model_dir)
    with_ema = use_ema and training_config is not None and training_config.ema_momentum is not None
    if not with_ema:
        path = checkpoint_files.restore_newest_readable(_PartialCheckpoint(model=model), candidates)
    else:
        # The optimizer of the run holds the EMA weights; rebuild it to restore them, swap them in.
        optimizer = make_optimizer(
            training_config.optimizer, ema_momentum=training_config.ema_momentum
        )
        optimizer.build(model.trainable_variables)
        path = checkpoint_files.restore_newest_readable(
            tf.train.Checkpoint(model=model, optimizer=optimizer), candidates
        )
        optimizer.use_average_weights(model.trainable_variables)
    if not variables_are_finite(model.variables):
        raise NonFiniteCheckpointError(
            f"{path} holds NaN or infinite weights: it cannot be evaluated or exported; use an "
            f"earlier checkpoint (checkpoint_path=...)"
        )
    return model, checkpoint_step(path)


class _PartialCheckpoint(tf.train.Checkpoint):
    """A checkpoint of the model alone, restoring from one that also holds the optimizer."""

    def restore(self, save_path, options=None):
        return super().restore(save_path, options).expect_partial()


def _write_text_atomically(path: str, text: str) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w") as file:
        file.write(text + "\n")
    os.replace(temporary, path)
