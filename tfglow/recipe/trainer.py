"""`train`: one resumable training run of a `GlowModel` with Keras `fit`.

```
seeded tf.data pipeline ──skip(step)──▶ GlowModel.fit ──▶ every step: NaN stop, checkpoint
                                          │                every epoch: held-out bits/dim,
                                          │                TensorBoard scalars, sample images
                                          ▼
                               model_dir/checkpoints, logs/, samples.png
```
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import math
import os
import time

import tensorflow as tf
import tf_keras

from tfglow import checks, data
from tfglow.model import GlowModel
from tfglow.recipe import callbacks as training_callbacks
from tfglow.recipe import (
    checkpoint_files,
    checkpointing,
    eager_kernels,
    multi_worker,
    run_lock,
    sample_pictures,
)
from tfglow.recipe.config import TrainingConfig
from tfglow.recipe.evaluation import held_out_dataset
from tfglow.recipe.optimizers import make_optimizer

LOG_SUBDIRECTORY = "logs"
SAMPLES_FILE = "samples.png"


@dataclasses.dataclass
class TrainingResult:
    """What `train` did: the model (with its EMA weights, if the run kept them), its steps, the
    logs."""

    model: GlowModel
    start_step: int
    end_step: int
    checkpoint: str | None
    history: dict[str, list[float]]
    seconds: float


def training_dataset(config: TrainingConfig, start_step: int = 0) -> tf.data.Dataset:
    """The endless, seeded training batches from batch number `start_step` on.

    The pipeline is deterministic given `config.seed`, so skipping the `start_step` batches a run
    has already trained on puts a resumed run at the same data position.
    """
    dataset = data.load_images(
        config.dataset,
        config.train_split,
        batch_size=config.batch_size,
        image_size=config.image_size,
        pad_to=config.pad_to,
        center_crop=config.center_crop,
        random_flip=config.random_flip,
        with_labels=config.model.num_classes is not None,
        seed=config.seed,
        repeat=True,
        drop_remainder=True,
    )
    # Under MultiWorkerMirroredStrategy each worker keeps its slice of every global batch.
    return multi_worker.shard_by_data(dataset.skip(start_step) if start_step else dataset)


def steps_per_epoch(config: TrainingConfig) -> int:
    """`config.steps_per_epoch`, or the number of full batches in one pass over the training
    split."""
    if config.steps_per_epoch is not None:
        return config.steps_per_epoch
    builder = data.get_builder(config.dataset)
    examples = builder.info.splits[config.train_split].num_examples
    return max(1, examples // config.batch_size)


def train(
    config: TrainingConfig,
    model_dir: str | os.PathLike,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int | str = 1,
    max_seconds: float | None = None,
    extra_callbacks: list[tf_keras.callbacks.Callback] | tuple = (),
) -> TrainingResult:
    """Trains (or resumes training of) the model of `config` in `model_dir`, up to `config.steps`.

    If `model_dir` holds checkpoints, the latest one is restored (weights, ActNorm initialisation,
    optimizer moments and EMA weights, step) and training continues from its step and data
    position. Otherwise the model is built, its ActNorm layers initialised on the first batch, and
    trained from step 0. Once the model, its optimizer's slots and any restored checkpoint exist,
    TensorFlow's eager kernel cache is released (`release_eager_kernel_cache`: a kernel per
    variable built, which would otherwise grow the process with the depth).

    Under `MultiWorkerMirroredStrategy` every worker calls `train` alike; only the chief writes into
    `model_dir`, the others into temporary copies removed at the end (see `multi_worker`).

    Args:
      config: the `TrainingConfig` of the run.
      model_dir: Python `str`, where configs, checkpoints, logs and samples go.
      strategy: a `tf.distribute.Strategy`. Default value: `None` (the default strategy).
      verbose: Keras `fit` verbosity (1: progress bar, 2: one line per epoch). Default value: `1`.
      max_seconds: `None`, or stop (after a checkpoint) once training has run this long; the same
        call again continues. Not with a `MultiWorkerMirroredStrategy`: each worker would stop on
        its own clock, at a different step. Default value: `None`.
      extra_callbacks: more Keras callbacks, run after the built-in ones. Default value: `()`.

    Returns:
      A `TrainingResult`.

    Raises:
      NonFiniteLossError: the loss became NaN or infinite; the last good checkpoint is kept.
      ModelDirectoryMismatchError: `model_dir` holds a different model, or checkpoints of another
        optimizer state (a `ValueError`; the message names the fields that differ). Nothing in
        `model_dir` is changed.
      ModelDirectoryBusyError: another run holds `model_dir`.
      CheckpointDirectoryError: `model_dir` holds checkpoint files but none can be resumed from.
      ValueError: the global batch does not split evenly across the replicas, or `max_seconds` is
        given with a `MultiWorkerMirroredStrategy`.
    """
    started = time.perf_counter()
    model_dir = os.fspath(model_dir)
    strategy = strategy or tf.distribute.get_strategy()
    _check_arguments(config, strategy, max_seconds)
    tf_keras.utils.set_random_seed(config.seed)
    is_chief = multi_worker.is_chief(strategy)
    # Refused before the lock, so that a refused run leaves no trace; checked again under it.
    checkpointing.check_resumable(model_dir, config)
    # Only the chief writes into model_dir; other workers write to a temporary copy (multi_worker).
    with run_lock.hold(model_dir) if is_chief else contextlib.nullcontext():
        checkpointing.check_resumable(model_dir, config)
        write_dir = multi_worker.write_directory(model_dir, strategy)
        multi_worker.remove_write_directory(model_dir, write_dir)  # what a killed worker left
        checkpoints = os.path.join(model_dir, checkpointing.CHECKPOINT_SUBDIRECTORY)
        if is_chief:
            checkpoint_files.remove_partial_checkpoints(checkpoints)
        # The first batch initialises a new model's ActNorms and probes every checkpoint's
        # weights: read once, and only if needed.
        first_batch = functools.cache(functools.partial(_first_batch, config))
        model, manager, resumed_from = _build_and_restore(
            config, strategy, write_dir, checkpoints, first_batch, repair=is_chief
        )
        eager_kernels.release_eager_kernel_cache()
        checkpointing.write_configs(write_dir, config)
        optimizer = model.optimizer
        start_step = int(optimizer.iterations.numpy())
        epoch_steps = steps_per_epoch(config)
        if resumed_from:
            print(
                f"Resumed from {resumed_from}: step {start_step}, skipping the "
                f"{start_step} batches already trained on.",
                flush=True,
            )
        history = {}
        if start_step < config.steps:
            callbacks = _callbacks(
                config, model, manager, write_dir, first_batch, max_seconds, extra_callbacks
            )
            history = _fit(config, model, strategy, start_step, epoch_steps, callbacks, verbose)
        # The checkpoints keep the training weights; what the run hands over is the Polyak average.
        optimizer.use_average_weights(model.trainable_variables)
        sample_pictures.write_sample_png(
            model,
            os.path.join(write_dir, SAMPLES_FILE),
            config.sample_temperatures,
            config.num_samples,
            config.seed,
        )
        multi_worker.remove_write_directory(model_dir, write_dir)
    return TrainingResult(
        model=model,
        start_step=start_step,
        end_step=int(optimizer.iterations.numpy()),
        checkpoint=tf.train.latest_checkpoint(checkpoints),
        history=history,
        seconds=time.perf_counter() - started,
    )


def _check_arguments(config, strategy, max_seconds) -> None:
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"batch_size {config.batch_size} is not divisible by the {replicas} replicas"
        )
    if max_seconds is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise ValueError(
            "max_seconds cannot be used with a MultiWorkerMirroredStrategy: each worker "
            "would stop on its own clock, at a different step; set config.steps"
        )
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds!r}")


def _build_and_restore(config, strategy, write_dir, checkpoints, first_batch, repair):
    """The compiled model with its optimizer, its checkpoint manager, and what it resumed from.

    With checkpoints in `checkpoints`, the newest one that reads back whole is restored (older
    ones are fallbacks). Without, ActNorm's data-dependent initialisation runs on the first batch.
    """
    candidates = checkpoint_files.resumable_checkpoints(checkpoints, repair=repair)
    with strategy.scope():
        model = GlowModel(config.model)
        optimizer = make_optimizer(
            config.optimizer,
            config.learning_rate,
            config.warmup_steps,
            config.clip_norm,
            config.ema_momentum,
        )
        model.compile(optimizer=optimizer, jit_compile=_can_jit_compile(config, strategy))
        if not candidates:
            # Before the optimizer copies the weights into its Polyak averages, which would
            # otherwise start from the uninitialised layers.
            model.initialize(*first_batch())
        # Create the optimizer's variables now, so a checkpoint restores into them immediately.
        optimizer.build(model.trainable_variables)
        manager = checkpointing.checkpoint_manager(
            write_dir, model, optimizer, config.keep_checkpoints
        )
        resumed_from = None
        if candidates:
            resumed_from = checkpoint_files.restore_newest_readable(manager.checkpoint, candidates)
    return model, manager, resumed_from


def _first_batch(config: TrainingConfig):
    return checks.images_and_labels(next(iter(training_dataset(config).take(1))))


def _callbacks(config, model, manager, write_dir, first_batch, max_seconds, extra_callbacks):
    """The run's callbacks: NaN stop, checkpoints, step and time limits, throughput, logs."""
    checkpoint_callback = checkpointing.CheckpointEvery(
        manager, config.checkpoint_every, *first_batch()
    )
    callbacks = [
        training_callbacks.NonFiniteLossStop(checkpoint_callback.describe_last_checkpoint),
        checkpoint_callback,
        training_callbacks.StopAtStep(config.steps),
        training_callbacks.Throughput(config.batch_size),
    ]
    if max_seconds is not None:
        callbacks.insert(2, training_callbacks.StopAfterSeconds(max_seconds))
    if _tensorboard_is_installed():
        log_dir = os.path.join(write_dir, LOG_SUBDIRECTORY)
        callbacks += [
            tf_keras.callbacks.TensorBoard(
                log_dir, update_freq=config.log_every, write_graph=False, profile_batch=0
            ),
            training_callbacks.SampleSummary(
                log_dir, config.sample_temperatures, config.num_samples, config.seed
            ),
        ]
    return callbacks + list(extra_callbacks)


def _fit(config, model, strategy, start_step, epoch_steps, callbacks, verbose):
    """`model.fit` from `start_step` (mid-epoch if need be) to `config.steps`; the history."""
    validation = multi_worker.shard_by_data(held_out_dataset(config))
    # Keras starts mid-epoch through this hook (what its BackupAndRestore does); cleared below.
    model._training_state = checkpointing.ResumeCounters(
        start_step // epoch_steps, start_step % epoch_steps
    )
    try:
        with strategy.scope():
            fit_history = model.fit(
                training_dataset(config, start_step),
                epochs=math.ceil(config.steps / epoch_steps),
                steps_per_epoch=epoch_steps,
                initial_epoch=start_step // epoch_steps,
                validation_data=validation,
                validation_steps=config.validation_steps,
                callbacks=callbacks,
                verbose=verbose,
            )
    finally:
        model._training_state = None
    return {key: [float(value) for value in values] for key, values in fit_history.history.items()}


def _can_jit_compile(config: TrainingConfig, strategy: tf.distribute.Strategy) -> bool:
    """`config.jit_compile`, unless replicas are logical CPU devices, which XLA cannot serve.

    (XLA compiles each replica's step for one device; logical CPU devices share one XLA CPU device
    and the step fails with "Trying to access resource … located in device CPU:1 from CPU:0".)
    """
    if not config.jit_compile:
        return False
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy has no worker devices: one device, XLA serves it
        return True
    if len(devices) > 1 and any("CPU" in device.upper() for device in devices):
        tf.get_logger().warning(
            "jit_compile is off: XLA cannot run replicas on logical CPU devices"
        )
        return False
    return True


def _tensorboard_is_installed() -> bool:
    """Whether `tf.summary` can write (it needs the `tensorboard` package); warns if not."""
    if importlib.util.find_spec("tensorboard") is not None:
        return True
    tf.get_logger().warning("no TensorBoard logs: `pip install tensorboard` to get them")
    return False
