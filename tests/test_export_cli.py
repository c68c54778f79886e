"""`python -m export.export_model`: a training directory's checkpoint → a served SavedModel
version."""

import functools
import os

import numpy as np
import pytest
import tensorflow as tf

from export import export_model
from tests import flow_testing
from tfglow import GlowConfig, GlowModel
from tfglow.recipe.checkpointing import checkpoint_manager, restore_model, write_configs
from tfglow.recipe.config import TrainingConfig
from tfglow.recipe.optimizers import make_optimizer

CONFIG = GlowConfig.preset("tiny")


_images = functools.partial(flow_testing.random_pixels, batch=5, shape=CONFIG.image_shape, seed=1)


def _training_directory(model_dir, ema_momentum=0.9):
    """A model directory as training leaves it: configs and one checkpoint of a model whose
    Polyak averages differ from its raw weights. Returns the raw and the averaged model."""
    write_configs(model_dir, TrainingConfig(model=CONFIG, ema_momentum=ema_momentum))
    model = GlowModel(CONFIG)
    model.initialize(_images(batch=16))
    flow_testing.randomize_variables(model, seed=1, stddev=0.05)
    optimizer = make_optimizer(ema_momentum=ema_momentum)
    optimizer.build(model.trainable_variables)
    averaged = GlowModel(CONFIG)
    averaged.initialize(_images(batch=16))
    flow_testing.randomize_variables(averaged, seed=2, stddev=0.05)
    averages = [v for v in optimizer.variables if v.name.startswith("average/")]
    assert len(averages) == len(model.trainable_variables)
    for average, value in zip(averages, averaged.trainable_variables):
        average.assign(value)
    for raw, value in zip(model.variables, averaged.variables):
        if not raw.trainable:  # ActNorm flags and the like are not averaged
            value.assign(raw)
    checkpoint_manager(model_dir, model, optimizer).save(checkpoint_number=10)
    return model, averaged


@pytest.mark.slow
def test_exports_the_moving_average_weights_of_the_latest_checkpoint(tmp_path):
    raw, averaged = _training_directory(tmp_path / "run")
    path = export_model.main(
        ["--model_dir", str(tmp_path / "run"), "--export_dir", str(tmp_path / "export")]
    )
    assert path == str(tmp_path / "export" / "1")
    log_prob = tf.saved_model.load(path).signatures["log_prob"]
    served = log_prob(images=tf.constant(_images()))["log_prob"]
    np.testing.assert_allclose(served, averaged.log_prob(_images()), rtol=1e-5)
    assert not np.allclose(served, raw.log_prob(_images()), rtol=1e-3)


def test_a_directory_without_checkpoint_is_a_clear_error(tmp_path):
    write_configs(tmp_path / "run", TrainingConfig(model=CONFIG))
    with pytest.raises(SystemExit, match=f"error: no checkpoint in {tmp_path / 'run'}"):
        export_model.main(
            ["--model_dir", str(tmp_path / "run"), "--export_dir", str(tmp_path / "e")]
        )
    assert not os.path.exists(tmp_path / "e")


def test_a_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=f"{tmp_path / 'nowhere'} is not a tfglow model"):
        export_model.main(["--model_dir", str(tmp_path / "nowhere"), "--export_dir", str(tmp_path)])


def _bfloat16_training_directory(model_dir):
    """A run trained with bfloat16 coupling networks (no EMA); returns its model."""
    config = CONFIG.replace(network_dtype="bfloat16")
    write_configs(model_dir, TrainingConfig(model=config))
    model = GlowModel(config)
    model.initialize(_images(batch=16))
    flow_testing.randomize_variables(model, seed=3, stddev=0.05)
    checkpoint_manager(model_dir, model, make_optimizer()).save(checkpoint_number=4)
    return model


def test_restore_model_computes_the_networks_in_the_dtype_asked_for(tmp_path):
    trained = _bfloat16_training_directory(tmp_path / "run")
    as_trained, _ = restore_model(tmp_path / "run")
    in_float32, step = restore_model(tmp_path / "run", network_dtype="float32")
    assert step == 4
    assert as_trained.config.network_dtype == "bfloat16"
    assert in_float32.config.network_dtype == "float32"
    for restored, original in zip(in_float32.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(restored, original)
    images = _images()
    np.testing.assert_array_equal(as_trained.encode(images), trained.encode(images))
    latents = in_float32.encode(images)
    assert np.max(np.abs(latents - trained.encode(images))) > 1e-6  # really computed in float32
    np.testing.assert_array_equal(in_float32.decode(flow_testing.fresh(latents)), images)


@pytest.mark.slow
def test_the_export_of_a_bfloat16_run_computes_its_networks_in_float32(tmp_path):
    _bfloat16_training_directory(tmp_path / "run")
    in_float32, _ = restore_model(tmp_path / "run", network_dtype="float32")
    path = export_model.main(
        ["--model_dir", str(tmp_path / "run"), "--export_dir", str(tmp_path / "export")]
    )
    served = tf.saved_model.load(path).signatures
    latents = served["encode"](images=tf.constant(_images()))["z"]
    np.testing.assert_allclose(latents, in_float32.encode(_images()), rtol=1e-5, atol=1e-6)
    decoded = served["decode"](z=latents)["images"]
    np.testing.assert_array_equal(decoded, _images())
