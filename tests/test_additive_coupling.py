"""AdditiveCoupling: identity at init, round trip, zero log-det, batching, gradients."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import flow_testing
from tfglow.bijectors import AdditiveCoupling

tfd = tfp.distributions

# The convolutions of the coupling network: 3×3, 1×1 and the zero-initialised 3×3.
_NETWORK_CONVOLUTIONS = 3


_images = functools.partial(flow_testing.normal_tensor, shape=(2, 4, 4, 4))


def _randomized_coupling(channels=4, dtype=tf.float32, stddev=0.3):
    coupling = AdditiveCoupling(channels, hidden_channels=8, dtype=dtype, seed=0)
    flow_testing.randomize_variables(coupling, stddev=stddev)
    return coupling


def test_is_the_identity_with_zero_log_det_at_init():
    coupling = AdditiveCoupling(5, hidden_channels=8, seed=0)
    x = _images(shape=(2, 3, 3, 5))
    np.testing.assert_array_equal(coupling.inverse(x), x)
    np.testing.assert_array_equal(coupling.forward(x), x)
    np.testing.assert_array_equal(coupling.inverse_log_det_jacobian(x, event_ndims=3), [0, 0])
    assert coupling.is_constant_jacobian


@pytest.mark.parametrize("channels", [2, 4, 5])
def test_round_trip_after_randomisation_is_not_the_identity(channels):
    coupling = _randomized_coupling(channels)
    x = _images(shape=(3, 4, 4, channels))
    flow_testing.assert_round_trip(coupling, x, atol=1e-5)
    z = coupling.inverse(x)
    half = channels // 2
    np.testing.assert_array_equal(z[..., :half], x[..., :half])
    assert np.max(np.abs(z[..., half:] - x[..., half:])) > 0.1


@pytest.mark.parametrize("channels", [2, 5])
def test_zero_log_det_matches_brute_force_jacobian(channels):
    coupling = _randomized_coupling(channels, dtype=tf.float64, stddev=0.5)
    x = _images(shape=(2, 2, 2, channels), dtype=tf.float64)
    flow_testing.assert_log_det_matches_jacobian(coupling, x, atol=1e-10)


def test_log_det_does_not_run_the_network_and_the_value_runs_it_once():
    coupling = _randomized_coupling()
    spec = tf.TensorSpec([None, 4, 4, 4], tf.float32)

    def count_convolutions(function):
        return len(flow_testing.network_ops(function, spec))

    assert count_convolutions(lambda x: coupling.inverse_log_det_jacobian(x, event_ndims=3)) == 0
    assert (
        count_convolutions(
            lambda x: (coupling.inverse(x), coupling.inverse_log_det_jacobian(x, event_ndims=3))
        )
        == _NETWORK_CONVOLUTIONS
    )


def test_rejects_fewer_than_two_channels():
    with pytest.raises(ValueError, match="AdditiveCoupling needs channels >= 2, got 1"):
        AdditiveCoupling(1, hidden_channels=8)
