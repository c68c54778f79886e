"""tfglow.latent on randomised tiny models: temperature, interpolation, manipulation, compression,
levels."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tfglow import GlowConfig, latent

CONFIG = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=16)
CONDITIONAL = CONFIG.replace(num_classes=3)


_images = functools.partial(flow_testing.random_pixels, batch=4, shape=CONFIG.image_shape)


@pytest.fixture(scope="module")
def model():
    return _randomized_model(CONFIG)


@pytest.fixture(scope="module")
def conditional_model():
    return _randomized_model(CONDITIONAL)


# stddev 0.1 makes this tiny flow's decoder overflow to NaN (latents reach ~1e4); 0.02 keeps it
# a generic, well-conditioned invertible map.
_randomized_model = functools.partial(flow_testing.randomized_model, stddev=0.02, batch=12)


# ---- levels
# ---------------------------------------------------------------------------------------


def test_split_levels_cuts_the_flat_latent_finest_first_and_join_levels_inverts_it():
    config = GlowConfig(image_shape=(8, 8, 3), num_levels=3, steps_per_level=1, hidden_channels=4)
    assert latent.level_sizes(config) == [96, 48, 48]
    eps = np.arange(2 * 192, dtype=np.float32).reshape(2, 192)
    levels = latent.split_levels(config, eps)
    assert [tuple(level.shape) for level in levels] == [(2, 4, 4, 6), (2, 2, 2, 12), (2, 1, 1, 48)]
    np.testing.assert_array_equal(levels[0].numpy().reshape(2, -1), eps[:, :96])
    np.testing.assert_array_equal(levels[2].numpy().reshape(2, -1), eps[:, 144:])
    np.testing.assert_array_equal(latent.join_levels(config, levels), eps)
    assert latent.kept_fraction(config, 0) == 0.0
    assert latent.kept_fraction(config, 1) == 0.25
    assert latent.kept_fraction(config, 2) == 0.5
    assert latent.kept_fraction(config, 3) == 1.0
    np.testing.assert_array_equal(latent.top_levels_mask(config, 2), np.arange(192) >= 96)
    with pytest.raises(ValueError, match=r"num_levels_kept must be an integer in \[0, 3\].*got 4"):
        latent.kept_fraction(config, 4)
    with pytest.raises(ValueError, match=r"latents must have shape \[batch, 192\]"):
        latent.split_levels(config, eps[:, :10])


def test_the_top_level_of_the_flat_latent_is_the_one_the_top_prior_shifts(conditional_model):
    # Encoding the same image under two labels changes only the top prior's latent (the last level).
    images = _images(batch=2)
    eps_0 = conditional_model.encode(images, [0, 0])
    eps_1 = conditional_model.encode(images, [1, 1])
    levels_0 = latent.split_levels(CONDITIONAL, eps_0)
    levels_1 = latent.split_levels(CONDITIONAL, eps_1)
    np.testing.assert_array_equal(levels_0[0], levels_1[0])
    assert not np.allclose(levels_0[1], levels_1[1])


# ---- temperature
# ----------------------------------------------------------------------------------


def test_temperature_zero_is_deterministic_and_decodes_the_prior_means(model):
    grid = latent.sample_at_temperatures(model, [0.0, 0.5, 1.0], num_samples=3, seed=4)
    assert grid.shape == (3, 3, 8, 8, 1) and grid.dtype == np.uint8
    again = latent.sample_at_temperatures(model, [0.0], num_samples=3, seed=5)
    np.testing.assert_array_equal(grid[0], again[0])
    mode = model.decode(tf.zeros([3, CONFIG.event_size])).numpy()
    np.testing.assert_array_equal(grid[0], mode)
    # The mode path of a trained (here: randomised) flow is not the flat image eps = 0 would be
    # without the learned priors.
    assert len(np.unique(mode[0])) > 4
    for row, temperature in enumerate([0.0, 0.5, 1.0]):
        np.testing.assert_array_equal(grid[row], model.sample(3, temperature, seed=4).numpy())
    assert not np.array_equal(grid[1], grid[2])
    with pytest.raises(ValueError, match="temperatures must be finite and >= 0, got -0.5"):
        latent.sample_at_temperatures(model, [-0.5])


def test_class_conditional_sampling_decodes_each_label(conditional_model):
    grid = latent.sample_classes(conditional_model, [0, 2], num_samples=2, temperature=0.0)
    assert grid.shape == (2, 2, 8, 8, 1)
    zeros = tf.zeros([2, CONFIG.event_size])
    np.testing.assert_array_equal(grid[1], conditional_model.decode(zeros, [2, 2]).numpy())
    assert not np.array_equal(grid[0], grid[1])
    with pytest.raises(ValueError, match=r"classes must be in \[0, 3\), got 3"):
        latent.sample_classes(conditional_model, [3])


# ---- interpolation
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_endpoints_decode_to_the_inputs_exactly(model, method):
    images_a, images_b = _images(batch=3, seed=1), _images(batch=3, seed=2)
    path = latent.interpolate(model, images_a, images_b, num_steps=5, method=method)
    assert path.shape == (3, 5, 8, 8, 1) and path.dtype == np.uint8
    np.testing.assert_array_equal(path[:, 0], images_a)
    np.testing.assert_array_equal(path[:, -1], images_b)
    middle = path[:, 2].astype(int)
    assert np.abs(middle - images_a).mean() > 5 and np.abs(middle - images_b).mean() > 5


def test_interpolation_weights_linear_and_spherical():
    a = np.array([[1.0, 0.0], [2.0, 0.0]])
    b = np.array([[0.0, 1.0], [2.0, 0.0]])  # the second pair is parallel: slerp falls back to lerp
    t = np.array([0.0, 0.5, 1.0])
    weight_a, weight_b = latent.interpolation_weights(a, b, t, "linear")
    np.testing.assert_array_equal(weight_a, [[1.0, 0.5, 0.0]] * 2)
    np.testing.assert_array_equal(weight_b, [[0.0, 0.5, 1.0]] * 2)
    weight_a, weight_b = latent.interpolation_weights(a, b, t, "spherical")
    half = np.sqrt(0.5)
    np.testing.assert_allclose(weight_a, [[1.0, half, 0.0], [1.0, 0.5, 0.0]], atol=1e-12)
    np.testing.assert_allclose(weight_b, [[0.0, half, 1.0], [0.0, 0.5, 1.0]], atol=1e-12)
    # Slerp between unit vectors stays on the unit sphere.
    path = weight_a[0][:, None] * a[0] + weight_b[0][:, None] * b[0]
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="method must be one of .* got 'cubic'"):
        latent.interpolation_weights(a, b, t, "cubic")


# ---- manipulation
# ---------------------------------------------------------------------------------


def test_attribute_directions_are_mean_latent_differences():
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(10, 5))
    attributes = rng.random((10, 3)) < 0.5
    attributes[0] = True
    attributes[1] = False
    directions = latent.attribute_directions(latents, attributes)
    for k in range(3):
        expected = latents[attributes[:, k]].mean(0) - latents[~attributes[:, k]].mean(0)
        np.testing.assert_allclose(directions[k], expected, rtol=1e-12)
    np.testing.assert_allclose(
        latent.attribute_directions(latents, attributes[:, 1]), directions[1]
    )
    labels = np.array([0, 1, 2, 1])
    np.testing.assert_array_equal(
        latent.class_attributes(labels, [1, 2]),
        [[False, False], [True, False], [False, True], [True, False]],
    )
    attributes[:, 2] = True
    with pytest.raises(ValueError, match=r"attributes \[2\] hold for all or none of the 10 images"):
        latent.attribute_directions(latents, attributes)
    with pytest.raises(TypeError, match="boolean"):
        latent.attribute_directions(latents, attributes.astype(int))


def test_manipulation_by_zero_is_the_identity_and_moves_along_the_direction(model):
    images = _images(batch=6, seed=3)
    labels = np.array([0, 1, 0, 1, 1, 0])
    z = latent.encode_dataset(model, images, batch_size=4)
    np.testing.assert_allclose(z, model.encode(images).numpy(), atol=1e-5)  # batched as 4 + 2
    direction = latent.attribute_directions(z, labels == 1)
    moved = latent.manipulate(model, images[:2], direction, amounts=[0.0, 1.0])
    assert moved.shape == (2, 2, 8, 8, 1)
    np.testing.assert_array_equal(moved[:, 0], images[:2])
    expected = model.decode(tf.constant(z[:2] + direction, tf.float32)).numpy()
    assert np.abs(moved[:, 1].astype(int) - expected).max() <= 1  # float64 vs float32 sum
    assert np.abs(moved[:, 1].astype(int) - images[:2]).mean() > 5


# ---- compression
# ----------------------------------------------------------------------------------


def test_compression_keeps_everything_nothing_or_the_top_level(model):
    images = _images(batch=3, seed=6)
    grid, fractions = latent.compress(model, images, temperature=0.8, seed=11)
    assert fractions == [1.0, 0.5, 0.0]
    np.testing.assert_array_equal(grid[:, 0], images)
    np.testing.assert_array_equal(grid[:, 2], model.sample(3, temperature=0.8, seed=11).numpy())
    levels = latent.split_levels(CONFIG, model.encode(images))
    prior = latent.split_levels(CONFIG, latent.standard_normal(model, 3, seed=11) * 0.8)
    expected = model.decode(latent.join_levels(CONFIG, [prior[0], levels[1]])).numpy()
    np.testing.assert_array_equal(grid[:, 1], expected)
    assert not np.array_equal(grid[:, 1], grid[:, 0]) and not np.array_equal(grid[:, 1], grid[:, 2])
