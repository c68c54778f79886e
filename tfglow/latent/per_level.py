"""The flat latent `eps` of a trained flow cut into its levels and put back together.

The cutting rule is `tfglow.LatentLayout`'s (level 0, the finest, first; the top level last);
these functions take a `GlowConfig` and check the latents on the way in.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow import checks
from tfglow.config import GlowConfig


def level_sizes(config: GlowConfig) -> list[int]:
    """The number of latent dimensions of each level, finest first; they sum to
    `config.event_size`."""
    return config.layout.sizes


def split_levels(config: GlowConfig, eps) -> list[tf.Tensor]:
    """Flat latents `[batch, D]` → one tensor per level, `[batch, *latent_shapes[level]]`, finest
    first."""
    return config.layout.split(checks.latents(eps, config.event_size))


def join_levels(config: GlowConfig, levels: Sequence) -> tf.Tensor:
    """The inverse of `split_levels`: one tensor per level (finest first) → flat latents."""
    return config.layout.join(levels)


def kept_fraction(config: GlowConfig, num_levels_kept: int) -> float:
    """The share of the D latent dimensions in the top `num_levels_kept` levels (RealNVP App. D)."""
    return config.layout.kept_fraction(num_levels_kept)


def top_levels_mask(config: GlowConfig, num_levels_kept: int) -> np.ndarray:
    """A boolean `[D]` mask of the flat latent, true on the top (coarsest) `num_levels_kept`
    levels."""
    return config.layout.top_levels_mask(num_levels_kept)
