"""`LatentLayout`: how a multi-scale flow's latent is cut into levels (RealNVP §3.6, Glow §3).

Each level squeezes (2×2 space-to-depth: `[H, W, C] → [H/2, W/2, 4C]`), runs its steps of flow and,
on all levels but the last, factors out a finished latent: the channels after `split_index(C)`
(`tfglow.bijectors.channel_coupling`) leave the flow and the first `split_index(C)` continue. The
flat latent `eps` `[batch, D]`, D = H·W·C, concatenates the flattened latent of every level, finest
(factored out first) first and the top level (after the last squeeze) last.

This is the one place that knows that layout: `Glow` (both directions), `tfglow.latent`, the
SavedModel's per-level outputs and the classifier head all cut and join through it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow.bijectors.channel_coupling import split_index


@dataclasses.dataclass(frozen=True)
class LatentLayout:
    """The level shapes of a flow over images of `image_shape` with `num_levels` levels.

    Attributes:
      image_shape: `(height, width, channels)`; height and width divisible by `2 ** num_levels`.
      num_levels: L, the number of levels.
    """

    image_shape: tuple[int, int, int]
    num_levels: int

    @property
    def event_size(self) -> int:
        """D = H·W·C, the size of an image and of its flat latent."""
        return math.prod(self.image_shape)

    @property
    def level_shapes(self) -> list[tuple[int, int, int]]:
        """The shape `(H, W, C)` each level's steps of flow act on, after its squeeze."""
        height, width, channels = self.image_shape
        shapes = []
        for _ in range(self.num_levels):
            height, width, channels = height // 2, width // 2, channels * 4
            shapes.append((height, width, channels))
            channels = split_index(channels)
        return shapes

    @property
    def latent_shapes(self) -> list[tuple[int, int, int]]:
        """The shape of each level's finished latent, in the order they appear in the flat `eps`."""
        shapes = []
        for level, (height, width, channels) in enumerate(self.level_shapes):
            factored = channels if self.is_top(level) else channels - split_index(channels)
            shapes.append((height, width, factored))
        return shapes

    @property
    def sizes(self) -> list[int]:
        """The number of latent dimensions of each level, finest first; they sum to D."""
        return [math.prod(shape) for shape in self.latent_shapes]

    @property
    def top_shape(self) -> tuple[int, int, int]:
        """The shape of the top (last, coarsest) level's latent."""
        return self.latent_shapes[-1]

    def is_top(self, level: int) -> bool:
        """Whether `level` is the last one, which factors nothing out."""
        return level == self.num_levels - 1

    @staticmethod
    def factor_out(h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """A level's output `[N, h, w, C]` → (what continues, the finished latent).

        What continues is `h[..., :k]` and the finished latent `h[..., k:]`, `k = split_index(C)`.
        """
        kept = split_index(h.shape[-1])
        return h[..., :kept], h[..., kept:]

    @staticmethod
    def merge(continued: tf.Tensor, finished: tf.Tensor) -> tf.Tensor:
        """The inverse of `factor_out`: concatenates along the channels."""
        return tf.concat([continued, finished], axis=-1)

    def split(self, eps: tf.Tensor) -> list[tf.Tensor]:
        """Flat latents `[N, D]` → one tensor per level, `[N, *latent_shapes[level]]`, finest
        first."""
        pieces = tf.split(eps, self.sizes, axis=-1)
        return [tf.reshape(piece, [-1, *shape]) for piece, shape in zip(pieces, self.latent_shapes)]

    def join(self, levels: Sequence[tf.Tensor]) -> tf.Tensor:
        """The inverse of `split`: one tensor per level (finest first) → flat latents `[N, D]`."""
        if len(levels) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} levels of latents, got {len(levels)}")
        flat = []
        for level, (piece, shape) in enumerate(zip(levels, self.latent_shapes)):
            piece = tf.convert_to_tensor(piece)
            if piece.shape.rank is not None and tuple(piece.shape[1:]) != tuple(shape):
                raise ValueError(
                    f"level {level} latents must have shape "
                    f"[batch, {', '.join(map(str, shape))}], got shape "
                    f"{piece.shape.as_list()}"
                )
            flat.append(tf.reshape(piece, [tf.shape(piece)[0], -1]))
        return tf.concat(flat, axis=-1)

    def top(self, eps: tf.Tensor) -> tf.Tensor:
        """The top level's latent `[N, *top_shape]` out of flat latents `[N, D]`."""
        return tf.reshape(eps[:, self.event_size - self.sizes[-1] :], [-1, *self.top_shape])

    def check_levels_kept(self, num_levels_kept) -> int:
        """`num_levels_kept` if it is an integer in [0, num_levels], else `ValueError`."""
        if (
            isinstance(num_levels_kept, bool)
            or not isinstance(num_levels_kept, (int, np.integer))
            or not 0 <= num_levels_kept <= self.num_levels
        ):
            raise ValueError(
                f"num_levels_kept must be an integer in [0, {self.num_levels}] "
                f"(num_levels), got {num_levels_kept!r}"
            )
        return int(num_levels_kept)

    def top_levels_mask(self, num_levels_kept: int) -> np.ndarray:
        """A boolean `[D]` mask of the flat latent, true on the top `num_levels_kept` levels."""
        first_kept = self.num_levels - self.check_levels_kept(num_levels_kept)
        return np.concatenate(
            [np.full(size, level >= first_kept) for level, size in enumerate(self.sizes)]
        )

    def kept_fraction(self, num_levels_kept: int) -> float:
        """The share of the D latent dimensions in the top `num_levels_kept` levels."""
        return float(self.top_levels_mask(num_levels_kept).mean())
