"""TopPrior: identity at init, the affine formula, per-example log-det, labels, shapes."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tests import flow_testing
from tfglow.bijectors import TopPrior

CHANNELS = 4
NUM_CLASSES = 3
LABELS = tf.constant([0, 2, 1])


_images = functools.partial(flow_testing.normal_tensor, shape=(3, 2, 2, CHANNELS))


def _randomized_prior(num_classes=None, dtype=tf.float32):
    prior = TopPrior(CHANNELS, num_classes=num_classes, dtype=dtype)
    flow_testing.randomize_variables(prior, stddev=0.5)
    return prior


def _base():
    return tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, CHANNELS])


@pytest.mark.parametrize("num_classes,kwargs", [(None, {}), (NUM_CLASSES, {"labels": LABELS})])
def test_starts_as_the_identity(num_classes, kwargs):
    prior = TopPrior(CHANNELS, num_classes=num_classes)
    x = _images()
    np.testing.assert_array_equal(prior.inverse(x, **kwargs), x)
    np.testing.assert_array_equal(prior.inverse_log_det_jacobian(x, 3, **kwargs), np.zeros([3]))


def test_inverse_standardises_with_mean_then_log_std_halves():
    prior = _randomized_prior(NUM_CLASSES)
    x = _images()
    parameters = prior.mean_log_std.numpy() + prior.class_embedding.numpy()[LABELS.numpy()]
    mean = parameters[:, None, None, :CHANNELS]
    log_std = parameters[:, None, None, CHANNELS:]
    np.testing.assert_allclose(
        prior.inverse(x, labels=LABELS), (x - mean) * np.exp(-log_std), atol=1e-6
    )
    np.testing.assert_allclose(
        prior.inverse_log_det_jacobian(x, 3, labels=LABELS),
        -4 * log_std.sum(axis=(1, 2, 3)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("num_classes,kwargs", [(None, {}), (NUM_CLASSES, {"labels": LABELS})])
@pytest.mark.parametrize("dtype,atol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_round_trip(num_classes, kwargs, dtype, atol):
    prior = _randomized_prior(num_classes, dtype)
    flow_testing.assert_round_trip(prior, _images(dtype=dtype), atol=atol, **kwargs)


@pytest.mark.parametrize("num_classes,kwargs", [(None, {}), (NUM_CLASSES, {"labels": LABELS[:2]})])
def test_log_det_matches_brute_force_jacobian(num_classes, kwargs):
    prior = _randomized_prior(num_classes, tf.float64)
    x = _images(dtype=tf.float64, shape=(2, 2, 2, CHANNELS))
    flow_testing.assert_log_det_matches_jacobian(prior, x, **kwargs)
    assert prior.inverse_log_det_jacobian(x, event_ndims=3, **kwargs).shape == (2,)


def test_tf_function_with_unknown_batch_and_labels():
    prior = _randomized_prior(NUM_CLASSES)
    specs = [tf.TensorSpec([None, 2, 2, CHANNELS], tf.float32), tf.TensorSpec([None], tf.int32)]
    inverse = tf.function(
        lambda x, y: (prior.inverse(x, labels=y), prior.inverse_log_det_jacobian(x, 3, labels=y)),
        input_signature=specs,
    )
    forward = tf.function(lambda z, y: prior.forward(z, labels=y), input_signature=specs)
    x = _images()
    z, ildj = inverse(x, LABELS)
    np.testing.assert_allclose(z, prior.inverse(x, labels=LABELS), atol=1e-6)
    np.testing.assert_allclose(ildj, prior.inverse_log_det_jacobian(x, 3, labels=LABELS), rtol=1e-6)
    np.testing.assert_allclose(forward(z, LABELS), x, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be in \[0, 3\)"):
        inverse(x, tf.constant([0, 3, 1]))


def test_two_leading_batch_dims():
    prior = _randomized_prior(NUM_CLASSES)
    x = _images(shape=(2, 3, 2, 2, CHANNELS))
    labels = tf.constant([[0, 1, 2], [2, 2, 0]])
    ildj = prior.inverse_log_det_jacobian(x, event_ndims=3, labels=labels)
    assert ildj.shape == (2, 3)
    folded = prior.inverse_log_det_jacobian(
        tf.reshape(x, [6, 2, 2, CHANNELS]), event_ndims=3, labels=tf.reshape(labels, [6])
    )
    np.testing.assert_allclose(tf.reshape(ildj, [6]), folded, rtol=1e-6)
    flow_testing.assert_round_trip(prior, x, labels=labels)
    unconditional = _randomized_prior()
    assert unconditional.inverse_log_det_jacobian(x, event_ndims=3).shape == (2, 3)
    flow_testing.assert_round_trip(unconditional, x)


def test_every_trainable_variable_gets_a_gradient():
    prior = _randomized_prior(NUM_CLASSES)
    x = _images()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(prior.inverse(x, labels=LABELS) ** 2) - tf.reduce_sum(
            prior.inverse_log_det_jacobian(x, 3, labels=LABELS)
        )
    gradients = tape.gradient(loss, prior.trainable_variables)
    assert len(gradients) == 2
    assert all(g is not None and np.any(tf.convert_to_tensor(g).numpy() != 0) for g in gradients)


def test_different_labels_give_different_log_probs():
    prior = _randomized_prior(NUM_CLASSES)
    distribution = tfd.TransformedDistribution(_base(), prior)
    x = tf.tile(_images(shape=(1, 2, 2, CHANNELS)), [NUM_CLASSES, 1, 1, 1])
    log_prob = distribution.log_prob(x, bijector_kwargs={"labels": tf.range(NUM_CLASSES)})
    flow_testing.assert_tensor_is_good(log_prob, shape=(NUM_CLASSES,))
    assert len(np.unique(log_prob.numpy())) == NUM_CLASSES
    expected = _base().log_prob(
        prior.inverse(x, labels=tf.range(NUM_CLASSES))
    ) + prior.inverse_log_det_jacobian(x, 3, labels=tf.range(NUM_CLASSES))
    np.testing.assert_allclose(log_prob, expected, rtol=1e-6)
    samples = distribution.sample(bijector_kwargs={"labels": tf.range(NUM_CLASSES)}, seed=1)
    flow_testing.assert_tensor_is_good(samples, shape=(NUM_CLASSES, 2, 2, CHANNELS))


def test_unconditional_composes_in_transformed_distribution():
    distribution = tfd.TransformedDistribution(_base(), _randomized_prior())
    log_prob = distribution.log_prob(_images(shape=(2, 3, 2, 2, CHANNELS)))
    flow_testing.assert_tensor_is_good(log_prob, shape=(2, 3))


def test_label_errors():
    conditional = TopPrior(CHANNELS, num_classes=NUM_CLASSES)
    with pytest.raises(ValueError, match="labels are required"):
        conditional.inverse(_images())
    with pytest.raises(ValueError, match="labels are required"):
        tfd.TransformedDistribution(_base(), conditional).log_prob(_images())
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got -1"):
        conditional.inverse(_images(), labels=tf.constant([0, -1, 1]))
    with pytest.raises(TypeError, match="labels must be integers, got dtype float32"):
        conditional.inverse(_images(), labels=tf.constant([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="takes no labels"):
        TopPrior(CHANNELS).inverse(_images(), labels=LABELS)


def test_constructor_errors():
    with pytest.raises(ValueError, match="channels >= 1, got 0"):
        TopPrior(0)
    with pytest.raises(ValueError, match="num_classes >= 1 or None, got 0"):
        TopPrior(CHANNELS, num_classes=0)
