"""Training runs in-process: the command line end to end; resuming restores step, weights and data
position; a non-finite loss stops training by name of its step and leaves the last good checkpoint
untouched; `training.evaluate` scores the last checkpoint."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests.file_digests import file_digests
from tfglow.recipe import (
    NonFiniteLossError,
    checkpoint_manager,
    evaluate_bits_per_dim,
    held_out_dataset,
    read_training_config,
    restore_model,
    train,
    training_dataset,
)
from tfglow.recipe.checkpointing import CheckpointEvery
from training import configs
from training import evaluate as evaluate_program
from training import train as train_program

CONFIG = configs.get_config("mnist_tiny").replace(
    steps=4,
    steps_per_epoch=3,
    checkpoint_every=2,
    validation_steps=1,
    batch_size=8,
    num_samples=2,
    sample_temperatures=(0.7,),
    ema_momentum=0.9,
)
CLI_FLAGS = [
    "--config",
    "mnist_tiny",
    "--steps",
    "4",
    "--steps_per_epoch",
    "3",
    "--checkpoint_every",
    "2",
    "--validation_steps",
    "1",
    "--batch_size",
    "8",
    "--num_samples",
    "2",
    "--temperatures",
    "0.7",
    "--ema",
    "0.9",
    "--verbose",
    "0",
]


class _RecordStart(tf_keras.callbacks.Callback):
    """Records the step and the flow's weights when `fit` begins."""

    def on_train_begin(self, logs=None):
        self.step = int(self.model.optimizer.iterations.numpy())
        self.weights = [(v.name, v.numpy()) for v in self.model.bijector.variables]


class _PoisonAtStep(tf_keras.callbacks.Callback):
    """Writes NaN into one weight after global step `step`, as a diverging update would."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            variable = self.model.trainable_variables[0]
            variable.assign(tf.fill(variable.shape, np.nan))


def _checkpoint_values(path):
    """Every floating-point tensor saved in a checkpoint (weights, moments, EMA weights)."""
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    return {key: reader.get_tensor(key) for key in dtypes if dtypes[key].is_floating}


def test_resume_restores_step_weights_and_data_position_then_nan_stops_keeping_the_checkpoint(
    tmp_path, capsys
):
    # The command line, end to end: 4 steps, checkpoints at 2 and 4, held-out bits/dim at the end.
    assert (
        train_program.main(
            CLI_FLAGS + ["--model_dir", str(tmp_path), "--final_eval_examples", "16"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "Trained steps 0 -> 4" in printed and "ckpt-4" in printed
    assert read_training_config(tmp_path) == CONFIG
    checkpoint = tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints"))
    assert checkpoint.endswith("ckpt-4")
    saved_model, saved_step = restore_model(tmp_path, use_ema=False, checkpoint_path=checkpoint)
    saved = [v.numpy() for v in saved_model.bijector.variables]
    # The Polyak averages start after ActNorm's data-dependent init: after 4 small steps they are
    # still close to the initialised values (not pulled toward the layers' zeros before the init).
    averaged_model, _ = restore_model(tmp_path, use_ema=True, checkpoint_path=checkpoint)
    pairs = zip(saved_model.bijector.variables, averaged_model.bijector.variables)
    act_norm = [
        (raw.numpy(), averaged.numpy())
        for raw, averaged in pairs
        if "act_norm/log_scale" in raw.name
    ]
    assert act_norm and all(np.abs(raw).max() > 0.5 for raw, _ in act_norm)
    for raw, averaged in act_norm:
        np.testing.assert_allclose(averaged, raw, atol=0.02)

    # Resume, extended to 20 steps: it starts from step 4 with exactly the saved weights. Then a
    # divergence after step 7: the error names step 8, and ckpt-6, the last good one, is untouched.
    recorder = _RecordStart()
    checkpoint_dir = os.path.join(tmp_path, "checkpoints")
    with pytest.raises(
        NonFiniteLossError, match=r"became nan at step 8 .*ckpt-6 \(step 6\), is untouched"
    ):
        train(
            CONFIG.replace(steps=20),
            tmp_path,
            verbose=0,
            extra_callbacks=[recorder, _PoisonAtStep(7)],
        )
    assert saved_step == recorder.step == 4
    assert len(saved) == len(recorder.weights) > 10
    for value, (name, restored) in zip(saved, recorder.weights):
        np.testing.assert_array_equal(restored, value, err_msg=name)
    assert tf.train.latest_checkpoint(checkpoint_dir).endswith("ckpt-6")
    digests = file_digests(checkpoint_dir)
    saved_values = _checkpoint_values(os.path.join(checkpoint_dir, "ckpt-6"))
    assert len(saved_values) > 50
    assert all(np.all(np.isfinite(value)) for value in saved_values.values())
    model, step = restore_model(tmp_path)
    assert step == 6 and all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)
    assert any(
        not np.array_equal(before, after.numpy())
        for before, after in zip(saved, model.bijector.variables)
    )
    assert file_digests(checkpoint_dir) == digests

    # The data position: the batches after a resume at step 4 are batches 4, 5, … of the seeded run.
    fresh = [batch.numpy() for batch in training_dataset(CONFIG).take(6)]
    resumed = [batch.numpy() for batch in training_dataset(CONFIG, start_step=4).take(2)]
    np.testing.assert_array_equal(resumed, fresh[4:6])
    assert not np.array_equal(fresh[0], fresh[4])

    # `training.evaluate` scores the EMA weights of the last good checkpoint, repeatably.
    assert evaluate_program.main(["--model_dir", str(tmp_path), "--limit", "16"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    expected, count = evaluate_bits_per_dim(model, held_out_dataset(CONFIG, limit=16))
    assert count == 16 and 0 < expected < 9
    figure, _, rest = printed.partition(" ")
    assert float(figure) == pytest.approx(
        expected, abs=2e-4
    )  # the printed 4 decimals may round apart
    assert rest.startswith("bits/dim on mnist test (16 images; step 6, EMA weights)")


def test_checkpoint_callback_refuses_non_finite_weights(tmp_path):
    from tfglow import GlowModel
    from tfglow.recipe import make_optimizer

    model = GlowModel(CONFIG.model)
    optimizer = make_optimizer()
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)
    manager = checkpoint_manager(tmp_path, model, optimizer)
    callback = CheckpointEvery(manager, every_steps=1)
    callback.set_model(model)
    callback.on_train_batch_end(0, {"bits_per_dim": 3.0})
    assert manager.latest_checkpoint.endswith("ckpt-0")
    optimizer.iterations.assign(1)
    callback.on_train_batch_end(0, {"bits_per_dim": float("inf")})
    optimizer.iterations.assign(2)
    model.trainable_variables[-1].assign(tf.fill(model.trainable_variables[-1].shape, np.nan))
    callback.on_train_batch_end(0, {"bits_per_dim": 3.0})
    assert manager.latest_checkpoint.endswith("ckpt-0") and callback.refused_steps == [1, 2]
