"""SplitPrior: identity at init, the conditional Gaussian it encodes, round trip, log-det."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import flow_testing
from tfglow.bijectors import SplitPrior

tfd = tfp.distributions


_images = functools.partial(flow_testing.normal_tensor, shape=(2, 4, 4, 4))


def _randomized_prior(channels=4, dtype=tf.float32, stddev=0.1):
    prior = SplitPrior(channels, dtype=dtype)
    flow_testing.randomize_variables(prior, stddev=stddev)
    return prior


def _mean_and_std(prior, keep):
    """Glow's split prior, computed independently: interleaved (mean, log_std) channels."""
    conv = prior.conditioner
    h = tf.nn.conv2d(keep, conv.kernel, strides=1, padding="SAME") + conv.bias
    h = h * tf.exp(3.0 * conv.log_gain)
    return h[..., 0::2], tf.exp(h[..., 1::2])


def test_is_the_identity_with_zero_log_det_at_init():
    prior = SplitPrior(5)
    x = _images(shape=(2, 3, 3, 5))
    np.testing.assert_array_equal(prior.inverse(x), x)
    np.testing.assert_array_equal(prior.forward(x), x)
    np.testing.assert_array_equal(prior.inverse_log_det_jacobian(x, event_ndims=3), [0, 0])


@pytest.mark.parametrize("channels", [2, 4, 5])
def test_round_trip_after_randomisation_normalises_only_the_factored_half(channels):
    prior = _randomized_prior(channels)
    x = _images(shape=(3, 4, 4, channels))
    flow_testing.assert_round_trip(prior, x, atol=1e-5)
    z = prior.inverse(x)
    keep = channels // 2
    np.testing.assert_array_equal(z[..., :keep], x[..., :keep])
    assert np.max(np.abs(z[..., keep:] - x[..., keep:])) > 0.1
    mean, std = _mean_and_std(prior, x[..., :keep])
    np.testing.assert_allclose(z[..., keep:], (x[..., keep:] - mean) / std, rtol=1e-5, atol=1e-5)


def test_log_prob_is_the_conditional_gaussian_of_the_factored_half():
    prior = _randomized_prior(channels=4, dtype=tf.float64)
    x = _images(dtype=tf.float64)
    distribution = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), [4, 4, 4]), prior
    )
    mean, std = _mean_and_std(prior, x[..., :2])
    factored_log_prob = tfd.Normal(mean, std).log_prob(x[..., 2:])
    kept_log_prob = tfd.Normal(tf.zeros_like(mean), 1.0).log_prob(x[..., :2])
    expected = tf.reduce_sum(factored_log_prob + kept_log_prob, axis=[1, 2, 3])
    np.testing.assert_allclose(distribution.log_prob(x), expected, rtol=1e-12)


@pytest.mark.parametrize("channels", [2, 5])
def test_log_det_matches_brute_force_jacobian(channels):
    prior = _randomized_prior(channels, dtype=tf.float64, stddev=0.3)
    flow_testing.assert_log_det_matches_jacobian(
        prior, _images(shape=(2, 2, 2, channels), dtype=tf.float64)
    )


def test_value_and_log_det_run_the_convolution_once():
    prior = _randomized_prior()

    def inverse_and_log_det(x):
        return prior.inverse(x), prior.inverse_log_det_jacobian(x, event_ndims=3)

    graph = (
        tf.function(inverse_and_log_det)
        .get_concrete_function(tf.TensorSpec([None, 4, 4, 4], tf.float32))
        .graph
    )
    assert sum(operation.type == "Conv2D" for operation in graph.get_operations()) == 1


def test_rejects_fewer_than_two_channels():
    with pytest.raises(ValueError, match="SplitPrior needs channels >= 2, got 1"):
        SplitPrior(1)
