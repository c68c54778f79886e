"""Between integer pixels and the flow's continuous space, and the bits/dim convention (REFERENCE §3).

Images are integers in [0, 255]. A model with `num_bits` bits sees `x_int = floor(pixel / 2^(8−num_bits))`
in {0 … 2^num_bits − 1}, and the flow works on `y = (x_int + u) / 2^num_bits − 0.5` in [-0.5, 0.5):
`u ~ U[0, 1)` in training (uniform dequantisation), `u = 0.5` (the bin centre) for deterministic
encoding and scoring. Then

    bits/dim = (−log p(y) + D · log 2^num_bits) / (D · ln 2),   D = H·W·C.
"""

import math

import tensorflow as tf

MAX_PIXEL = 255


def validate_images(images, image_shape, name: str = "images") -> tf.Tensor:
    """Checks that `images` are integer-valued pixels in [0, 255] of shape `[batch, *image_shape]`.

    Static problems (rank, shape, dtype) raise `ValueError`/`TypeError` at once; value problems
    (NaN, non-integer values, values outside [0, 255]) raise `tf.errors.InvalidArgumentError` when
    the check runs. Returns the images as a tensor, unchanged.
    """
    images = check_image_shape(images, image_shape, name)
    checks = []
    if images.dtype.is_floating:
        checks.append(tf.debugging.assert_all_finite(images, f"{name} contain NaN or infinity"))
        checks.append(tf.debugging.assert_equal(
            images, tf.round(images), message=f"{name} must be integer pixel values in [0, 255]; "
                                              f"got non-integer values (already normalised?)"))
    if images.dtype != tf.uint8:
        checks.append(tf.debugging.assert_greater_equal(
            images, tf.zeros([], images.dtype), message=f"{name} have pixel values below 0"))
        checks.append(tf.debugging.assert_less_equal(
            images, tf.constant(MAX_PIXEL, images.dtype),
            message=f"{name} have pixel values above 255"))
    with tf.control_dependencies(checks):
        return tf.identity(images)


def check_image_shape(images, image_shape, name: str = "images") -> tf.Tensor:
    """The static part of `validate_images`: dtype and shape, checked while tracing, at no run cost."""
    images = tf.convert_to_tensor(images)
    if not (images.dtype.is_integer or images.dtype.is_floating):
        raise TypeError(f"{name} must be integer pixel values (uint8 preferred), got dtype "
                        f"{images.dtype.name}")
    if images.shape.rank is not None and (
            images.shape.rank != 4 or not images.shape[1:].is_compatible_with(image_shape)):
        raise ValueError(f"{name} must have shape [batch, {', '.join(map(str, image_shape))}] "
                         f"(height, width, channels), got shape {images.shape.as_list()}")
    return images


def images_to_flow(images, num_bits: int, dtype=tf.float32, noise=None) -> tf.Tensor:
    """Integer pixels in [0, 255] → `y = (x_int + u) / 2^num_bits − 0.5` (u = 0.5 if `noise` is None)."""
    bins = 2.0 ** num_bits
    x_int = tf.floor(tf.cast(images, dtype) / (2.0 ** (8 - num_bits)))
    u = tf.constant(0.5, dtype) if noise is None else tf.cast(noise, dtype)
    return (x_int + u) / bins - 0.5


def flow_to_images(y, num_bits: int) -> tf.Tensor:
    """Flow space → uint8 pixels: the bin `y` falls into, scaled back to [0, 255].

    Values outside [-0.5, 0.5) clip to the nearest end. A non-finite value has no pixel: it raises
    `tf.errors.InvalidArgumentError` rather than becoming a silent black pixel.
    """
    bins = 2.0 ** num_bits
    y = tf.debugging.assert_all_finite(
        tf.cast(y, tf.float32), "decoded images contain NaN or infinity: the flow overflowed "
                                "(latent far outside the model's typical set?)")
    x_int = tf.clip_by_value(tf.floor((y + 0.5) * bins), 0.0, bins - 1.0)
    return tf.cast(x_int * (2.0 ** (8 - num_bits)), tf.uint8)


def bits_per_dim(log_prob, num_dims: int, num_bits: int) -> tf.Tensor:
    """`(−log p(y) + D · log 2^num_bits) / (D · ln 2)`, from a continuous log-density in nats."""
    return (-log_prob + num_dims * num_bits * math.log(2.0)) / (num_dims * math.log(2.0))
