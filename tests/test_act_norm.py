"""ActNorm: data-dependent init, round trip, log-det, checkpoint survival."""

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tfglow.bijectors import ActNorm


def _shifted_scaled_data(dtype, shape=(8, 4, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(2.0, 3.0, size=shape) * [1.0, 0.5, 4.0][: shape[-1]], dtype)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_data_dependent_init_gives_zero_mean_unit_variance(dtype):
    act_norm = ActNorm(channels=3, dtype=dtype)
    z = act_norm.inverse(_shifted_scaled_data(dtype))
    np.testing.assert_allclose(np.mean(z, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(z, axis=(0, 1, 2)), 1.0, atol=1e-4)
    assert bool(act_norm.initialized.numpy())


def test_init_happens_once_inside_tf_function_with_unknown_batch():
    act_norm = ActNorm(channels=3)
    inverse = tf.function(
        act_norm.inverse, input_signature=[tf.TensorSpec([None, 4, 4, 3], tf.float32)]
    )
    first = _shifted_scaled_data(tf.float32, seed=1)
    inverse(first)
    loc_after_first = act_norm.loc.numpy().copy()
    inverse(_shifted_scaled_data(tf.float32, seed=2) * 10.0)
    np.testing.assert_array_equal(act_norm.loc.numpy(), loc_after_first)


@pytest.mark.parametrize("dtype,atol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_round_trip(dtype, atol):
    act_norm = ActNorm(channels=3, dtype=dtype)
    flow_testing.randomize_variables(act_norm, stddev=0.5)
    flow_testing.assert_round_trip(act_norm, _shifted_scaled_data(dtype), atol=atol * 10)


def test_log_det_matches_brute_force_jacobian():
    act_norm = ActNorm(channels=3, dtype=tf.float64)
    flow_testing.randomize_variables(act_norm, stddev=0.5)
    flow_testing.assert_log_det_matches_jacobian(
        act_norm, _shifted_scaled_data(tf.float64, shape=(2, 2, 2, 3))
    )


def test_restored_checkpoint_is_not_reinitialized(tmp_path):
    act_norm = ActNorm(channels=3)
    act_norm.inverse(_shifted_scaled_data(tf.float32, seed=3))
    path = tf.train.Checkpoint(act_norm=act_norm).save(str(tmp_path / "ckpt"))
    restored = ActNorm(channels=3)
    tf.train.Checkpoint(act_norm=restored).restore(path).assert_consumed()
    new_data = _shifted_scaled_data(tf.float32, seed=4) * 7.0
    np.testing.assert_array_equal(restored.inverse(new_data), act_norm.inverse(new_data))
    np.testing.assert_array_equal(restored.log_scale.numpy(), act_norm.log_scale.numpy())


def test_rejects_non_positive_channels():
    with pytest.raises(ValueError, match="channels >= 1, got 0"):
        ActNorm(channels=0)
