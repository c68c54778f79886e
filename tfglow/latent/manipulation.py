"""Semantic manipulation in latent space (Glow §5, Fig. 6): move an image along an attribute
direction.

For a binary attribute, the direction is the difference of the mean latents of the images with and
without it, `d = mean(z | attribute) − mean(z | not attribute)` with `z = encode(x)` (x→z); an image
is changed by decoding `z + α·d` (z→x). On MNIST / Fashion-MNIST an attribute is "is class c"
(`class_attributes`); CelebA's 40 binary attributes come as a boolean `[N, 40]` array.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow.latent.batches import DEFAULT_BATCH_SIZE, as_labels, map_batches


def encode_dataset(model, images, labels=None, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """`model.encode` (x→z) over a whole uint8 array in batches: `[N, D]` float latents."""
    labels = as_labels(model, labels, len(images))
    return map_batches(lambda x, y: model.encode(x, y), (images, labels), batch_size)


def class_attributes(labels, classes: Sequence[int] | None = None) -> np.ndarray:
    """Boolean attributes `[N, len(classes)]`: column k is "the label is `classes[k]`" (one against
    rest)."""
    labels = np.asarray(labels)
    classes = np.unique(labels) if classes is None else np.asarray(classes)
    return labels[:, np.newaxis] == classes[np.newaxis, :]


def attribute_directions(latents, attributes) -> np.ndarray:
    """`d_k = mean(z | attribute k) − mean(z | not attribute k)`.

    The directions have shape `[D]` for attributes `[N]`, and `[A, D]` for attributes `[N, A]`.

    Args:
      latents: float `[N, D]`, the encoded images (see `encode_dataset`).
      attributes: boolean `[N]` (one attribute) or `[N, A]` (e.g. CelebA's 40); every attribute
        needs at least one image with and one without it.
    """
    latents = np.asarray(latents, np.float64)
    attributes = np.asarray(attributes)
    if attributes.dtype != np.bool_:
        raise TypeError(f"attributes must be a boolean array, got dtype {attributes.dtype}")
    single = attributes.ndim == 1
    attributes = attributes[:, np.newaxis] if single else attributes
    if attributes.ndim != 2 or len(attributes) != len(latents):
        raise ValueError(
            f"attributes must have shape [{len(latents)}] or [{len(latents)}, A] "
            f"(one row per latent), got shape {attributes.shape}"
        )
    with_count = attributes.sum(axis=0)
    without_count = len(attributes) - with_count
    empty = np.flatnonzero((with_count == 0) | (without_count == 0))
    if empty.size:
        raise ValueError(
            f"attributes {empty.tolist()} hold for all or none of the "
            f"{len(attributes)} images: no direction can be estimated"
        )
    present = attributes.astype(np.float64)
    mean_with = present.T @ latents / with_count[:, np.newaxis]
    mean_without = (1.0 - present).T @ latents / without_count[:, np.newaxis]
    directions = mean_with - mean_without
    return directions[0] if single else directions


def manipulate(model, images, direction, amounts: Sequence[float], labels=None) -> np.ndarray:
    """uint8 images `[batch, len(amounts), H, W, C]`: column j decodes `encode(x) + amounts[j] · d`.

    `encode` (x→z) then `decode` (z→x); amount 0 gives back the input images exactly.
    """
    direction = np.asarray(direction, np.float64)
    if direction.shape != (model.config.event_size,):
        raise ValueError(
            f"direction must have shape [{model.config.event_size}] (one latent), "
            f"got shape {direction.shape}"
        )
    labels = as_labels(model, labels, len(images))
    latent = model.encode(images, labels).numpy().astype(np.float64)
    columns = [
        model.decode(
            tf.constant(latent + float(amount) * direction, model.flow_dtype), labels
        ).numpy()
        for amount in amounts
    ]
    return np.stack(columns, axis=1)
