"""Held-out bits/dim of a model over a whole split, with seeded dequantisation."""

from __future__ import annotations

import tensorflow as tf

from tfglow import checks, data
from tfglow.model import GlowModel
from tfglow.recipe.config import TrainingConfig


def held_out_dataset(
    config: TrainingConfig,
    split: str | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    dataset: str | None = None,
) -> tf.data.Dataset:
    """Batches of a held-out split, in stored order, preprocessed as in training (no flips).

    Args:
      config: the run's `TrainingConfig` (dataset, preprocessing, labels for conditional models).
      split: TFDS split. Default value: `None` (`config.test_split`).
      batch_size: Default value: `None` (`config.batch_size`).
      limit: `None`, or only the first `limit` examples.
      dataset: another TFDS dataset with the same image shape (e.g. Fashion-MNIST for an MNIST
        model).
        Default value: `None` (`config.dataset`).
    """
    split = split or config.test_split
    if limit is not None:
        split = f"{split}[:{limit}]"
    return data.load_images(
        dataset or config.dataset,
        split,
        batch_size=batch_size or config.batch_size,
        image_size=config.image_size,
        pad_to=config.pad_to,
        center_crop=config.center_crop,
        with_labels=config.model.num_classes is not None,
        shuffle=False,
        cache=False,
    )


def evaluate_bits_per_dim(
    model: GlowModel, dataset: tf.data.Dataset, seed: int = 0
) -> tuple[float, int]:
    """Mean bits/dim of `model` over every image of `dataset`, and the number of images.

    Each batch gets its own seeded uniform dequantisation noise, so the figure is repeatable.
    `dataset` yields uint8 images, or `(images, labels)` for a class-conditional model.
    """

    @tf.function
    def batch_bits_per_dim(images, labels, batch_seed):
        return model.bits_per_dim(images, labels, dequantize=True, seed=batch_seed)

    total, count = 0.0, 0
    for index, batch in enumerate(dataset):
        images, labels = checks.images_and_labels(batch)
        values = batch_bits_per_dim(images, labels, tf.constant(seed * 1_000_003 + index, tf.int64))
        total += float(tf.reduce_sum(tf.cast(values, tf.float64)))
        count += int(values.shape[0])
    if count == 0:
        raise ValueError("the evaluation dataset is empty")
    return total / count, count
