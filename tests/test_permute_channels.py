"""ReverseChannels and ShuffleChannels: permutations, seeds, persistence, zero log-det, shapes."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tests import flow_testing
from tfglow.bijectors import ReverseChannels, ShuffleChannels

CHANNELS = 4
_MAKERS = {
    "reverse": lambda: ReverseChannels(),
    "shuffle": lambda: ShuffleChannels(CHANNELS, seed=3),
}


_images = functools.partial(flow_testing.normal_tensor, shape=(3, 2, 2, CHANNELS))


def test_reverse_reverses_the_channels():
    x = _images()
    np.testing.assert_array_equal(ReverseChannels().inverse(x), x.numpy()[..., ::-1])
    np.testing.assert_array_equal(ReverseChannels().forward(x), x.numpy()[..., ::-1])


def test_shuffle_inverse_gathers_channels_in_permutation_order():
    shuffle = ShuffleChannels(8, seed=0)
    permutation = shuffle.permutation.numpy()
    np.testing.assert_array_equal(np.sort(permutation), np.arange(8))
    x = _images(shape=(2, 2, 2, 8))
    np.testing.assert_array_equal(shuffle.inverse(x), x.numpy()[..., permutation])


def test_shuffle_is_reproducible_from_seed_or_global_seed():
    np.testing.assert_array_equal(
        ShuffleChannels(16, seed=4).permutation, ShuffleChannels(16, seed=4).permutation
    )
    assert not np.array_equal(
        ShuffleChannels(16, seed=4).permutation, ShuffleChannels(16, seed=5).permutation
    )
    tf.random.set_seed(9)
    first = ShuffleChannels(16).permutation.numpy()
    tf.random.set_seed(9)
    np.testing.assert_array_equal(ShuffleChannels(16).permutation, first)


@pytest.mark.parametrize("kind", sorted(_MAKERS))
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_round_trip_is_exact(kind, dtype):
    flow_testing.assert_round_trip(_MAKERS[kind](), _images(dtype=dtype), atol=0.0)


@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_log_det_is_zero_and_matches_brute_force_jacobian(kind):
    bijector = _MAKERS[kind]()
    x = _images(dtype=tf.float64, shape=(2, 2, 2, CHANNELS))
    flow_testing.assert_log_det_matches_jacobian(bijector, x)
    assert bijector.is_constant_jacobian
    np.testing.assert_array_equal(bijector.inverse_log_det_jacobian(x, event_ndims=3), 0.0)


@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_tf_function_with_unknown_batch(kind):
    bijector = _MAKERS[kind]()
    spec = tf.TensorSpec([None, 2, 2, CHANNELS], tf.float32)
    inverse = tf.function(bijector.inverse, input_signature=[spec])
    forward = tf.function(bijector.forward, input_signature=[spec])
    x = _images()
    z = inverse(x)
    np.testing.assert_array_equal(z, bijector.inverse(x))
    np.testing.assert_array_equal(forward(z), x)


@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_two_leading_batch_dims(kind):
    bijector = _MAKERS[kind]()
    x = _images(shape=(2, 3, 2, 2, CHANNELS))
    folded = bijector.inverse(tf.reshape(x, [6, 2, 2, CHANNELS]))
    np.testing.assert_array_equal(tf.reshape(bijector.inverse(x), [6, 2, 2, CHANNELS]), folded)
    flow_testing.assert_round_trip(bijector, x, atol=0.0)


@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_has_no_trainable_variables_and_passes_gradients_through(kind):
    bijector = _MAKERS[kind]()
    assert not bijector.trainable_variables
    x = _images()
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(bijector.inverse(x) * tf.range(CHANNELS, dtype=tf.float32))
    gradient = tape.gradient(loss, x).numpy()
    expected = bijector.forward(tf.range(CHANNELS, dtype=tf.float32))
    np.testing.assert_array_equal(gradient[0, 0, 0], expected)


@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_composes_in_transformed_distribution(kind):
    base = tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, CHANNELS])
    distribution = tfd.TransformedDistribution(base, _MAKERS[kind]())
    x = _images(shape=(2, 3, 2, 2, CHANNELS))
    log_prob = distribution.log_prob(x)
    flow_testing.assert_tensor_is_good(log_prob, shape=(2, 3))
    np.testing.assert_allclose(log_prob, base.log_prob(x), rtol=1e-6)


def test_shuffle_permutation_survives_checkpoint_and_saved_model(tmp_path):
    tf.random.set_seed(1)
    shuffle = ShuffleChannels(16)
    path = tf.train.Checkpoint(shuffle=shuffle).save(str(tmp_path / "ckpt"))
    tf.random.set_seed(2)
    restored = ShuffleChannels(16)
    assert not np.array_equal(restored.permutation, shuffle.permutation)
    tf.train.Checkpoint(shuffle=restored).restore(path).assert_consumed()
    np.testing.assert_array_equal(restored.permutation, shuffle.permutation)

    module = tf.Module()
    module.shuffle = shuffle
    module.inverse = tf.function(
        shuffle.inverse, input_signature=[tf.TensorSpec([None, 1, 1, 16], tf.float32)]
    )
    tf.saved_model.save(module, str(tmp_path / "saved_model"))
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    x = _images(shape=(2, 1, 1, 16))
    np.testing.assert_array_equal(loaded.inverse(x), shuffle.inverse(x))


def test_shuffle_rejects_bad_channels():
    with pytest.raises(ValueError, match="channels >= 1, got 0"):
        ShuffleChannels(channels=0)
    with pytest.raises(ValueError, match="expects 4 channels"):
        ShuffleChannels(CHANNELS, seed=0).inverse(tf.zeros([1, 2, 2, 5]))


def test_shuffle_with_validate_args_rejects_unknown_wrong_channels_at_run_time():
    shuffle = ShuffleChannels(CHANNELS, seed=0, validate_args=True)
    inverse = tf.function(
        shuffle.inverse, input_signature=[tf.TensorSpec([None, 2, 2, None], tf.float32)]
    )
    np.testing.assert_array_equal(inverse(_images()), shuffle.inverse(_images()))
    with pytest.raises(tf.errors.InvalidArgumentError, match="wrong number of channels"):
        inverse(tf.zeros([1, 2, 2, 5]))
