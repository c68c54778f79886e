"""LatentLayout: the one owner of how a multi-scale flow's flat latent is cut into levels."""

import numpy as np
import pytest
import tensorflow as tf

from tfglow import Glow, GlowConfig, LatentLayout


@pytest.mark.parametrize(
    "image_shape, num_levels", [((8, 8, 1), 2), ((8, 8, 3), 3), ((28, 28, 1), 2), ((4, 4, 2), 1)]
)
def test_levels_partition_the_flat_latent_and_cut_and_join_are_inverse(image_shape, num_levels):
    layout = LatentLayout(image_shape, num_levels)
    assert sum(layout.sizes) == layout.event_size == np.prod(image_shape)
    assert layout.top_shape == layout.latent_shapes[-1]
    eps = tf.constant(np.random.default_rng(0).normal(size=(3, layout.event_size)), tf.float32)
    pieces = layout.split(eps)
    assert [tuple(p.shape[1:]) for p in pieces] == layout.latent_shapes
    np.testing.assert_array_equal(layout.join(pieces), eps)
    np.testing.assert_array_equal(layout.top(eps), pieces[-1])


def test_factor_out_keeps_the_first_half_of_the_channels_and_merge_undoes_it():
    h = tf.reshape(tf.range(2 * 2 * 2 * 5, dtype=tf.float32), [2, 2, 2, 5])
    continued, finished = LatentLayout.factor_out(h)
    np.testing.assert_array_equal(continued, h[..., :2])
    np.testing.assert_array_equal(finished, h[..., 2:])
    np.testing.assert_array_equal(LatentLayout.merge(continued, finished), h)


def test_the_glow_flow_lays_its_latent_out_as_the_layout_says():
    config = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=1, hidden_channels=4)
    glow = Glow(config)
    x = tf.constant(np.random.default_rng(1).uniform(-0.5, 0.5, (2, 8, 8, 1)), tf.float32)
    level_0, _ = config.layout.split(glow.inverse(x))
    # Level 0's layers run by hand (x→z), then its finished half: what the flat latent starts with.
    _, finished = LatentLayout.factor_out(glow.levels[0].inverse(tf.identity(x)))
    np.testing.assert_allclose(level_0, finished, atol=1e-6)


def test_levels_kept_is_checked_by_value():
    layout = LatentLayout((8, 8, 1), 2)
    assert layout.kept_fraction(0) == 0 and layout.kept_fraction(2) == 1
    assert layout.top_levels_mask(1).sum() == layout.sizes[-1]
    for bad in (-1, 3, 1.5, True):
        with pytest.raises(ValueError, match=r"num_levels_kept must be an integer in \[0, 2\]"):
            layout.check_levels_kept(bad)
