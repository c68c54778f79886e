"""InvertibleConv1x1: rotation init, the per-pixel matrix product, round trip, log-det, shapes."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tests import flow_testing
from tfglow.bijectors import InvertibleConv1x1

CHANNELS = 4


_images = functools.partial(flow_testing.normal_tensor, shape=(3, 2, 2, CHANNELS))


def _randomized_conv(dtype=tf.float32, seed=0):
    conv = InvertibleConv1x1(CHANNELS, seed=seed, dtype=dtype)
    flow_testing.randomize_variables(conv, seed=seed, stddev=0.3)
    return conv


def test_init_is_a_rotation_with_zero_log_det():
    conv = InvertibleConv1x1(8, seed=3)
    kernel = conv.kernel.numpy().astype(np.float64)
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(8), atol=1e-6)
    assert np.linalg.det(kernel) == pytest.approx(1.0, abs=1e-6)
    ildj = conv.inverse_log_det_jacobian(_images(shape=(2, 3, 3, 8)), event_ndims=3)
    np.testing.assert_allclose(ildj, 0.0, atol=1e-5)


def test_init_is_reproducible_from_seed_or_global_seed():
    np.testing.assert_array_equal(
        InvertibleConv1x1(5, seed=7).kernel, InvertibleConv1x1(5, seed=7).kernel
    )
    assert not np.allclose(InvertibleConv1x1(5, seed=7).kernel, InvertibleConv1x1(5, seed=8).kernel)
    tf.random.set_seed(11)
    first = InvertibleConv1x1(5).kernel.numpy()
    tf.random.set_seed(11)
    np.testing.assert_array_equal(InvertibleConv1x1(5).kernel, first)


def test_inverse_multiplies_every_pixel_by_the_kernel():
    conv = _randomized_conv()
    x = _images()
    expected = np.einsum("nhwc,dc->nhwd", x.numpy(), conv.kernel.numpy())
    np.testing.assert_allclose(conv.inverse(x), expected, atol=1e-5)


@pytest.mark.parametrize("dtype,atol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_round_trip(dtype, atol):
    flow_testing.assert_round_trip(_randomized_conv(dtype), _images(dtype=dtype), atol=atol)


def test_log_det_matches_brute_force_jacobian():
    conv = _randomized_conv(tf.float64)
    flow_testing.assert_log_det_matches_jacobian(
        conv, _images(dtype=tf.float64, shape=(2, 2, 2, 4))
    )


def test_float32_log_det_is_height_times_width_times_float64_log_det():
    conv = _randomized_conv()
    ildj = conv.inverse_log_det_jacobian(_images(shape=(2, 3, 5, CHANNELS)), event_ndims=3)
    assert ildj.dtype == tf.float32
    _, log_abs_det = np.linalg.slogdet(conv.kernel.numpy().astype(np.float64))
    np.testing.assert_allclose(ildj, 15 * log_abs_det, rtol=1e-6)


def test_tf_function_with_unknown_batch():
    conv = _randomized_conv()
    spec = tf.TensorSpec([None, 2, 2, CHANNELS], tf.float32)
    inverse = tf.function(
        lambda x: (conv.inverse(x), conv.inverse_log_det_jacobian(x, 3)), input_signature=[spec]
    )
    forward = tf.function(conv.forward, input_signature=[spec])
    x = _images()
    z, ildj = inverse(x)
    np.testing.assert_allclose(z, conv.inverse(x), atol=1e-6)
    np.testing.assert_allclose(ildj, conv.inverse_log_det_jacobian(x, 3), atol=1e-6)
    np.testing.assert_allclose(forward(z), x, atol=1e-5)


def test_two_leading_batch_dims():
    conv = _randomized_conv()
    x = _images(shape=(2, 3, 2, 2, CHANNELS))
    z = conv.inverse(x)
    folded = conv.inverse(tf.reshape(x, [6, 2, 2, CHANNELS]))
    np.testing.assert_allclose(tf.reshape(z, [6, 2, 2, CHANNELS]), folded, atol=1e-6)
    flow_testing.assert_round_trip(conv, x)


def test_every_trainable_variable_gets_a_gradient():
    conv = _randomized_conv()
    x = _images()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(conv.inverse(x) ** 2) - tf.reduce_sum(
            conv.inverse_log_det_jacobian(x, event_ndims=3)
        )
    gradients = tape.gradient(loss, conv.trainable_variables)
    assert [v.name for v in conv.trainable_variables] == ["invertible_conv1x1/kernel:0"]
    assert all(g is not None and np.any(g.numpy() != 0) for g in gradients)


def test_composes_in_transformed_distribution():
    conv = _randomized_conv()
    distribution = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, CHANNELS]), conv
    )
    x = _images(shape=(2, 3, 2, 2, CHANNELS))
    log_prob = distribution.log_prob(x)
    flow_testing.assert_tensor_is_good(log_prob, shape=(2, 3))
    expected = tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, CHANNELS]).log_prob(
        conv.inverse(x)
    ) + conv.inverse_log_det_jacobian(x, event_ndims=3)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)


def test_rejects_non_positive_channels():
    with pytest.raises(ValueError, match="channels >= 1, got 0"):
        InvertibleConv1x1(channels=0)


def test_rejects_wrong_number_of_channels():
    with pytest.raises(ValueError, match="expected 4 channels"):
        InvertibleConv1x1(CHANNELS, seed=0).inverse(tf.zeros([1, 2, 2, 3]))
