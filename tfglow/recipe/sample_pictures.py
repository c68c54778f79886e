"""Sample grids of a model in training: TensorBoard image summaries and `samples.png`.

Tiling and PNG writing are `tfglow.images`'; this module only chooses what to draw.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfglow import pixels
from tfglow.images import tile_grid, write_png
from tfglow.model import GlowModel

_GAP = 2  # pixels of black between the cells of a grid


def image_grid(images, columns: int) -> tf.Tensor:
    """Tiles uint8 images `[N, H, W, C]` into one image, `columns` per row, 2-pixel black gaps.

    Rows that are not full are padded with black cells.
    """
    images = np.asarray(tf.convert_to_tensor(images, tf.uint8))
    if columns < 1:
        raise ValueError(f"columns must be positive, got {columns}")
    count, height, width, channels = images.shape
    rows = max(1, -(-count // columns))
    blank = np.zeros([rows * columns - count, height, width, channels], np.uint8)
    cells = np.concatenate([images, blank]).reshape([rows, columns, height, width, channels])
    grid = tile_grid(cells, padding=_GAP, background=0)
    return tf.constant(grid[_GAP:-_GAP, _GAP:-_GAP])


def sample_grids(
    model: GlowModel, temperatures, num_samples: int, seed: int = 0
) -> dict[float, tf.Tensor]:
    """A grid of `num_samples` samples per temperature, `{temperature: uint8 [H', W', C]}`.

    The same latent directions (those of `model.sample(…, seed=seed)`) are scaled by each
    temperature, so grids compare like for like; a class-conditional model draws the classes
    `0, 1, …` in turn.
    """
    columns = max(1, int(np.ceil(np.sqrt(num_samples))))
    labels = None
    if model.config.num_classes:
        labels = tf.range(num_samples) % model.config.num_classes
    directions = model.standard_normal(num_samples, seed)
    grids = {}
    for temperature in temperatures:
        flow_space = model.decode_to_flow(directions * temperature, labels)
        # Early in training a sample can overflow (a coupling scale near 0 inverted many times);
        # it is shown grey instead of stopping the run, and counted in a warning.
        finite = tf.math.is_finite(flow_space)
        overflowed = int(tf.reduce_sum(tf.cast(~tf.reduce_all(finite, axis=[1, 2, 3]), tf.int32)))
        if overflowed:
            tf.get_logger().warning(
                f"{overflowed} of {num_samples} samples at temperature {temperature} "
                "overflowed; shown with grey pixels"
            )
        flow_space = tf.where(finite, flow_space, tf.zeros_like(flow_space))
        grids[temperature] = image_grid(
            pixels.flow_to_images(flow_space, model.config.num_bits), columns
        )
    return grids


def write_sample_png(
    model: GlowModel, path: str | os.PathLike, temperatures, num_samples: int, seed: int = 0
) -> None:
    """Writes one PNG of sample grids, one grid per temperature side by side (lowest first)."""
    grids = list(sample_grids(model, temperatures, num_samples, seed).values())
    height, _, channels = grids[0].shape
    gap = tf.fill([height, 4 * _GAP, channels], tf.constant(255, tf.uint8))
    pieces = [grids[0]]
    for grid in grids[1:]:
        pieces += [gap, grid]
    write_png(path, tf.concat(pieces, axis=1))
