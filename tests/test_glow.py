"""The composite `Glow` bijector, over every flow variant: exactness, log-det, TFP composition."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import flow_testing
from tfglow import Glow, GlowConfig

tfb = tfp.bijectors
tfd = tfp.distributions

TINY = dict(image_shape=(4, 4, 2), num_levels=2, steps_per_level=2, hidden_channels=8)
VARIANTS = {
    "glow_affine_lu": dict(),
    "glow_affine_conv1x1": dict(permutation="conv1x1"),
    "glow_additive_shuffle": dict(coupling="additive", permutation="shuffle"),
    "glow_affine_reverse_no_top": dict(permutation="reverse", learn_top_prior=False),
    "realnvp": dict(architecture="realnvp", permutation="none"),
    "nice": dict(coupling="additive", permutation="reverse", actnorm=False),
    "class_conditional": dict(num_classes=3),
}


def _flow(variant, dtype=tf.float32, seed=0, stddev=0.2):
    config = GlowConfig(**TINY, **VARIANTS[variant])
    glow = Glow(config, dtype=dtype)
    flow_testing.randomize_variables(glow, seed=seed, stddev=stddev)
    kwargs = {"labels": tf.constant([0, 2, 1])} if config.num_classes else {}
    return glow, kwargs


def _flow_images(dtype, batch=3, shape=TINY["image_shape"], seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-0.5, 0.5, (batch, *shape)), dtype)


@pytest.mark.parametrize("variant", VARIANTS)
def test_round_trip_float32(variant):
    # Noise of 0.1 moves every log-det far from zero (about -10 nats); at 0.2 the random LU
    # factors are so ill-conditioned that float32 alone loses 2e-5 (measured), in float64 none.
    glow, kwargs = _flow(variant, stddev=0.1)
    flow_testing.assert_round_trip(glow, _flow_images(tf.float32), atol=1e-5, **kwargs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_log_det_matches_brute_force_jacobian(variant):
    glow, kwargs = _flow(variant, dtype=tf.float64)
    x = _flow_images(tf.float64)
    expected = flow_testing.brute_force_inverse_log_det(glow, x, **kwargs)
    ildj = glow.inverse_log_det_jacobian(x, event_ndims=3, **kwargs)
    np.testing.assert_allclose(ildj, expected, rtol=1e-8, atol=1e-8)
    eps = glow.inverse(x, **kwargs)
    fldj = glow.forward_log_det_jacobian(tf.identity(eps), event_ndims=1, **kwargs)
    np.testing.assert_allclose(fldj, -np.asarray(expected), rtol=1e-8, atol=1e-8)
    assert np.all(np.abs(expected) > 1e-3), "the randomised flow should not be volume-preserving"


def test_latent_has_the_image_size_and_levels_in_order():
    config = GlowConfig(**TINY)
    glow, _ = _flow("glow_affine_lu")
    eps = glow.inverse(_flow_images(tf.float32))
    assert eps.shape == (3, config.event_size)
    assert [np.prod(s) for s in config.latent_shapes] == [16, 16]
    assert glow.inverse_event_shape([4, 4, 2]) == [32]
    assert glow.forward_event_shape([32]) == [4, 4, 2]


def test_works_in_tf_function_with_unknown_batch_and_extra_batch_dims():
    glow, _ = _flow("glow_affine_lu", stddev=0.1)
    inverse = tf.function(glow.inverse, input_signature=[tf.TensorSpec([None, 4, 4, 2])])
    x = _flow_images(tf.float32, batch=5)
    np.testing.assert_allclose(inverse(x), glow.inverse(x), atol=1e-6)
    x_2d_batch = tf.reshape(_flow_images(tf.float32, batch=6), [2, 3, 4, 4, 2])
    eps = glow.inverse(x_2d_batch)
    assert eps.shape == (2, 3, 32)
    np.testing.assert_allclose(glow.forward(flow_testing.fresh(eps)), x_2d_batch, atol=1e-5)


def test_rejects_images_and_latents_of_the_wrong_shape():
    glow, _ = _flow("glow_affine_lu")
    with pytest.raises(ValueError, match=r"expected images of shape \[\.\.\., 4, 4, 2\]"):
        glow.inverse(tf.zeros([1, 4, 4, 3]))
    with pytest.raises(ValueError, match=r"expected latents of shape \[\.\.\., 32\]"):
        glow.forward(tf.zeros([1, 31]))


def test_class_conditional_flow_needs_labels_and_uses_them():
    glow, _ = _flow("class_conditional")
    x = _flow_images(tf.float32)
    with pytest.raises(ValueError, match="pass labels"):
        glow.inverse(x)
    ildj_a = glow.inverse_log_det_jacobian(x, event_ndims=3, labels=tf.constant([0, 0, 0]))
    ildj_b = glow.inverse_log_det_jacobian(x, event_ndims=3, labels=tf.constant([1, 1, 1]))
    assert not np.allclose(ildj_a, ildj_b)


def test_composes_with_other_tfp_bases_and_bijectors():
    glow, _ = _flow("glow_affine_lu", dtype=tf.float64)
    config = glow.config
    x = _flow_images(tf.float64)
    student_t = tfd.TransformedDistribution(
        tfd.Sample(tfd.StudentT(tf.constant(5.0, tf.float64), 0.0, 1.0), config.event_size), glow
    )
    eps = glow.inverse(x)
    expected = tfd.StudentT(tf.constant(5.0, tf.float64), 0.0, 1.0).log_prob(eps).numpy().sum(
        -1
    ) + glow.inverse_log_det_jacobian(x, event_ndims=3)
    np.testing.assert_allclose(student_t.log_prob(x), expected, rtol=1e-10)

    normal = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), config.event_size), glow
    )
    scaled = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), config.event_size),
        tfb.Chain([tfb.Scale(tf.constant(2.0, tf.float64)), glow]),
    )
    log_prob_scaled = scaled.log_prob(2.0 * x)
    assert np.all(np.isfinite(log_prob_scaled))
    np.testing.assert_allclose(
        log_prob_scaled, normal.log_prob(x) - config.event_size * np.log(2.0), rtol=1e-10
    )
    samples = scaled.sample(4, seed=3)
    assert samples.shape == (4, 4, 4, 2)
    flow_testing.assert_tensor_is_good(scaled.log_prob(samples))
