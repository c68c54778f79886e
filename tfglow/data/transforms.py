"""Image transforms of the input pipeline, on raw uint8 pixels: centre crop, resize, pad, random
flip.

Every function keeps the dtype uint8; bit reduction, centring and dequantisation belong to the
model.
"""

from __future__ import annotations

import tensorflow as tf

_MAX_PIXEL = 255.0


def center_crop(image: tf.Tensor, side: int | None = None) -> tf.Tensor:
    """Crops the centred `side`×`side` square of an [H, W, C] image; `None` takes the largest
    square."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width) if side is None else tf.constant(side, tf.int32)
    return tf.image.crop_to_bounding_box(
        image, (height - side) // 2, (width - side) // 2, side, side
    )


def resize(image: tf.Tensor, side: int) -> tf.Tensor:
    """Resizes an [H, W, C] uint8 image to `side`×`side`, antialiased, rounded back to uint8."""
    resized = tf.image.resize(
        image, [side, side], method=tf.image.ResizeMethod.BILINEAR, antialias=True
    )
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, _MAX_PIXEL)), tf.uint8)


def pad(image: tf.Tensor, side: int) -> tf.Tensor:
    """Pads an [H, W, C] image with zeros to `side`×`side`, centred (an odd remainder goes
    bottom/right).

    E.g. MNIST 28→32, so that three levels of 2×2 squeeze fit.
    """
    shape = tf.shape(image)
    return tf.image.pad_to_bounding_box(
        image, (side - shape[0]) // 2, (side - shape[1]) // 2, side, side
    )


def random_flip_batch(images: tf.Tensor, seed: int, batch_index: tf.Tensor) -> tf.Tensor:
    """Mirrors each image of a [B, H, W, C] batch left↔right with probability 1/2.

    Stateless: the coin flips depend only on (`seed`, `batch_index`), so a seeded pipeline repeats
    exactly, and each batch of each epoch (the index keeps counting across repeats) gets fresh
    flips.
    """
    stateless_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(batch_index, tf.int64)])
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed=stateless_seed) < 0.5
    return tf.where(
        flip[:, tf.newaxis, tf.newaxis, tf.newaxis], tf.reverse(images, axis=[2]), images
    )
