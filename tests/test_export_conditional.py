"""Export of a class-conditional model: every signature takes `labels` int32 `[batch]`.

The fast tests call the traced signatures in memory; the slow one saves, reloads and compares.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tfglow import GlowConfig, GlowModel, export_saved_model
from tfglow.serving import ExportModule

CONFIG = GlowConfig.preset("tiny", num_classes=3)


_images = functools.partial(flow_testing.random_pixels, batch=6, shape=CONFIG.image_shape)


@pytest.fixture(scope="module")
def model():
    model = GlowModel(CONFIG)
    model.initialize(_images(batch=12, seed=5), np.arange(12) % 3)
    flow_testing.randomize_variables(model, stddev=0.05)
    return model


@pytest.fixture(scope="module")
def signatures(model):
    return ExportModule(model).signatures()


def _call(signatures, name, **inputs):
    return signatures[name](**{key: tf.constant(value) for key, value in inputs.items()})


def test_every_signature_takes_labels(signatures):
    for name, function in signatures.items():
        specs = tf.nest.flatten(function.structured_input_signature)
        assert tf.TensorSpec([None], tf.int32, name="labels") in specs, name


def test_log_prob_depends_on_the_label_as_the_model_does(model, signatures):
    images = _images()
    for label in range(3):
        labels = np.full([6], label, np.int32)
        served = _call(signatures, "log_prob", images=images, labels=labels)["log_prob"]
        np.testing.assert_allclose(served, model.log_prob(images, labels), rtol=1e-5)
    first, second = (
        _call(signatures, "log_prob", images=images, labels=np.full([6], label, np.int32))[
            "log_prob"
        ]
        for label in (0, 1)
    )
    assert not np.allclose(first, second, rtol=1e-4)


def test_decode_of_encode_with_labels_returns_the_images(signatures):
    images, labels = _images(), np.int32([0, 1, 2, 0, 1, 2])
    z = _call(signatures, "encode", images=images, labels=labels)["z"]
    decoded = _call(signatures, "decode", z=z, labels=labels)["images"]
    np.testing.assert_array_equal(decoded, images)


def test_seeded_samples_follow_the_label(model, signatures):
    images = _call(
        signatures,
        "sample_seeded",
        temperature=np.float32([0.7, 0.7]),
        seed=np.int64([4, 4]),
        labels=np.int32([0, 2]),
    )["images"].numpy()
    for row, label in enumerate((0, 2)):
        expected = model.sample(1, 0.7, seed=4, labels=np.int32([label]))
        np.testing.assert_array_equal(images[row], expected[0])
    assert np.any(images[0] != images[1])


@pytest.mark.parametrize(
    "labels, reason",
    [
        ([0, 3], r"labels must be in \[0, 3\)"),
        ([-1, 0], r"labels must be in \[0, 3\)"),
        ([0], "labels must have one entry per image"),
        (0, r"labels must have shape \[batch\] \(one per image\).*got shape\] \[\]"),
        ([[0], [1]], r"labels must have shape \[batch\] \(one per image\).*got shape\] \[2 1\]"),
    ],
)
def test_bad_labels_fail_and_say_why(signatures, labels, reason):
    with pytest.raises(tf.errors.InvalidArgumentError, match=reason):
        _call(signatures, "log_prob", images=_images(batch=2), labels=np.int32(labels))
    with pytest.raises(tf.errors.InvalidArgumentError, match=reason):
        _call(signatures, "sample", temperature=np.float32([1.0, 1.0]), labels=np.int32(labels))


@pytest.mark.slow
def test_the_reloaded_conditional_model_matches_in_memory(model, tmp_path):
    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path))).signatures
    images, labels = _images(), np.int32([2, 1, 0, 2, 1, 0])
    served = _call(loaded, "log_prob", images=images, labels=labels)["log_prob"]
    np.testing.assert_allclose(served, model.log_prob(images, labels), rtol=1e-5)
    z = _call(loaded, "encode", images=images, labels=labels)["z"]
    np.testing.assert_array_equal(_call(loaded, "decode", z=z, labels=labels)["images"], images)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be in \[0, 3\)"):
        _call(loaded, "encode", images=images, labels=np.int32([3, 0, 0, 0, 0, 0]))
