"""The input checks of tfglow, one function and one message per rule.

Every entry point (the models, `Glow`, `tfglow.latent`, the SavedModel signatures and the command
lines) checks its arguments here, so a bad value gets the same error wherever it enters. Static
problems (type, rank, shape, Python values) raise `TypeError`/`ValueError` at once; problems that
only a tensor's values show (NaN, out-of-range pixels or labels) raise
`tf.errors.InvalidArgumentError` when the check runs, inside a graph too. This module imports
nothing from tfglow, so every floor of the library can use it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import tensorflow as tf

MAX_PIXEL = 255


def shape_in_graph(values: tf.Tensor, dims, message: str) -> tf.Tensor:
    """`values`, once an in-graph check has found its shape to be `dims` (`None`: any size).

    A SavedModel signature declares its input shapes, but TF Serving and a loaded signature pass
    whatever arrives, of any rank, to the graph. So the check compares the shape as text,
    "64,8,8,1" against `[0-9]+,8,8,1`: a wrong rank fails it as a wrong size does, with `message`
    and the shape that arrived, where a comparison of shape vectors would fail on their lengths.
    Checks of the values should take the tensor returned, so that they run after this one.
    """
    pattern = ",".join("[0-9]+" if size is None else str(int(size)) for size in dims)
    shape = tf.shape(values)
    text = tf.strings.reduce_join(tf.strings.as_string(shape), separator=",")
    check = tf.debugging.Assert(
        tf.strings.regex_full_match(text, pattern), [message, "got shape", shape]
    )
    with tf.control_dependencies([check]):
        return tf.identity(values)


def positive_int(name: str, value) -> int:
    """`value` if it is a Python or numpy integer >= 1 (not a bool), else `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_int_argument(text: str) -> int:
    """An `argparse` type: a positive integer, else a usage error that says so."""
    import argparse

    try:
        return positive_int("the value", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None


def boolean(name: str, value) -> bool:
    """`value` if it is `True` or `False` (not a string such as "false"), else `ValueError`."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def choice(name: str, value, choices: tuple) -> object:
    """`value` if it is one of `choices`, else `ValueError` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def seed(value, name: str = "seed") -> int:
    """A Python seed of a stateless draw: an integer in [0, 2^63)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in [0, 2^63), got {value!r}")
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be an integer in [0, 2^63), got {value}")
    return int(value)


def temperature(value, name: str = "temperature") -> float:
    """A Python temperature: a finite real number >= 0, returned as `float`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (numbers.Real, np.floating, np.integer))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def temperature_tensor(values: tf.Tensor, name: str = "temperature") -> tf.Tensor:
    """The in-graph form of `temperature`: a vector `[batch]`, every entry finite and >= 0."""
    values = shape_in_graph(values, [None], f"{name} must have shape [batch]")
    checks = [
        tf.debugging.assert_all_finite(
            values, f"{name} must be finite and >= 0, got NaN or infinity"
        ),
        tf.debugging.assert_non_negative(values, message=f"{name} must be finite and >= 0"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(values)


def labels(values, num_classes: int | None, batch_size=None, name: str = "labels"):
    """Class labels for a model with `num_classes` classes, as an int32 tensor `[batch]`.

    `None` is the answer for an unconditional model (`num_classes` is `None`), and labels given
    to one raise; a class-conditional model requires them. A scalar is repeated to `batch_size`
    when that is given. Integers outside `[0, num_classes)` raise `ValueError` when their values
    are known while tracing, `InvalidArgumentError` when the check runs otherwise.
    """
    if num_classes is None:
        if values is not None:
            raise ValueError(
                f"{name} were given, but the model is not class-conditional and "
                f"takes no labels (GlowConfig.num_classes is None)"
            )
        return None
    if values is None:
        raise ValueError(
            f"the model is class-conditional (num_classes={num_classes}): {name} are "
            f"required; pass {name}, one integer in [0, {num_classes}) per image"
        )
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_integer:
        raise TypeError(f"{name} must be integers, got dtype {values.dtype.name}")
    if values.shape.rank == 0 and batch_size is not None:
        values = tf.fill(tf.reshape(batch_size, [1]), values)
    values = tf.cast(values, tf.int64) if values.dtype == tf.uint64 else values
    range_message = f"{name} must be in [0, {num_classes})"
    known = tf.get_static_value(values)
    if known is not None:
        outside = np.unique(known[(known < 0) | (known >= num_classes)])
        if outside.size:
            raise ValueError(f"{range_message}, got {', '.join(map(str, outside))}")
        checks = []
    else:
        if batch_size is not None:
            values = shape_in_graph(
                values, [None], f"{name} must have shape [batch] (one per image)"
            )
        checks = [
            tf.debugging.assert_non_negative(values, message=range_message),
            tf.debugging.assert_less(
                values, tf.cast(num_classes, values.dtype), message=range_message
            ),
        ]
    if batch_size is not None:
        static_batch = tf.get_static_value(batch_size)
        if values.shape.rank not in (None, 1):
            raise ValueError(
                f"{name} must have shape [batch] (one per image), got shape "
                f"{values.shape.as_list()}"
            )
        if (
            static_batch is not None
            and values.shape.rank == 1
            and values.shape[0] is not None
            and values.shape[0] != static_batch
        ):
            raise ValueError(
                f"{name} must have one entry per image ({static_batch}), got {values.shape[0]}"
            )
        checks.append(
            tf.debugging.assert_equal(
                tf.size(values),
                tf.cast(batch_size, tf.int32),
                message=f"{name} must have one entry per image",
            )
        )
    with tf.control_dependencies(checks):
        return tf.identity(tf.cast(values, tf.int32))  # cast alone is no op for int32


def latents(values, event_size: int, dtype=None, name: str = "latents") -> tf.Tensor:
    """Flat latents `[batch, event_size]`, finite, as a tensor of `dtype`."""
    values = tf.convert_to_tensor(values, dtype)
    shape_message = f"{name} must have shape [batch, {event_size}]"
    if values.shape.rank is not None and (
        values.shape.rank != 2 or not values.shape[1:].is_compatible_with([event_size])
    ):
        raise ValueError(f"{shape_message}, got shape {values.shape.as_list()}")
    values = shape_in_graph(values, [None, event_size], shape_message)
    check = tf.debugging.assert_all_finite(values, f"{name} must be finite, got NaN or infinity")
    with tf.control_dependencies([check]):
        return tf.identity(values)


def image_shape(images, shape, name: str = "images") -> tf.Tensor:
    """The static part of `images`: dtype and shape `[batch, *shape]`, checked while tracing."""
    images = tf.convert_to_tensor(images)
    if not (images.dtype.is_integer or images.dtype.is_floating):
        raise TypeError(
            f"{name} must be integer pixel values (uint8 preferred), got dtype {images.dtype.name}"
        )
    expected = f"[batch, {', '.join(map(str, shape))}] (height, width, channels)"
    if images.shape.rank is not None and (
        images.shape.rank != 4 or not images.shape[1:].is_compatible_with(shape)
    ):
        raise ValueError(f"{name} must have shape {expected}, got shape {images.shape.as_list()}")
    return images


def images(values, shape, name: str = "images") -> tf.Tensor:
    """Integer-valued pixels in [0, 255] of shape `[batch, *shape]`, returned unchanged.

    Static problems (rank, shape, dtype) raise at once; NaN, non-integer values and values outside
    [0, 255] raise `tf.errors.InvalidArgumentError` when the check runs.
    """
    values = image_shape(values, shape, name)
    # The shape again in the graph: a SavedModel served by TF Serving checks no static shape.
    values = shape_in_graph(
        values,
        [None, *shape],
        f"{name} must have shape [batch, {', '.join(map(str, shape))}] (height, width, channels)",
    )
    checks = []
    if values.dtype.is_floating:
        checks.append(tf.debugging.assert_all_finite(values, f"{name} contain NaN or infinity"))
        checks.append(
            tf.debugging.assert_equal(
                values,
                tf.round(values),
                message=f"{name} must be integer pixel values in [0, 255]; "
                f"got non-integer values (already normalised?)",
            )
        )
    if values.dtype != tf.uint8:
        checks.append(
            tf.debugging.assert_greater_equal(
                values, tf.zeros([], values.dtype), message=f"{name} have pixel values below 0"
            )
        )
        checks.append(
            tf.debugging.assert_less_equal(
                values,
                tf.constant(MAX_PIXEL, values.dtype),
                message=f"{name} have pixel values above {MAX_PIXEL}",
            )
        )
    with tf.control_dependencies(checks):
        return tf.identity(values)


def images_and_labels(data) -> tuple:
    """`images`, `(images, labels)` or `{"images", "labels"}` (Keras' `x`, `(x, y)`) → a pair."""
    if isinstance(data, (tuple, list)):
        if not 1 <= len(data) <= 3:
            raise ValueError(f"expected images or (images, labels), got a sequence of {len(data)}")
        return data[0], (data[1] if len(data) > 1 else None)
    if isinstance(data, dict):
        unknown = set(data) - {"images", "labels"}
        if "images" not in data or unknown:
            raise ValueError(
                f"a dict of inputs needs the key 'images' (and optionally 'labels'), "
                f"got keys {sorted(data)}"
            )
        return data["images"], data.get("labels")
    return data, None
