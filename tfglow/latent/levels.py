"""The flat latent `eps` of a multi-scale flow, cut into its levels and put back together.

`Glow` concatenates the flattened latent of every level into one vector of size D = H·W·C, in the
order of `GlowConfig.latent_shapes`: level 0 (the finest, factored out first) comes first, the top
level (the coarsest, after the last squeeze) comes last.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow.config import GlowConfig


def level_sizes(config: GlowConfig) -> list[int]:
    """The number of latent dimensions of each level, finest first; they sum to `config.event_size`."""
    return [int(np.prod(shape)) for shape in config.latent_shapes]


def split_levels(config: GlowConfig, eps) -> list[tf.Tensor]:
    """Flat latents `[batch, D]` → one tensor per level, `[batch, *latent_shapes[level]]`, finest first."""
    eps = tf.convert_to_tensor(eps)
    if eps.shape.rank != 2 or eps.shape[-1] != config.event_size:
        raise ValueError(f"latents must have shape [batch, {config.event_size}], "
                         f"got shape {eps.shape.as_list()}")
    pieces = tf.split(eps, level_sizes(config), axis=-1)
    return [tf.reshape(piece, [-1, *shape]) for piece, shape in zip(pieces, config.latent_shapes)]


def join_levels(config: GlowConfig, levels: Sequence) -> tf.Tensor:
    """The inverse of `split_levels`: one tensor per level (finest first) → flat latents `[batch, D]`."""
    if len(levels) != config.num_levels:
        raise ValueError(f"expected {config.num_levels} levels of latents, got {len(levels)}")
    flat = []
    for level, (piece, shape) in enumerate(zip(levels, config.latent_shapes)):
        piece = tf.convert_to_tensor(piece)
        if tuple(piece.shape[1:]) != tuple(shape):
            raise ValueError(f"level {level} latents must have shape [batch, {', '.join(map(str, shape))}], "
                             f"got shape {piece.shape.as_list()}")
        flat.append(tf.reshape(piece, [tf.shape(piece)[0], -1]))
    return tf.concat(flat, axis=-1)


def kept_fraction(config: GlowConfig, num_levels_kept: int) -> float:
    """The share of the D latent dimensions in the top `num_levels_kept` levels (RealNVP App. D)."""
    check_num_levels_kept(config, num_levels_kept)
    sizes = level_sizes(config)
    return sum(sizes[len(sizes) - num_levels_kept:]) / config.event_size


def top_levels_mask(config: GlowConfig, num_levels_kept: int) -> np.ndarray:
    """A boolean `[D]` mask of the flat latent, true on the top (coarsest) `num_levels_kept` levels."""
    check_num_levels_kept(config, num_levels_kept)
    sizes = level_sizes(config)
    first_kept = config.num_levels - num_levels_kept
    return np.concatenate([np.full(size, level >= first_kept) for level, size in enumerate(sizes)])


def check_num_levels_kept(config: GlowConfig, num_levels_kept: int):
    if not isinstance(num_levels_kept, (int, np.integer)) or not 0 <= num_levels_kept <= config.num_levels:
        raise ValueError(f"num_levels_kept must be an integer in [0, {config.num_levels}] "
                         f"(num_levels), got {num_levels_kept!r}")
