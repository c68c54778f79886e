"""Checkpoints written with per-step variables, before the steps of a level were stacked.

`tests/data/per_step_checkpoint` is a model directory written by tfglow at 632287a (per-step
variables): the `tiny` preset with random weights, Adam moments and Polyak averages at step 10,
and `expected.npz`, what that code computed from it on 4 fixed images: the log-likelihoods
(`raw`), after one Adam step on their mean negative log-likelihood (`after_step`), and with the
Polyak averages swapped in after that step (`averaged_after_step`).
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tests.file_digests import file_digests
from tfglow import GlowConfig, GlowModel, checkpoint_layout, stacked_variables
from tfglow.recipe import checkpoint_files
from tfglow.recipe.checkpointing import CHECKPOINT_SUBDIRECTORY, restore_model
from tfglow.recipe.optimizers import make_optimizer

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "per_step_checkpoint")
CONFIG = GlowConfig.preset("tiny")


@pytest.fixture
def model_dir(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "run")
    return tmp_path / "run"


def _expected(model_dir):
    return np.load(os.path.join(model_dir, "expected.npz"))


def _images():
    return flow_testing.random_pixels(batch=4, shape=CONFIG.image_shape, seed=1)


def _checkpoint_path(model_dir):
    return str(model_dir / CHECKPOINT_SUBDIRECTORY / "ckpt-10")


def test_the_fixture_is_per_step_and_a_plain_restore_binds_it_not():
    path = os.path.join(FIXTURE, CHECKPOINT_SUBDIRECTORY, "ckpt-10")
    assert not checkpoint_layout.holds_stacked_variables(path)
    with pytest.raises(AssertionError):
        tf.train.Checkpoint(model=GlowModel(CONFIG)).read(
            path
        ).expect_partial().assert_existing_objects_matched()


def test_restore_model_reads_the_per_step_weights_and_leaves_the_files_alone(model_dir):
    checkpoints = model_dir / CHECKPOINT_SUBDIRECTORY
    before = file_digests(checkpoints)
    model, step = restore_model(model_dir, use_ema=False)
    assert step == 10
    np.testing.assert_allclose(model.log_prob(_images()), _expected(model_dir)["raw"], rtol=1e-5)
    assert file_digests(checkpoints) == before


def test_moments_step_counter_and_polyak_averages_continue_as_the_old_run_would(model_dir):
    model = GlowModel(CONFIG)
    optimizer = make_optimizer(ema_momentum=0.9)  # not built: the restore builds it
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    checkpoint_files.restore_newest_readable(checkpoint, [_checkpoint_path(model_dir)])
    expected = _expected(model_dir)
    assert int(optimizer.iterations) == 10
    np.testing.assert_allclose(model.log_prob(_images()), expected["raw"], rtol=1e-5)

    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(model.log_prob(_images()))
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    np.testing.assert_allclose(model.log_prob(_images()), expected["after_step"], rtol=1e-5)
    optimizer.use_average_weights(variables)
    np.testing.assert_allclose(
        model.log_prob(_images()), expected["averaged_after_step"], rtol=1e-5
    )


def test_a_converted_run_saves_stacked_and_reads_back_identically(model_dir, tmp_path):
    model, _ = restore_model(model_dir, use_ema=False)
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "stacked" / "ckpt"))
    assert checkpoint_layout.holds_stacked_variables(path)
    again = GlowModel(CONFIG)
    tf.train.Checkpoint(model=again).read(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(again.log_prob(_images()), model.log_prob(_images()))


def test_a_per_step_checkpoint_of_another_model_is_refused_and_changes_nothing(model_dir):
    config = CONFIG.replace(hidden_channels=8)
    model = GlowModel(config)
    before = [variable.numpy() for variable in model.variables]
    with pytest.raises(checkpoint_files.CheckpointDirectoryError, match="ckpt-10"):
        checkpoint_files.restore_newest_readable(
            tf.train.Checkpoint(model=model), [_checkpoint_path(model_dir)]
        )
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)


SMALL_REALNVP = GlowConfig.preset("realnvp").replace(
    image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=8, residual_blocks=1
)
CONDITIONAL = CONFIG.replace(num_classes=4, classifier_weight=1.0)


@pytest.mark.parametrize("config", [SMALL_REALNVP, CONDITIONAL], ids=["realnvp", "classifier"])
def test_per_step_checkpoints_of_every_architecture_convert(config, tmp_path):
    images = flow_testing.random_pixels(batch=4, shape=config.image_shape, seed=3)
    labels = tf.constant([0, 1, 2, 3]) if config.num_classes else None
    with stacked_variables.unstacked():
        per_step = GlowModel(config)
    flow_testing.randomize_variables(per_step, seed=4, stddev=0.05)
    path = tf.train.Checkpoint(model=per_step).write(str(tmp_path / "ckpt"))
    stacked = GlowModel(config)
    assert len(stacked.trainable_variables) < len(per_step.trainable_variables)
    checkpoint_files.restore_newest_readable(tf.train.Checkpoint(model=stacked), [path])
    np.testing.assert_allclose(
        stacked.log_prob(images, labels), per_step.log_prob(images, labels), rtol=1e-6
    )


def test_a_run_saved_per_step_resumes_from_its_step_with_its_weights(tmp_path):
    from tests.test_training_run import CONFIG, _RecordStart
    from tfglow.recipe import train

    with stacked_variables.unstacked():
        train(CONFIG.replace(steps=2, checkpoint_every=2), tmp_path, verbose=0)
    checkpoints = tmp_path / CHECKPOINT_SUBDIRECTORY
    per_step = str(checkpoints / "ckpt-2")
    assert not checkpoint_layout.holds_stacked_variables(per_step)
    with stacked_variables.unstacked():
        old, _ = restore_model(tmp_path, use_ema=False)
    before = file_digests(checkpoints)

    recorder = _RecordStart()
    train(CONFIG, tmp_path, verbose=0, extra_callbacks=[recorder])
    assert recorder.step == 2
    images = flow_testing.random_pixels(batch=4, shape=CONFIG.model.image_shape, seed=5)
    resumed, _ = restore_model(tmp_path, use_ema=False, checkpoint_path=per_step)
    np.testing.assert_allclose(resumed.log_prob(images), old.log_prob(images), rtol=1e-6)
    assert checkpoint_layout.holds_stacked_variables(str(checkpoints / "ckpt-4"))
    assert {
        name: digest for name, digest in file_digests(checkpoints).items() if "-2." in name
    } == {name: digest for name, digest in before.items() if "-2." in name}
