"""Interpolation between two real images through the flow's exact latent space (Glow Fig. 5).

Encode both images (x→z), walk from one latent to the other, decode every point (z→x). Because
encoding is exact, the walk starts and ends at the input images themselves, pixel for pixel.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow.latent.batches import as_labels

METHODS = ("linear", "spherical")
# Below this angle between the latents (radians) spherical interpolation is linear interpolation.
_PARALLEL_ANGLE = 1e-6


def interpolation_weights(
    latent_a: np.ndarray, latent_b: np.ndarray, fractions: np.ndarray, method: str = "linear"
) -> tuple[np.ndarray, np.ndarray]:
    """Weights `(w_a, w_b)`, `[batch, len(fractions)]`, with `z(t) = w_a · z_a + w_b · z_b`.

    Linear: `w_a = 1 − t`, `w_b = t`. Spherical (slerp; Shoemake 1985, as in White 2016 for
    generative models): with Ω the angle between `z_a` and `z_b`,
    `w_a = sin((1 − t)·Ω) / sin Ω`, `w_b = sin(t·Ω) / sin Ω`; at t = 0 and 1 the weights are
    exactly (1, 0) and (0, 1). Computed in float64.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    t = np.asarray(fractions, np.float64)[np.newaxis, :]
    if method == "linear":
        return np.broadcast_to(1.0 - t, (len(latent_a), t.shape[1])), np.broadcast_to(
            t, (len(latent_a), t.shape[1])
        )
    a = np.asarray(latent_a, np.float64)
    b = np.asarray(latent_b, np.float64)
    cosine = np.sum(a * b, -1) / np.maximum(
        np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), np.finfo(np.float64).tiny
    )
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))[:, np.newaxis]
    parallel = angle < _PARALLEL_ANGLE
    safe_angle = np.where(parallel, 1.0, angle)
    weight_a = np.where(parallel, 1.0 - t, np.sin((1.0 - t) * safe_angle) / np.sin(safe_angle))
    weight_b = np.where(parallel, t, np.sin(t * safe_angle) / np.sin(safe_angle))
    # Make the endpoints exact whatever sin rounds to, so that they decode to the inputs.
    weight_a = np.where(t == 0.0, 1.0, np.where(t == 1.0, 0.0, weight_a))
    weight_b = np.where(t == 0.0, 0.0, np.where(t == 1.0, 1.0, weight_b))
    return weight_a, weight_b


def interpolate(
    model,
    images_a,
    images_b,
    num_steps: int = 8,
    method: str = "linear",
    labels_a=None,
    labels_b=None,
) -> np.ndarray:
    """uint8 images `[batch, num_steps, H, W, C]` along the latent path from `images_a` to
    `images_b`.

    `z_a = encode(images_a)`, `z_b = encode(images_b)` (x→z); step s decodes
    `z(t_s) = w_a(t_s) · z_a + w_b(t_s) · z_b` (z→x) at `t_s = s / (num_steps − 1)`, so that
    column 0 equals `images_a` and the last column `images_b` exactly (see `interpolation_weights`).
    A class-conditional model takes each image's labels; the path uses `labels_a` up to the middle
    and `labels_b` after it.
    """
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2 (both endpoints), got {num_steps!r}")
    images_a = np.asarray(images_a)
    images_b = np.asarray(images_b)
    if images_a.shape != images_b.shape:
        raise ValueError(
            f"images_a and images_b must have the same shape, got {images_a.shape} "
            f"and {images_b.shape}"
        )
    count = len(images_a)
    labels_a, labels_b = (
        as_labels(model, labels_a, count, "labels_a"),
        as_labels(model, labels_b, count, "labels_b"),
    )
    latent_a = model.encode(images_a, labels_a).numpy()
    latent_b = model.encode(images_b, labels_b).numpy()
    fractions = np.linspace(0.0, 1.0, num_steps)
    weight_a, weight_b = interpolation_weights(latent_a, latent_b, fractions, method)
    columns = []
    for step, fraction in enumerate(fractions):
        latent = weight_a[:, step : step + 1] * latent_a + weight_b[:, step : step + 1] * latent_b
        labels = labels_a if fraction < 0.5 else labels_b
        columns.append(model.decode(tf.constant(latent, model.flow_dtype), labels).numpy())
    return np.stack(columns, axis=1)


def interpolation_fractions(num_steps: int) -> Sequence[float]:
    """The fractions `t_s` that `interpolate` decodes, for captions."""
    return [float(t) for t in np.linspace(0.0, 1.0, num_steps)]
