"""Squeeze: element positions, event shapes, divisibility errors, zero log-det, batch dims."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tests import flow_testing
from tfglow.bijectors import Squeeze

_images = functools.partial(flow_testing.normal_tensor, shape=(3, 4, 4, 2))


@pytest.mark.parametrize("factor", [2, 3])
def test_inverse_moves_each_block_into_the_channels(factor):
    height, width, channels = 2 * factor, factor, 2
    x = np.arange(height * width * channels, dtype=np.float32).reshape(1, height, width, channels)
    expected = np.zeros([1, 2, 1, factor * factor * channels], np.float32)
    for i, j, a, b, c in np.ndindex(2, 1, factor, factor, channels):
        expected[0, i, j, (a * factor + b) * channels + c] = x[0, i * factor + a, j * factor + b, c]
    np.testing.assert_array_equal(Squeeze(factor).inverse(x), expected)
    np.testing.assert_array_equal(Squeeze(factor).forward(expected), x)


def test_known_2x2_block():
    x = tf.reshape(tf.range(16, dtype=tf.float32), [1, 4, 4, 1])
    z = Squeeze().inverse(x)
    np.testing.assert_array_equal(z[0, 0, 0], [0, 1, 4, 5])
    np.testing.assert_array_equal(z[0, 1, 1], [10, 11, 14, 15])


def test_event_shapes():
    squeeze = Squeeze()
    assert squeeze.inverse_event_shape([28, 28, 1]) == [14, 14, 4]
    assert squeeze.forward_event_shape([14, 14, 4]) == [28, 28, 1]
    assert squeeze.inverse_event_shape(tf.TensorShape([None, 8, 3])).as_list() == [None, 4, 12]
    np.testing.assert_array_equal(squeeze.inverse_event_shape_tensor([28, 28, 1]), [14, 14, 4])
    np.testing.assert_array_equal(squeeze.forward_event_shape_tensor([14, 14, 4]), [28, 28, 1])
    assert Squeeze(3).inverse_event_shape([6, 9, 2]) == [2, 3, 18]


@pytest.mark.parametrize("shape", [(1, 5, 4, 1), (1, 4, 3, 1)])
def test_rejects_odd_side(shape):
    with pytest.raises(ValueError, match="divisible by 2, got shape"):
        Squeeze().inverse(tf.zeros(shape))
    with pytest.raises(ValueError, match="divisible by 2"):
        Squeeze().inverse_event_shape(shape[1:])


def test_forward_rejects_channels_not_divisible_by_factor_squared():
    with pytest.raises(ValueError, match="channels divisible by 4, got shape"):
        Squeeze().forward(tf.zeros([1, 2, 2, 6]))
    with pytest.raises(ValueError, match="channels divisible by 4"):
        Squeeze().forward_event_shape([2, 2, 6])


def test_validate_args_rejects_odd_side_unknown_when_traced():
    squeeze = Squeeze(validate_args=True)
    inverse = tf.function(
        squeeze.inverse, input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)]
    )
    assert inverse(tf.zeros([2, 4, 6, 1])).shape == (2, 2, 3, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="divisible by 2"):
        inverse(tf.zeros([2, 4, 5, 1]))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_round_trip_is_exact(dtype):
    flow_testing.assert_round_trip(Squeeze(), _images(dtype=dtype), atol=0.0)


def test_log_det_is_zero_per_example_and_matches_brute_force_jacobian():
    squeeze = Squeeze()
    x = _images(dtype=tf.float64, shape=(2, 2, 2, 4))
    flow_testing.assert_log_det_matches_jacobian(squeeze, x)
    ildj = squeeze.inverse_log_det_jacobian(x, event_ndims=3)
    np.testing.assert_array_equal(ildj, np.zeros([2]))
    z = squeeze.inverse(x)
    np.testing.assert_array_equal(squeeze.forward_log_det_jacobian(z, event_ndims=3), np.zeros([2]))


def test_tf_function_with_unknown_batch():
    squeeze = Squeeze()
    inverse = tf.function(
        squeeze.inverse, input_signature=[tf.TensorSpec([None, 4, 4, 2], tf.float32)]
    )
    forward = tf.function(
        squeeze.forward, input_signature=[tf.TensorSpec([None, 2, 2, 8], tf.float32)]
    )
    x = _images()
    z = inverse(x)
    assert z.shape == (3, 2, 2, 8)
    np.testing.assert_array_equal(forward(z), x)
    concrete = inverse.get_concrete_function()
    assert concrete.structured_outputs.shape.as_list() == [None, 2, 2, 8]


def test_two_leading_batch_dims():
    squeeze = Squeeze()
    x = _images(shape=(2, 3, 4, 4, 2))
    z = squeeze.inverse(x)
    assert z.shape == (2, 3, 2, 2, 8)
    np.testing.assert_array_equal(
        tf.reshape(z, [6, 2, 2, 8]), squeeze.inverse(tf.reshape(x, [6, 4, 4, 2]))
    )
    assert squeeze.inverse_log_det_jacobian(x, event_ndims=3).shape == (2, 3)
    flow_testing.assert_round_trip(squeeze, x, atol=0.0)


def test_has_no_variables_and_passes_gradients_through():
    squeeze = Squeeze()
    assert not squeeze.variables
    x = _images()
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(squeeze.inverse(x) ** 2)
    np.testing.assert_allclose(tape.gradient(loss, x), 2 * x.numpy())


def test_composes_in_transformed_distribution():
    base = tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, 8])
    distribution = tfd.TransformedDistribution(base, Squeeze())
    assert distribution.event_shape == [4, 4, 2]
    x = _images(shape=(2, 3, 4, 4, 2))
    log_prob = distribution.log_prob(x)
    flow_testing.assert_tensor_is_good(log_prob, shape=(2, 3))
    np.testing.assert_allclose(
        log_prob, tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 2]).log_prob(x), rtol=1e-6
    )
    assert distribution.sample(5, seed=1).shape == (5, 4, 4, 2)


@pytest.mark.parametrize("factor", [1, 0, 2.0, True])
def test_rejects_bad_factor(factor):
    with pytest.raises(ValueError, match=f"factor >= 2, got {factor}"):
        Squeeze(factor=factor)
