"""RealNVP's logit preprocessing: the map and its log-det, exact pixel round trips, bits/dim through
the change of variables, and probabilities that add up over every image of a tiny space."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests import flow_testing
from tfglow import Glow, GlowConfig, GlowModel
from tfglow.bijectors import LogitPreprocessing

ALPHA = 0.05


def test_the_map_is_the_logit_of_the_squeezed_pixel_range():
    y = np.array([-0.5, -0.25, 0.0, 0.4999], np.float64).reshape(1, 1, 2, 2)
    v = LogitPreprocessing(ALPHA, dtype=tf.float64).inverse(tf.constant(y))
    p = ALPHA + (1 - 2 * ALPHA) * (y + 0.5)
    np.testing.assert_allclose(v, np.log(p / (1 - p)), rtol=1e-12)


def test_round_trip_and_log_det_against_the_brute_force_jacobian():
    logit = LogitPreprocessing(ALPHA, dtype=tf.float64)
    y = tf.constant(np.random.default_rng(0).uniform(-0.5, 0.5, size=(2, 2, 2, 1)))
    flow_testing.assert_round_trip(logit, y, atol=1e-12)
    flow_testing.assert_log_det_matches_jacobian(logit, y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1, float("nan"), True])
def test_rejects_an_alpha_outside_0_to_one_half(alpha):
    with pytest.raises(ValueError, match="alpha"):
        LogitPreprocessing(alpha)
    with pytest.raises(ValueError, match="alpha"):
        GlowConfig.preset("tiny", preprocessing="logit", logit_alpha=alpha)


CONFIG = GlowConfig(
    image_shape=(4, 4, 1), num_levels=1, steps_per_level=2, hidden_channels=8, preprocessing="logit"
)


def test_decode_inverts_encode_exactly_for_every_pixel_value():
    images = np.arange(256, dtype=np.uint8).reshape(16, 4, 4, 1)
    model = GlowModel(CONFIG)
    model.initialize(images)
    flow_testing.randomize_variables(model.bijector, seed=2, stddev=0.05)
    np.testing.assert_array_equal(model.decode(model.encode(images)), images)


def test_bits_per_dim_is_the_change_of_variables_through_the_logit():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 4, 4, 1), dtype=np.uint8)
    model = GlowModel(CONFIG, dtype=tf.float64)
    model.initialize(images)
    flow_testing.randomize_variables(model.bijector, seed=2, stddev=0.05)
    # The same flow without the preprocessing, on the same variables, models v = logit(p).
    plain = Glow(CONFIG.replace(preprocessing="none"), dtype=tf.float64)
    for target, source in zip(plain.variables, model.bijector.variables):
        target.assign(source)
    y = (images.astype(np.float64) + 0.5) / 256 - 0.5
    p = ALPHA + (1 - 2 * ALPHA) * (y + 0.5)
    v = np.log(p) - np.log1p(-p)
    eps = plain.inverse(tf.constant(v)).numpy()
    log_p_v = (
        -0.5 * np.sum(eps**2, axis=1)
        - 0.5 * 16 * math.log(2 * math.pi)
        + plain.inverse_log_det_jacobian(tf.constant(v), event_ndims=3).numpy()
    )
    log_det_logit = np.sum(np.log(1 - 2 * ALPHA) - np.log(p) - np.log1p(-p), axis=(1, 2, 3))
    expected = (-(log_p_v + log_det_logit) + 16 * 8 * math.log(2)) / (16 * math.log(2))
    np.testing.assert_allclose(model.bits_per_dim(images, dequantize=False), expected, rtol=1e-10)


# ---- probabilities add up: 2×2×1 images with 2 bits, 256 of them ------------------------------

TINY = GlowConfig(
    image_shape=(2, 2, 1), num_levels=1, steps_per_level=2, hidden_channels=8, num_bits=2
)
# Midpoint-rule nodes of the dequantisation noise u in each pixel's bin: the sum over all images
# of their probability P(x) = ∫_bin p(y) dy is then a Riemann sum of ∫ p(y) dy over [-0.5, 0.5)^4.
NODES_PER_PIXEL = 4


def _total_probability(model: GlowModel) -> float:
    levels = np.arange(4) * 64  # the 4 pixel values a 2-bit model sees, as uint8
    images = np.array(list(itertools.product(levels, repeat=4)), np.uint8).reshape(-1, 2, 2, 1)
    nodes = (np.arange(NODES_PER_PIXEL) + 0.5) / NODES_PER_PIXEL
    noise = np.array(list(itertools.product(nodes, repeat=4))).reshape(-1, 1, 2, 2, 1)
    # Every image at every node, in one batch: [nodes, images, 2, 2, 1].
    y = model.to_flow(np.broadcast_to(images, (len(noise), *images.shape)), noise + 0 * images)
    log_prob = model.distribution().log_prob(tf.reshape(y, [-1, 2, 2, 1])).numpy()
    # The mean over the nodes of p(y) times the bin's volume, summed over the images.
    return float(np.sum(np.exp(log_prob)) * (1 / 4) ** 4 / len(noise))


def _trained(config: GlowConfig) -> GlowModel:
    rng = np.random.default_rng(0)
    # A lopsided distribution over the 256 images, so the model is far from its initial state.
    images = (np.minimum(rng.geometric(0.5, size=(512, 2, 2, 1)) - 1, 3) * 64).astype(np.uint8)
    model = GlowModel(config, dtype=tf.float64)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-2))
    model.fit(images, batch_size=64, epochs=4, verbose=0)
    return model


def test_probabilities_of_all_images_add_up_to_at_most_one():
    total = _total_probability(_trained(TINY))
    print(f"sum of P(x) over the 256 images: {total:.4f}")
    assert 0.2 < total <= 1.0 + 1e-3


def _integral_over_cube(model: GlowModel, half_width: float, nodes: int) -> float:
    """The midpoint-rule integral of the model's density over `[-half_width, half_width)^4`."""
    grid = -half_width + (np.arange(nodes) + 0.5) * (2 * half_width / nodes)
    points = np.array(list(itertools.product(grid, repeat=4))).reshape(-1, 2, 2, 1)
    log_prob = model.distribution().log_prob(tf.constant(points)).numpy()
    return float(np.sum(np.exp(log_prob)) * (2 * half_width / nodes) ** 4)


def test_with_logit_preprocessing_the_probabilities_add_up_over_the_logit_support():
    # The logit space covers y ∈ (−0.5 − δ, 0.5 + δ) with δ = α/(1 − 2α), a little more than the
    # pixel range: the 256 images hold what the model puts inside the range, and with the border
    # the density integrates to 1 (the change of variables is complete).
    model = _trained(TINY.replace(preprocessing="logit"))
    images_total = _total_probability(model)
    support_total = _integral_over_cube(model, 0.5 + ALPHA / (1 - 2 * ALPHA), nodes=32)
    print(
        f"logit preprocessing: sum of P(x) over the 256 images {images_total:.4f}, "
        f"integral over the logit support {support_total:.4f}"
    )
    assert images_total <= 1.0 + 1e-3
    assert abs(support_total - 1.0) < 0.02
