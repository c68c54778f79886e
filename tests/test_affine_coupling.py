"""AffineCoupling: initial map, round trip, log-det, one network pass, batching, gradients."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import flow_testing
from tfglow.bijectors import AffineCoupling
from tfglow.bijectors.sigmoid_scale import DEFAULT_SCALE_FLOOR

tfd = tfp.distributions

# The convolutions of the coupling network: 3×3, 1×1 and the zero-initialised 3×3.
_NETWORK_CONVOLUTIONS = 3
# scale = ε + (1 − ε)·sigmoid(h + 2) at h = 0, with the default ε
_INITIAL_SCALE = DEFAULT_SCALE_FLOOR + (1 - DEFAULT_SCALE_FLOOR) / (1.0 + np.exp(-2.0))


_images = functools.partial(flow_testing.normal_tensor, shape=(2, 4, 4, 4))


def _randomized_coupling(channels=4, dtype=tf.float32, stddev=0.1):
    coupling = AffineCoupling(channels, hidden_channels=8, dtype=dtype, seed=0)
    flow_testing.randomize_variables(coupling, stddev=stddev)
    return coupling


@pytest.mark.parametrize("channels", [4, 5])
def test_at_init_scales_the_second_half_by_the_floored_sigmoid_2_and_keeps_the_first(channels):
    coupling = AffineCoupling(channels, hidden_channels=8, dtype=tf.float64, seed=0)
    x = _images(shape=(2, 3, 3, channels), dtype=tf.float64)
    z = coupling.inverse(x)
    half = channels // 2
    scale = _INITIAL_SCALE
    np.testing.assert_array_equal(z[..., :half], x[..., :half])
    np.testing.assert_allclose(z[..., half:], scale * x[..., half:], rtol=1e-12)
    expected_log_det = 3 * 3 * (channels - half) * np.log(scale)
    np.testing.assert_allclose(
        coupling.inverse_log_det_jacobian(x, event_ndims=3), [expected_log_det] * 2, rtol=1e-12
    )


@pytest.mark.parametrize("channels", [2, 4, 5])
def test_round_trip_after_randomisation_is_not_the_initial_map(channels):
    coupling = _randomized_coupling(channels)
    x = _images(shape=(3, 4, 4, channels))
    flow_testing.assert_round_trip(coupling, x, atol=1e-5)
    z = coupling.inverse(x)
    half = channels // 2
    initial_map = x[..., half:] * _INITIAL_SCALE
    assert np.max(np.abs(z[..., half:] - initial_map)) > 0.1
    np.testing.assert_array_equal(z[..., :half], x[..., :half])


@pytest.mark.parametrize("channels", [2, 4, 5])
def test_log_det_matches_brute_force_jacobian(channels):
    coupling = _randomized_coupling(channels, dtype=tf.float64, stddev=0.5)
    x = _images(shape=(2, 2, 2, channels), dtype=tf.float64)
    flow_testing.assert_log_det_matches_jacobian(coupling, x)


def test_forward_log_det_is_minus_inverse_log_det_in_float32():
    coupling = _randomized_coupling()
    x = _images()
    z = coupling.inverse(x)
    ildj = coupling.inverse_log_det_jacobian(x, event_ndims=3)
    fldj = coupling.forward_log_det_jacobian(tf.identity(z), event_ndims=3)
    np.testing.assert_allclose(fldj, -ildj, rtol=1e-5)
    assert np.all(np.abs(ildj) > 0.1)


def _count_convolutions(function, spec) -> int:
    return len(flow_testing.network_ops(function, spec))


def test_value_and_log_det_run_the_network_once():
    coupling = _randomized_coupling()
    spec = tf.TensorSpec([None, 4, 4, 4], tf.float32)

    def inverse_and_log_det(x):
        return coupling.inverse(x), coupling.inverse_log_det_jacobian(x, event_ndims=3)

    def forward_and_log_det(z):
        return coupling.forward(z), coupling.forward_log_det_jacobian(z, event_ndims=3)

    def log_det_then_inverse(x):
        return coupling.inverse_log_det_jacobian(x, event_ndims=3), coupling.inverse(x)

    for function in [inverse_and_log_det, forward_and_log_det, log_det_then_inverse]:
        assert _count_convolutions(function, spec) == _NETWORK_CONVOLUTIONS, function.__name__
    distribution = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 4]), coupling
    )
    assert _count_convolutions(distribution.log_prob, spec) == _NETWORK_CONVOLUTIONS


def _coupling_with_scale_logits(pre_scale, scale_floor, channels=4):
    """A coupling whose network outputs shift 0 and pre-scale `pre_scale` everywhere."""
    coupling = AffineCoupling(
        channels, hidden_channels=8, dtype=tf.float32, seed=0, scale_floor=scale_floor
    )
    transformed = channels - channels // 2
    coupling.conditioner.output_conv.bias.assign(np.tile([0.0, pre_scale], transformed))
    return coupling


def test_the_scale_floor_bounds_the_decoding_gain():
    """Scale logits far below zero: the floored scale is ε, and decoding multiplies by 1/ε."""
    x = _images(shape=(2, 3, 3, 4))
    floored = _coupling_with_scale_logits(-1000.0, scale_floor=0.01)
    z = floored.inverse(x)
    np.testing.assert_allclose(z[..., 2:], 0.01 * x[..., 2:], rtol=1e-6)
    np.testing.assert_allclose(
        floored.inverse_log_det_jacobian(x, event_ndims=3),
        [3 * 3 * 2 * np.log(0.01)] * 2,
        rtol=1e-6,
    )
    x_again = floored.forward(flow_testing.fresh(z))
    np.testing.assert_allclose(x_again, x, rtol=1e-5, atol=1e-6)
    latent = _images(shape=(2, 3, 3, 4), seed=1)
    decoded = floored.forward(latent)
    np.testing.assert_allclose(decoded[..., 2:], latent[..., 2:] / 0.01, rtol=1e-5)

    unfloored = _coupling_with_scale_logits(-1000.0, scale_floor=0.0)
    assert not np.all(np.isfinite(unfloored.forward(latent)))  # Glow's sigmoid(h + 2) overflows


def test_scale_floor_0_is_glows_sigmoid():
    coupling = _coupling_with_scale_logits(0.7, scale_floor=0.0)
    x = _images(shape=(2, 3, 3, 4))
    np.testing.assert_allclose(
        coupling.inverse(x)[..., 2:], x[..., 2:] / (1.0 + np.exp(-2.7)), rtol=1e-6
    )


@pytest.mark.parametrize("scale_floor", [-0.1, 1.0, float("nan"), "0.01"])
def test_rejects_a_scale_floor_outside_0_1(scale_floor):
    with pytest.raises(ValueError, match="scale_floor must be a number in \\[0, 1\\)"):
        AffineCoupling(4, hidden_channels=8, scale_floor=scale_floor)


def test_rejects_fewer_than_two_channels():
    with pytest.raises(ValueError, match="AffineCoupling needs channels >= 2, got 1"):
        AffineCoupling(1, hidden_channels=8)
