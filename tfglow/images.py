"""Image grids as PNG files, with their row and column captions in a sidecar JSON.

`write_grid("samples.png", images)` with `images` of shape `[rows, columns, H, W, C]` writes one PNG
(tiles separated by a `padding`-pixel border) and `samples.json` beside it:
`{"image": "samples.png", "title": …, "rows": […], "columns": […], "tile_shape": [H, W, C], …}`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

PNG_CHANNELS = (1, 3, 4)


def tile_grid(images, padding: int = 2, background: int = 255) -> np.ndarray:
    """uint8 images `[rows, columns, H, W, C]` → one uint8 image.

    The image has shape `[rows·(H+p)+p, columns·(W+p)+p, C]` with `p = padding`.
    """
    images = np.asarray(images)
    if images.ndim != 5:
        raise ValueError(
            f"images must have shape [rows, columns, height, width, channels], "
            f"got shape {images.shape}"
        )
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels, got dtype {images.dtype}")
    if images.shape[-1] not in PNG_CHANNELS:
        raise ValueError(f"a PNG holds 1, 3 or 4 channels, got {images.shape[-1]}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    rows, columns, height, width, channels = images.shape
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        background,
        np.uint8,
    )
    for row in range(rows):
        for column in range(columns):
            top = padding + row * (height + padding)
            left = padding + column * (width + padding)
            grid[top : top + height, left : left + width] = images[row, column]
    return grid


def sidecar_path(png_path: str) -> str:
    """`grid.png` → `grid.json`, where `write_grid` puts the captions."""
    return os.path.splitext(png_path)[0] + ".json"


def write_grid(
    path: str,
    images,
    row_captions: Sequence[str] | None = None,
    column_captions: Sequence[str] | None = None,
    title: str = "",
    padding: int = 2,
    scale: int = 1,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Writes `images` `[rows, columns, H, W, C]` as a PNG grid and its captions as a sidecar JSON.

    Args:
      path: the PNG file to write; the captions go to `sidecar_path(path)`.
      images: uint8 images `[rows, columns, H, W, C]`.
      row_captions, column_captions: one caption per row / column. Default value: `None` (none).
      title: what the grid shows. Default value: `""`.
      padding: pixels of white border between tiles. Default value: `2`.
      scale: integer magnification (nearest neighbour), for small images. Default value: `1`.
      metadata: more JSON-serialisable facts to store (the command, the model). Default value:
        `None`.

    Returns:
      The path of the sidecar JSON.
    """
    images = np.asarray(images)
    if images.ndim != 5:
        raise ValueError(
            f"images must have shape [rows, columns, height, width, channels], "
            f"got shape {images.shape}"
        )
    rows, columns = images.shape[:2]
    for name, captions, count in (
        ("row_captions", row_captions, rows),
        ("column_captions", column_captions, columns),
    ):
        if captions is not None and len(captions) != count:
            raise ValueError(
                f"{name} must have {count} entries (one per {name.split('_')[0]}), "
                f"got {len(captions)}"
            )
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    scaled = images.repeat(scale, axis=2).repeat(scale, axis=3)
    grid = tile_grid(scaled, padding)
    write_png(path, grid)
    captions = {
        "image": os.path.basename(path),
        "title": title,
        "rows": list(row_captions or []),
        "columns": list(column_captions or []),
        "tile_shape": list(images.shape[2:]),
        "grid_shape": [rows, columns],
        "padding": padding,
        "scale": scale,
        **(metadata or {}),
    }
    json_path = sidecar_path(path)
    with open(json_path, "w", encoding="utf-8") as file:
        json.dump(captions, file, indent=2)
        file.write("\n")
    return json_path


def write_png(path: str | os.PathLike, image) -> None:
    """Writes a uint8 `[H, W, C]` image (C = 1, 3 or 4) as a PNG file, creating its directory."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tf.io.write_file(path, tf.io.encode_png(tf.convert_to_tensor(image, tf.uint8)))


def read_png(path: str) -> np.ndarray:
    """The uint8 pixels `[H, W, C]` of a PNG file."""
    return tf.io.decode_png(tf.io.read_file(path)).numpy()
