"""Runs a per-example model function over an array in batches, so that whole datasets fit in
memory."""

from collections.abc import Callable

import numpy as np

from tfglow import checks

DEFAULT_BATCH_SIZE = 256


def map_batches(
    function: Callable, arrays: tuple, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """`concatenate([function(*batch) for batch])` over the leading axis of `arrays` (`None`
    passes)."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    count = len(arrays[0])
    outputs = []
    for start in range(0, count, batch_size):
        batch = [None if array is None else array[start : start + batch_size] for array in arrays]
        outputs.append(np.asarray(function(*batch)))
    if not outputs:
        raise ValueError("got an empty array of images")
    return np.concatenate(outputs)


def as_labels(model, labels, count: int, name: str = "labels") -> np.ndarray | None:
    """`labels` for `count` images of `model` as int32 `[count]` (a scalar is repeated), or `None`.

    Given labels follow `tfglow.checks.labels`: refused by an unconditional model, integers in
    `[0, num_classes)`, one per image.
    """
    if labels is None:  # a conditional model's scores then marginalise over the classes
        return None
    return checks.labels(labels, model.config.num_classes, batch_size=count, name=name).numpy()
