"""Samples of a trained flow at chosen temperatures, and per class for a class-conditional flow.

Temperature T scales the standard deviation of the base at every level: eps ~ N(0, T²·I), then
x = f(eps) (z→x). Since the learned split and top priors are affine maps inside the flow, T = 0 is
not a grey image but the mode path: every factored-out half at its predicted mean (Glow §5, Fig. 8).
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfglow import checks
from tfglow.latent.batches import as_labels

# Glow Fig. 8: the effect of temperature, from the mode (T = 0) to the model's own density (T = 1).
TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 1.0)


def standard_normal(model, num_samples: int, seed: int | None = None) -> tf.Tensor:
    """eps ~ N(0, I) of shape `[num_samples, D]`, drawn as `GlowModel.sample` draws it for
    `seed`."""
    return model.standard_normal(num_samples, seed)


def sample_at_temperatures(
    model,
    temperatures: Sequence[float] = TEMPERATURES,
    num_samples: int = 8,
    seed: int | None = 0,
    labels=None,
) -> np.ndarray:
    """uint8 samples `[len(temperatures), num_samples, H, W, C]`: row t decodes `T_t · eps` (z→x).

    Every row scales the same `eps ~ N(0, I)`, so a column shows one sample cooling down; row t
    equals `model.sample(num_samples, temperatures[t], seed, labels)`.
    """
    temperatures = [checks.temperature(t, "temperatures") for t in temperatures]
    labels = as_labels(model, labels, num_samples)
    eps = standard_normal(model, num_samples, seed)
    return np.stack(
        [model.decode(eps * temperature, labels).numpy() for temperature in temperatures]
    )


def sample_classes(
    model,
    classes: Sequence[int] | None = None,
    num_samples: int = 8,
    temperature: float = 0.7,
    seed: int | None = 0,
) -> np.ndarray:
    """uint8 samples `[len(classes), num_samples, H, W, C]` of a class-conditional flow (Glow
    `ycond`).

    Row c decodes the same `T · eps` under label `classes[c]`: x = f(T · eps; y) (z→x), where the
    label sets the mean and scale of the top prior. `classes` defaults to every class.
    """
    num_classes = model.config.num_classes
    if num_classes is None:
        raise ValueError(
            "sample_classes needs a class-conditional model (GlowConfig.num_classes), "
            "got num_classes=None"
        )
    temperature = checks.temperature(temperature)
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    checks.labels(np.asarray(classes, np.int32), num_classes, name="classes")
    eps = standard_normal(model, num_samples, seed) * temperature
    return np.stack(
        [model.decode(eps, np.full([num_samples], label, np.int32)).numpy() for label in classes]
    )
