"""Conceptual compression (RealNVP appendix D): keep the coarse latents, resample the fine ones.

Encode an image (x→z); keep the latents of the top `k` levels (the coarsest, factored out last);
draw the lower levels (the finest, factored out first) from the prior at temperature T; decode
(z→x). Because each split prior is conditioned on what is kept above it, the resampled levels are
drawn from p(z_fine | z_coarse): the picture keeps the global structure the kept levels carry.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow import checks
from tfglow.latent.batches import as_labels
from tfglow.latent.sampling import standard_normal


def compress(
    model,
    images,
    levels_kept: Sequence[int] | None = None,
    temperature: float = 1.0,
    seed: int | None = 0,
    labels=None,
) -> tuple[np.ndarray, list[float]]:
    """uint8 images `[batch, len(levels_kept), H, W, C]` and the share of latents kept per column.

    Column j keeps the top `levels_kept[j]` levels of `eps = encode(images)` and replaces the others
    with `T · eps_prior`, `eps_prior ~ N(0, I)` drawn as `GlowModel.sample(batch, T, seed)` draws it
    (the same draw in every column); then decodes. Keeping every level reproduces the images
    exactly; keeping none equals `model.sample(batch, temperature, seed, labels)`. `levels_kept`
    defaults to `num_levels, …, 1, 0` (100% down to 0%).
    """
    layout = model.config.layout
    temperature = checks.temperature(temperature)
    levels_kept = (
        list(range(layout.num_levels, -1, -1))
        if levels_kept is None
        else [layout.check_levels_kept(k) for k in levels_kept]
    )
    labels = as_labels(model, labels, len(images))
    latent = model.encode(images, labels)
    prior = standard_normal(model, len(images), seed) * temperature
    columns = []
    for num_levels_kept in levels_kept:
        mask = tf.constant(layout.top_levels_mask(num_levels_kept))
        columns.append(model.decode(tf.where(mask, latent, prior), labels).numpy())
    return np.stack(columns, axis=1), [layout.kept_fraction(k) for k in levels_kept]
