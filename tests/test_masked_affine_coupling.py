"""MaskedAffineCoupling: the masks, initial map, round trip, log-det, batching, gradients."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import flow_testing
from tfglow.bijectors import MaskedAffineCoupling
from tfglow.bijectors.sigmoid_scale import DEFAULT_SCALE_FLOOR

tfd = tfp.distributions

# ε + (1 − ε)·sigmoid(0 + 2) with the default ε
_INITIAL_SCALE = DEFAULT_SCALE_FLOOR + (1 - DEFAULT_SCALE_FLOOR) / (1.0 + np.exp(-2.0))
_MASKS = [("checkerboard", 0), ("checkerboard", 1), ("channel", 0), ("channel", 1)]


_images = functools.partial(flow_testing.normal_tensor, shape=(2, 4, 4, 3))


def _randomized_coupling(mask, parity, channels=3, dtype=tf.float32, stddev=0.1):
    coupling = MaskedAffineCoupling(
        channels, hidden_channels=8, mask=mask, parity=parity, dtype=dtype, seed=0
    )
    flow_testing.randomize_variables(coupling, stddev=stddev)
    return coupling


def _expected_mask(mask, parity, height=3, width=3, channels=3):
    """`b` of shape [H, W, C]: 1 where the input conditions and passes through unchanged."""
    if mask == "checkerboard":
        rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        board = (rows + columns + parity) % 2 == 0
        return np.broadcast_to(board[:, :, None], [height, width, channels]).astype(float)
    first_half = np.arange(channels) < channels // 2
    return np.broadcast_to(
        first_half if parity == 0 else ~first_half, [height, width, channels]
    ).astype(float)


def test_checkerboard_parity_0_keeps_the_top_left_pixel():
    np.testing.assert_array_equal(
        _expected_mask("checkerboard", 0)[..., 0], [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    )


@pytest.mark.parametrize("mask,parity", _MASKS)
def test_at_init_scales_the_unmasked_entries_by_sigmoid_2(mask, parity):
    coupling = MaskedAffineCoupling(
        3, hidden_channels=8, mask=mask, parity=parity, dtype=tf.float64, seed=0
    )
    x = _images(shape=(2, 3, 3, 3), dtype=tf.float64)
    b = _expected_mask(mask, parity)
    np.testing.assert_allclose(
        coupling.inverse(x), b * x + (1 - b) * _INITIAL_SCALE * x, rtol=1e-12
    )
    expected_log_det = np.sum(1 - b) * np.log(_INITIAL_SCALE)
    np.testing.assert_allclose(
        coupling.inverse_log_det_jacobian(x, event_ndims=3), [expected_log_det] * 2, rtol=1e-12
    )


@pytest.mark.parametrize("mask,parity", _MASKS)
def test_round_trip_after_randomisation_changes_only_the_unmasked_entries(mask, parity):
    coupling = _randomized_coupling(mask, parity)
    x = _images(shape=(2, 3, 3, 3))
    flow_testing.assert_round_trip(coupling, x, atol=1e-5)
    z = coupling.inverse(x).numpy()
    b = _expected_mask(mask, parity).astype(bool) & np.ones(x.shape, bool)
    np.testing.assert_array_equal(z[b], x.numpy()[b])
    initial_map = _INITIAL_SCALE * x.numpy()[~b]
    assert np.max(np.abs(z[~b] - initial_map)) > 0.1


@pytest.mark.parametrize(
    "mask,parity,shape",
    [
        ("checkerboard", 0, (2, 2, 2, 4)),
        ("checkerboard", 1, (2, 2, 2, 4)),
        ("checkerboard", 0, (2, 3, 3, 3)),
        ("checkerboard", 1, (2, 3, 3, 3)),
        ("channel", 0, (2, 2, 2, 3)),
        ("channel", 1, (2, 2, 2, 3)),
    ],
)
def test_log_det_matches_brute_force_jacobian(mask, parity, shape):
    coupling = _randomized_coupling(mask, parity, channels=shape[-1], dtype=tf.float64, stddev=0.5)
    x = _images(shape=shape, dtype=tf.float64)
    flow_testing.assert_log_det_matches_jacobian(coupling, x)


def test_value_and_log_det_run_the_network_once():
    coupling = _randomized_coupling("checkerboard", 0)

    def inverse_and_log_det(x):
        return coupling.inverse(x), coupling.inverse_log_det_jacobian(x, event_ndims=3)

    spec = tf.TensorSpec([None, 4, 4, 3], tf.float32)
    # Glow's network once: two 3×3 convolutions and the 1×1 one, which runs as a MatMul.
    assert flow_testing.network_ops(inverse_and_log_det, spec) == ["Conv2D", "Conv2D", "MatMul"]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(channels=3, mask="stripes"), "mask must be one of .*, got 'stripes'"),
        (dict(channels=3, parity=2), "parity must be 0 or 1, got 2"),
        (dict(channels=0), "needs channels >= 1, got 0"),
        (dict(channels=1, mask="channel"), "needs channels >= 2, got 1"),
    ],
)
def test_constructor_errors_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskedAffineCoupling(hidden_channels=8, **kwargs)
