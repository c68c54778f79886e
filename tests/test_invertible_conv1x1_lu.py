"""InvertibleConv1x1LU: factors, reconstruction, round trip, log-det, checkpoints, shapes."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tests import flow_testing
from tfglow.bijectors import InvertibleConv1x1, InvertibleConv1x1LU

CHANNELS = 4


_images = functools.partial(flow_testing.normal_tensor, shape=(3, 2, 2, CHANNELS))


def _randomized_conv(dtype=tf.float32, seed=0, channels=CHANNELS):
    conv = InvertibleConv1x1LU(channels, seed=seed, dtype=dtype)
    flow_testing.randomize_variables(conv, seed=seed, stddev=0.3)
    return conv


def _reconstructed_kernel(conv) -> np.ndarray:
    """`P @ L @ (U + diag(sign(s)·exp(log|s|)))` in numpy from the variables."""
    lower = np.tril(conv.lower.numpy(), -1) + np.eye(conv.lower.shape[0])
    upper = np.triu(conv.upper.numpy(), 1) + np.diag(
        conv.sign_s.numpy() * np.exp(conv.log_abs_s.numpy())
    )
    return conv.permutation.numpy() @ lower @ upper


def test_init_factors_the_same_rotation_as_the_plain_conv():
    conv = InvertibleConv1x1LU(6, seed=5)
    kernel = conv.kernel.numpy().astype(np.float64)
    np.testing.assert_allclose(kernel, InvertibleConv1x1(6, seed=5).kernel, atol=1e-6)
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(6), atol=1e-6)
    np.testing.assert_allclose(np.sum(conv.log_abs_s), 0.0, atol=1e-5)
    permutation = conv.permutation.numpy()
    assert set(np.unique(permutation)) == {0.0, 1.0}
    np.testing.assert_array_equal(permutation.sum(axis=0), 1)
    np.testing.assert_array_equal(permutation.sum(axis=1), 1)
    np.testing.assert_array_equal(np.triu(conv.lower.numpy()), 0)
    np.testing.assert_array_equal(np.tril(conv.upper.numpy()), 0)


def test_kernel_and_log_det_equal_the_factor_product_after_randomizing():
    conv = _randomized_conv(tf.float64, channels=5)
    expected_kernel = _reconstructed_kernel(conv)
    np.testing.assert_allclose(conv.kernel, expected_kernel, atol=1e-12)
    _, log_abs_det = np.linalg.slogdet(expected_kernel)
    ildj = conv.inverse_log_det_jacobian(
        _images(dtype=tf.float64, shape=(2, 3, 1, 5)), event_ndims=3
    )
    np.testing.assert_allclose(ildj, 3 * log_abs_det, rtol=1e-10)


def test_inverse_multiplies_every_pixel_by_the_kernel():
    conv = _randomized_conv()
    x = _images()
    expected = np.einsum("nhwc,dc->nhwd", x.numpy(), _reconstructed_kernel(conv))
    np.testing.assert_allclose(conv.inverse(x), expected, atol=1e-5)


@pytest.mark.parametrize("dtype,atol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_round_trip(dtype, atol):
    flow_testing.assert_round_trip(_randomized_conv(dtype), _images(dtype=dtype), atol=atol)


def test_log_det_matches_brute_force_jacobian():
    conv = _randomized_conv(tf.float64)
    flow_testing.assert_log_det_matches_jacobian(
        conv, _images(dtype=tf.float64, shape=(2, 2, 2, 4))
    )


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
    folded = conv.inverse(tf.reshape(x, [6, 2, 2, CHANNELS]))
    np.testing.assert_allclose(tf.reshape(conv.inverse(x), [6, 2, 2, CHANNELS]), folded, atol=1e-6)
    flow_testing.assert_round_trip(conv, x)


def test_every_trainable_variable_gets_a_gradient_and_fixed_factors_are_not_trainable():
    conv = _randomized_conv()
    x = _images()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(conv.inverse(x) ** 2) - tf.reduce_sum(
            conv.inverse_log_det_jacobian(x, event_ndims=3)
        )
    gradients = tape.gradient(loss, conv.trainable_variables)
    names = sorted(v.name.split("/")[-1] for v in conv.trainable_variables)
    assert names == ["log_abs_s:0", "lower:0", "upper:0"]
    assert all(g is not None and np.any(g.numpy() != 0) for g in gradients)
    fixed = sorted(v.name.split("/")[-1] for v in conv.non_trainable_variables)
    assert fixed == ["permutation:0", "sign_s:0"]


def test_checkpoint_restores_the_fixed_factors(tmp_path):
    tf.random.set_seed(1)
    conv = _randomized_conv(seed=None)
    path = tf.train.Checkpoint(conv=conv).save(str(tmp_path / "ckpt"))
    tf.random.set_seed(2)
    restored = InvertibleConv1x1LU(CHANNELS)
    assert not np.allclose(restored.kernel, conv.kernel)
    tf.train.Checkpoint(conv=restored).restore(path).assert_consumed()
    np.testing.assert_array_equal(restored.permutation, conv.permutation)
    np.testing.assert_array_equal(restored.sign_s, conv.sign_s)
    np.testing.assert_array_equal(restored.kernel, conv.kernel)


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
    with pytest.raises(ValueError, match="channels >= 1, got -1"):
        InvertibleConv1x1LU(channels=-1)


def test_rejects_wrong_number_of_channels():
    with pytest.raises(ValueError, match="expected 4 channels"):
        InvertibleConv1x1LU(CHANNELS, seed=0).forward(tf.zeros([1, 2, 2, 5]))
