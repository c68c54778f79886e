"""One `tf.data` input pipeline for any TFDS image dataset, delivering raw uint8 pixels.

Tested names: "mnist", "fashion_mnist" (prepared offline, see `tfglow.data.prepare_offline`); online
users get "cifar10", "celeb_a", "downsampled_imagenet/32x32", "downsampled_imagenet/64x64",
"lsun/<category>"
and any other TFDS dataset with an "image" feature through the same code.

Per example: centre crop → resize → zero pad (each optional) → cache (in memory, when the split
  fits)
→ shuffle → repeat → batch → random left↔right flip → prefetch. Maps run in parallel (AUTOTUNE) and
keep
their order, so a given `seed` always yields the same batches.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfglow.data import sources, transforms

IMAGE_KEY = "image"
LABEL_KEY = "label"
# Datasets whose TFDS feature leaves the image size open although every image has the same size.
KNOWN_IMAGE_SIDES = {"downsampled_imagenet/32x32": 32, "downsampled_imagenet/64x64": 64}
MEMORY_CACHE_LIMIT_BYTES = 2 * 2**30  # cache a split in RAM up to 2 GiB of preprocessed pixels
SHUFFLE_BUFFER_LIMIT_BYTES = 256 * 2**20
_NUMPY_CHUNK_SIZE = 4096
_SEED_LIMIT = 2**31


class DatasetNotPreparedError(FileNotFoundError):
    """A TFDS dataset is not prepared in the data directory; the message says how to prepare it."""


def _not_prepared_message(name: str, builder: tfds.core.DatasetBuilder) -> str:
    where = f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root}."
    if name in sources.OFFLINE_DATASETS:
        return (
            f"{where} Run `python -m tfglow.data.prepare_offline` (no internet needed: it uses the "
            "npm/Debian "
            "copies, or $TFGLOW_RAW_DATA_DIR), or pass download=True."
        )
    return (
        f"{where} Preparing it downloads it, which needs internet: pass download=True, or run "
        '`python -c "import tensorflow_datasets as tfds; '
        f"tfds.builder('{name}').download_and_prepare()\"`. "
        "Set TFDS_DATA_DIR (or data_dir=) if it is prepared elsewhere."
    )


def get_builder(
    name: str, data_dir: str | os.PathLike | None = None, download: bool = False
) -> tfds.core.DatasetBuilder:
    """Returns the prepared TFDS builder of `name`, preparing it first if `download` is set.

    Args:
      name: TFDS dataset name, with config if any, e.g. "mnist" or "lsun/church_outdoor".
      data_dir: TFDS data directory. Default value: `None` (`$TFDS_DATA_DIR` or
        `~/tensorflow_datasets`).
      download: Python `bool`, whether to prepare a missing dataset: offline from local files for
        MNIST/Fashion-MNIST, through TFDS's download (internet) for the others. Default value:
        `False`.

    Raises:
      DatasetNotPreparedError: the dataset is missing and `download` is `False`.
    """
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    if not download:
        raise DatasetNotPreparedError(_not_prepared_message(name, builder))
    if name in sources.OFFLINE_DATASETS:
        from tfglow.data import offline  # pylint: disable=import-outside-toplevel

        offline.prepare_offline_dataset(name, data_dir=data_dir)
        return tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    return builder


def output_image_shape(
    name: str,
    builder: tfds.core.DatasetBuilder,
    *,
    image_size: int | None = None,
    pad_to: int | None = None,
    center_crop: bool | int = False,
) -> tuple[int, int, int]:
    """Returns the [H, W, C] shape that the pipeline's preprocessing gives every image of `name`.

    Raises:
      ValueError: the images vary in size and no `image_size` was given, or `pad_to` is too small.
    """
    height, width, channels = builder.info.features[IMAGE_KEY].shape
    if height is None or width is None:
        height = width = KNOWN_IMAGE_SIDES.get(name)
    if center_crop is not False:
        side = None if center_crop is True else int(center_crop)
        if side is not None and height and width and side > min(height, width):
            raise ValueError(
                f"center_crop={side} is larger than the {height}x{width} images of {name!r}"
            )
        height = width = side or (min(height, width) if height and width else None)
    if image_size is not None:
        height = width = image_size
    if height is None or width is None:
        raise ValueError(
            f"Images of {name!r} vary in size; pass image_size= (and center_crop=True for a square "
            "crop) to batch them."
        )
    if pad_to is not None:
        if pad_to < max(height, width):
            raise ValueError(
                f"pad_to={pad_to} is smaller than the {height}x{width} images of {name!r}"
            )
        height = width = pad_to
    return height, width, channels


def _examples(
    name: str,
    split: str,
    *,
    image_size: int | None,
    pad_to: int | None,
    center_crop: bool | int,
    with_labels: bool,
    shuffle_files: bool,
    seed: int,
    data_dir: str | os.PathLike | None,
    download: bool,
) -> tuple[tf.data.Dataset, int, tuple[int, int, int]]:
    """Returns the preprocessed, unbatched examples of a split, its size and the image shape."""
    builder = get_builder(name, data_dir, download)
    features = builder.info.features
    if IMAGE_KEY not in features:
        raise ValueError(
            f"TFDS dataset {name!r} has no {IMAGE_KEY!r} feature; its features: {list(features)}"
        )
    if with_labels and LABEL_KEY not in features:
        raise ValueError(
            f"TFDS dataset {name!r} has no {LABEL_KEY!r} feature; its features: {list(features)}"
        )
    shape = output_image_shape(
        name, builder, image_size=image_size, pad_to=pad_to, center_crop=center_crop
    )
    crop_side = None if center_crop is True else center_crop

    def preprocess(example: dict[str, tf.Tensor]) -> Any:
        image = example[IMAGE_KEY]
        if center_crop is not False:
            image = transforms.center_crop(image, crop_side)
        if image_size is not None:
            image = transforms.resize(image, image_size)
        if pad_to is not None:
            image = transforms.pad(image, pad_to)
        image = tf.ensure_shape(image, shape)
        if with_labels:
            return image, tf.cast(example[LABEL_KEY], tf.int32)
        return image

    read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)
    dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files, read_config=read_config)
    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, builder.info.splits[split].num_examples, shape


def load_images(
    name: str,
    split: str,
    *,
    batch_size: int,
    image_size: int | None = None,
    pad_to: int | None = None,
    center_crop: bool | int = False,
    random_flip: bool = False,
    with_labels: bool = False,
    shuffle: bool = True,
    seed: int | None = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    shuffle_buffer_size: int | None = None,
    cache: bool = True,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """Returns a `tf.data.Dataset` of uint8 image batches [B, H, W, C] from TFDS dataset `name`.

    #### Examples

    ```python
    train = load_images("mnist", "train", batch_size=64, pad_to=32, seed=0)  # [64, 32, 32, 1] uint8
    faces = load_images("celeb_a", "train", batch_size=32, center_crop=148, image_size=64,
                        random_flip=True)
    ```

    Args:
      name: TFDS dataset name, e.g. "mnist", "cifar10", "downsampled_imagenet/32x32",
        "lsun/bedroom".
      split: TFDS split, slices allowed, e.g. "train", "test", "train[:1000]".
      batch_size: Python `int`, images per batch.
      image_size: Python `int`, resize (antialiased) to this square side; non-square images are
        squashed
        unless `center_crop` is set. Default value: `None` (keep).
      pad_to: Python `int`, zero-pad (centred) to this square side, e.g. 32 for MNIST.
        Default value: `None`.
      center_crop: `True` crops the largest centred square, an `int` a centred square of that side
        (CelebA: 148, as in RealNVP), applied before resizing. Default value: `False`.
      random_flip: Python `bool`, mirror each image left↔right with probability 1/2. Default value:
        `False`.
      with_labels: Python `bool`, yield `(images, labels)` with int32 labels [B]. Default value:
        `False`.
      shuffle: Python `bool`, shuffle examples (and files) every epoch. Default value: `True`.
      seed: Python `int` driving shuffling and flips; same seed, same batches. Default value: `None`
        (a fresh random seed per call).
      repeat: Python `bool`, repeat forever. Default value: `False` (one pass per iteration, as
        Keras
        `fit` expects without `steps_per_epoch`).
      drop_remainder: Python `bool`, drop a last, smaller batch. Default value: `False`.
      shuffle_buffer_size: Python `int`. Default value: `None` (the whole split, up to 256 MiB of
        pixels).
      cache: Python `bool`, keep the preprocessed split in memory when it fits in 2 GiB. Default
        value: `True`.
      data_dir: TFDS data directory. Default value: `None` (`$TFDS_DATA_DIR` or
        `~/tensorflow_datasets`).
      download: Python `bool`, prepare a missing dataset (see `get_builder`). Default value:
        `False`.

    Raises:
      DatasetNotPreparedError: the dataset is not prepared and `download` is `False`.
      ValueError: unusable options for this dataset (e.g. labels it does not have).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    seed = random.SystemRandom().randrange(_SEED_LIMIT) if seed is None else seed
    dataset, num_examples, shape = _examples(
        name,
        split,
        image_size=image_size,
        pad_to=pad_to,
        center_crop=center_crop,
        with_labels=with_labels,
        shuffle_files=shuffle,
        seed=seed,
        data_dir=data_dir,
        download=download,
    )
    bytes_per_example = int(np.prod(shape))
    if cache and num_examples * bytes_per_example <= MEMORY_CACHE_LIMIT_BYTES:
        dataset = dataset.cache()
    if shuffle:
        buffer_size = shuffle_buffer_size or max(
            1, min(num_examples, SHUFFLE_BUFFER_LIMIT_BYTES // bytes_per_example)
        )
        dataset = dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(
        batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE
    )
    if random_flip:

        def flip(batch_index: tf.Tensor, batch: Any) -> Any:
            if with_labels:
                images, labels = batch
                return transforms.random_flip_batch(images, seed, batch_index), labels
            return transforms.random_flip_batch(batch, seed, batch_index)

        dataset = dataset.enumerate().map(flip, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def load_numpy(
    name: str,
    split: str,
    *,
    limit: int | None = None,
    with_labels: bool = False,
    image_size: int | None = None,
    pad_to: int | None = None,
    center_crop: bool | int = False,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Returns a split as uint8 numpy images [N, H, W, C] (and int32 labels [N]), in stored order.

    Same preprocessing as `load_images`, without shuffling or flips; handy for tests and evaluation.

    Args:
      name: TFDS dataset name.
      split: TFDS split, slices allowed.
      limit: Python `int`, keep only the first `limit` examples. Default value: `None` (all).
      with_labels: Python `bool`, also return the labels. Default value: `False`.
      image_size, pad_to, center_crop, data_dir, download: as in `load_images`.
    """
    dataset, _, shape = _examples(
        name,
        split,
        image_size=image_size,
        pad_to=pad_to,
        center_crop=center_crop,
        with_labels=with_labels,
        shuffle_files=False,
        seed=0,
        data_dir=data_dir,
        download=download,
    )
    if limit is not None:
        dataset = dataset.take(limit)
    chunks = list(dataset.batch(_NUMPY_CHUNK_SIZE).prefetch(tf.data.AUTOTUNE).as_numpy_iterator())
    if with_labels:
        images = [chunk[0] for chunk in chunks]
        labels = [chunk[1] for chunk in chunks]
        return _concatenate(images, (0, *shape), np.uint8), _concatenate(labels, (0,), np.int32)
    return _concatenate(chunks, (0, *shape), np.uint8)


def _concatenate(chunks: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros(empty_shape, dtype)
