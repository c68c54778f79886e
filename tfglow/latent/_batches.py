"""Runs a per-example model function over an array in batches, so that whole datasets fit in memory."""

from collections.abc import Callable

import numpy as np
import tensorflow as tf

DEFAULT_BATCH_SIZE = 256


def map_batches(function: Callable, arrays: tuple, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """`concatenate([function(*batch) for batch])` over the leading axis of `arrays` (`None` passes)."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    count = len(arrays[0])
    outputs = []
    for start in range(0, count, batch_size):
        batch = [None if array is None else array[start:start + batch_size] for array in arrays]
        outputs.append(np.asarray(function(*batch)))
    if not outputs:
        raise ValueError("got an empty array of images")
    return np.concatenate(outputs)


def as_labels(labels, count: int, name: str = "labels") -> np.ndarray | None:
    """`labels` as int32 `[count]` (a scalar is repeated), or `None`."""
    if labels is None:
        return None
    labels = np.asarray(tf.convert_to_tensor(labels))
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {labels.dtype}")
    if labels.ndim == 0:
        labels = np.full([count], labels)
    if labels.shape != (count,):
        raise ValueError(f"{name} must have shape [{count}] (one per image), got shape {labels.shape}")
    return labels.astype(np.int32)
