"""Between integer pixels and the flow's continuous space, and the bits/dim convention
(Theis, van den Oord, Bethge 2016; the RealNVP and Glow papers report this figure).

Images are integers in [0, 255]. A model with `num_bits` bits sees
`x_int = floor(pixel / 2^(8−num_bits))`
in {0 … 2^num_bits − 1}, and the flow works on `y = (x_int + u) / 2^num_bits − 0.5` in [-0.5, 0.5):
`u ~ U[0, 1)` in training (uniform dequantisation), `u = 0.5` (the bin centre) for deterministic
encoding and scoring. Then

    bits/dim = (−log p(y) + D · log 2^num_bits) / (D · ln 2),   D = H·W·C.
"""

import math

import tensorflow as tf


def images_to_flow(images, num_bits: int, dtype=tf.float32, noise=None) -> tf.Tensor:
    """Integer pixels in [0, 255] → `y = (x_int + u) / 2^num_bits − 0.5` (u = 0.5 if `noise` is
    None)."""
    bins = 2.0**num_bits
    x_int = tf.floor(tf.cast(images, dtype) / (2.0 ** (8 - num_bits)))
    u = tf.constant(0.5, dtype) if noise is None else tf.cast(noise, dtype)
    return (x_int + u) / bins - 0.5


def flow_to_images(y, num_bits: int) -> tf.Tensor:
    """Flow space → uint8 pixels: the bin `y` falls into, scaled back to [0, 255].

    Values outside [-0.5, 0.5) clip to the nearest end. A non-finite value has no pixel: it raises
    `tf.errors.InvalidArgumentError` rather than becoming a silent black pixel.
    """
    bins = 2.0**num_bits
    y = tf.debugging.assert_all_finite(
        tf.cast(y, tf.float32),
        "decoded images contain NaN or infinity: the flow overflowed "
        "(latent far outside the model's typical set?)",
    )
    x_int = tf.clip_by_value(tf.floor((y + 0.5) * bins), 0.0, bins - 1.0)
    return tf.cast(x_int * (2.0 ** (8 - num_bits)), tf.uint8)


def bits_per_dim(log_prob, num_dims: int, num_bits: int) -> tf.Tensor:
    """`(−log p(y) + D · log 2^num_bits) / (D · ln 2)`, from a continuous log-density in nats."""
    return (-log_prob + num_dims * num_bits * math.log(2.0)) / (num_dims * math.log(2.0))
