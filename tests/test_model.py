"""GlowModel: pixel-space API, exactness, gradients, checkpoints, bad input, composition."""

import functools
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests import flow_testing
from tfglow import GlowConfig, GlowModel, pixels

CONFIG = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=16)


_images = functools.partial(flow_testing.random_pixels, batch=6, shape=CONFIG.image_shape)


# Strong enough to move every layer off its initial map; at 0.1 this 8×8 flow already maps
# some pixels to |z| ~ 1e3 and float32 can no longer invert it (measured).
_randomized_model = functools.partial(flow_testing.randomized_model, stddev=0.05, batch=6)


def test_bits_per_dim_of_a_known_density():
    # A uniform density on flow space [-0.5, 0.5)^D has log p = 0: exactly num_bits bits/dim.
    assert float(pixels.bits_per_dim(tf.constant(0.0), num_dims=784, num_bits=8)) == pytest.approx(
        8.0
    )
    assert float(pixels.bits_per_dim(tf.constant(0.0), num_dims=12, num_bits=5)) == pytest.approx(
        5.0
    )
    # And a density twice as high everywhere saves exactly 1/D bits per dimension.
    assert float(pixels.bits_per_dim(tf.constant(math.log(2.0)), num_dims=10, num_bits=8)) == (
        pytest.approx(8.0 - 0.1)
    )


def test_bits_per_dim_is_log_prob_in_bits_at_bin_centres():
    model = _randomized_model(CONFIG)
    images = _images()
    log_prob = model.log_prob(images).numpy()
    expected = (-log_prob + 64 * 8 * math.log(2)) / (64 * math.log(2))
    np.testing.assert_allclose(model.bits_per_dim(images, dequantize=False), expected, rtol=1e-6)


def test_log_prob_equals_the_tfp_distribution_log_prob():
    model = _randomized_model(CONFIG)
    images = _images()
    flow_space = pixels.images_to_flow(images, num_bits=8)
    np.testing.assert_allclose(
        model.log_prob(images), model.distribution().log_prob(flow_space), rtol=1e-5
    )


def test_decode_of_encode_returns_the_same_uint8_images():
    model = _randomized_model(CONFIG)
    images = _images(batch=16)
    eps = model.encode(images)
    assert eps.shape == (16, CONFIG.event_size)
    decoded = model.decode(flow_testing.fresh(eps))
    assert decoded.dtype == tf.uint8
    np.testing.assert_array_equal(decoded.numpy(), images)


def test_decode_of_encode_is_exact_with_fewer_bits():
    config = CONFIG.replace(num_bits=5)
    model = _randomized_model(config)
    images = _images(batch=8)
    reduced = (images // 8) * 8
    np.testing.assert_array_equal(
        model.decode(flow_testing.fresh(model.encode(images))).numpy(), reduced
    )


def test_every_trainable_variable_receives_a_gradient():
    model = _randomized_model(CONFIG)
    images = _images()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(images, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)
    assert len(model.trainable_variables) > 10
    missing = [
        v.name
        for v, g in zip(model.trainable_variables, gradients)
        if g is None or not np.any(np.asarray(tf.convert_to_tensor(g)))
    ]
    assert not missing, f"variables without gradient: {missing}"


def test_sampling_at_temperature_zero_is_deterministic_and_seeded_sampling_repeats():
    model = _randomized_model(CONFIG)
    cold = model.sample(3, temperature=0.0)
    np.testing.assert_array_equal(cold.numpy(), model.sample(3, temperature=0.0).numpy())
    np.testing.assert_array_equal(model.sample(4, seed=7).numpy(), model.sample(4, seed=7).numpy())
    assert model.sample(4, temperature=0.7, seed=1).shape == (4, 8, 8, 1)
    with pytest.raises(ValueError, match="temperature must be finite and >= 0, got -1"):
        model.sample(2, temperature=-1.0)


@pytest.mark.parametrize("coupling", ["affine", "additive"])
def test_samples_at_temperature_1_decode_to_finite_images(coupling):
    """Latents from the whole prior, not only the typical set of the training data, decode.

    With Glow's unfloored scale (`scale_floor=0`) 206 of these 2,048 affine samples overflow to
    infinity (measured); the floor bounds every coupling's decoding gain.
    """
    model = _randomized_model(CONFIG.replace(coupling=coupling))
    latents = tf.random.stateless_normal([2048, CONFIG.event_size], seed=[0, 0])
    flow_testing.assert_tensor_is_good(tf.function(model.decode_to_flow)(latents))


def test_checkpoint_restores_identical_outputs(tmp_path):
    model = _randomized_model(CONFIG)
    images = _images()
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    restored = GlowModel(CONFIG.replace(seed=99))
    tf.train.Checkpoint(model=restored).restore(path).assert_existing_objects_matched()
    assert restored.is_initialized
    np.testing.assert_array_equal(restored.log_prob(images), model.log_prob(images))
    np.testing.assert_array_equal(restored.encode(images), model.encode(images))


@pytest.mark.parametrize(
    "images,error,message",
    [
        (np.zeros((2, 8, 9, 1), np.uint8), ValueError, r"shape \[batch, 8, 8, 1\].*\[2, 8, 9, 1\]"),
        (np.zeros((2, 8, 8, 3), np.uint8), ValueError, r"shape \[batch, 8, 8, 1\].*\[2, 8, 8, 3\]"),
        (np.zeros((8, 8, 1), np.uint8), ValueError, r"shape \[batch, 8, 8, 1\]"),
        (np.full((2, 8, 8, 1), 256.0, np.float32), tf.errors.InvalidArgumentError, "above 255"),
        (np.full((2, 8, 8, 1), -1, np.int32), tf.errors.InvalidArgumentError, "below 0"),
        (np.full((2, 8, 8, 1), np.nan, np.float32), tf.errors.InvalidArgumentError, "NaN"),
        (np.full((2, 8, 8, 1), 0.5, np.float32), tf.errors.InvalidArgumentError, "normalised"),
        (np.full((2, 8, 8, 1), "a"), TypeError, "integer pixel values"),
    ],
)
def test_bad_images_raise_errors_that_name_the_problem(images, error, message):
    model = GlowModel(CONFIG)
    with pytest.raises(error, match=message):
        model.log_prob(images)


def test_non_finite_flow_values_are_not_turned_into_pixels():
    with pytest.raises(tf.errors.InvalidArgumentError, match="decoded images contain NaN"):
        pixels.flow_to_images(tf.constant([[0.1, np.nan]]), num_bits=8)
    np.testing.assert_array_equal(
        pixels.flow_to_images(tf.constant([-0.7, 0.0, 0.7]), 8), [0, 128, 255]
    )


def test_bad_latents_raise_errors_that_name_the_problem():
    model = GlowModel(CONFIG)
    with pytest.raises(ValueError, match=r"latents must have shape \[batch, 64\]"):
        model.decode(np.zeros((2, 63), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinity"):
        model.decode(np.full((2, 64), np.nan, np.float32))


def test_fit_on_uint8_array_initializes_and_lowers_bits_per_dim():
    model = GlowModel(CONFIG)
    rng = np.random.default_rng(0)
    # Structured data: smooth blobs, so there is something to learn.
    base = np.linspace(0, 255, 8)[None, :, None, None] * rng.uniform(0.5, 1.0, (256, 1, 1, 1))
    images = np.clip(base + rng.normal(0, 8, (256, 8, 8, 1)), 0, 255).astype(np.uint8)
    assert not model.is_initialized
    # The same model as fit starts it: initialised on the first batch, untrained.
    untrained = GlowModel(CONFIG)
    untrained.initialize(images[:32])
    before = float(np.mean(untrained.bits_per_dim(images[:64], seed=0)))
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    history = model.fit(images, batch_size=32, epochs=4, verbose=0)
    assert model.is_initialized
    after = float(np.mean(model.bits_per_dim(images[:64], seed=0)))
    assert np.all(np.isfinite(history.history["bits_per_dim"]))
    assert after < before - 0.5, (before, after)


def test_fit_traces_its_train_step_once():
    # Adam's slots created inside the first trace would make `tf.function` trace the step again
    # and keep both graphs (`benchmarks/README.md`, the reversible training graph).
    model = GlowModel(CONFIG)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(_images(seed=0, batch=64), batch_size=32, epochs=2, verbose=0)
    assert model.train_function.experimental_get_tracing_count() == 1
    assert len(model.optimizer.variables()) == 1 + 2 * len(model.trainable_variables)


def test_a_one_replica_train_step_adds_no_all_reduce_per_variable():
    # tf_keras's gradient aggregation wraps each gradient in a `tf.custom_gradient` all-reduce,
    # an `Identity` per variable in the step's graph even on one device, where the sum is the
    # gradient itself.
    model = GlowModel(CONFIG)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(_images(seed=0, batch=64), batch_size=32, epochs=1, verbose=0)
    graph = model.train_function.get_concrete_function(
        iter(tf.data.Dataset.from_tensor_slices(_images(seed=0, batch=32)).batch(32))
    ).graph
    identities = [op for op in graph.get_operations() if op.type == "Identity"]
    assert len(identities) < len(model.trainable_variables) // 2


def test_class_conditional_model_takes_labels_everywhere():
    config = CONFIG.replace(num_classes=3)
    model = _randomized_model(config)
    images = _images(batch=3)
    labels = np.array([0, 1, 2], np.int32)
    assert not np.allclose(model.log_prob(images, labels), model.log_prob(images, labels[::-1]))
    np.testing.assert_array_equal(
        model.decode(flow_testing.fresh(model.encode(images, labels)), labels).numpy(), images
    )
    assert model.sample(3, seed=1, labels=labels).shape == (3, 8, 8, 1)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    history = model.fit(
        np.repeat(images, 4, 0), np.repeat(labels, 4), batch_size=4, epochs=1, verbose=0
    )
    assert np.isfinite(history.history["bits_per_dim"][-1])
    with pytest.raises(ValueError, match="pass labels"):
        model.log_prob(images)
