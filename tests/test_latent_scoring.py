"""Likelihood scoring for OOD checks, the AUROC, and the classifier head of class-conditional
models."""

import functools
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests import flow_testing
from tfglow import GlowConfig, GlowModel, latent

CONFIG = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=16)


_images = functools.partial(flow_testing.random_pixels, batch=5, shape=(8, 8, 1))


def _model(config):
    model = GlowModel(config)
    labels = None if config.num_classes is None else np.arange(12) % config.num_classes
    model.initialize(_images(batch=12, seed=100), labels)
    flow_testing.randomize_variables(model, seed=0, stddev=0.02)
    return model


def _pairwise_auroc(in_scores, out_scores):
    pairs = list(itertools.product(in_scores, out_scores))
    return np.mean(
        [1.0 if out > inside else 0.5 if out == inside else 0.0 for inside, out in pairs]
    )


def test_auroc_is_the_probability_that_an_outlier_scores_higher():
    rng = np.random.default_rng(0)
    in_scores = rng.integers(0, 6, 40).astype(float)  # many ties
    out_scores = rng.integers(2, 9, 30).astype(float)
    assert latent.auroc(in_scores, out_scores) == pytest.approx(
        _pairwise_auroc(in_scores, out_scores)
    )
    assert latent.auroc([1, 2, 3], [4, 5]) == 1.0
    assert latent.auroc([4, 5], [1, 2, 3]) == 0.0
    assert latent.auroc([1, 1], [1, 1, 1]) == 0.5
    np.testing.assert_array_equal(latent.average_ranks([3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0])
    with pytest.raises(ValueError, match="got 0 in-distribution and 2 out-of-distribution"):
        latent.auroc([], [1, 2])


def test_scores_are_bits_per_dim_in_batches_and_separate_shifted_data():
    model = _model(CONFIG)
    images = _images(batch=7)
    scores = latent.score_bits_per_dim(model, images, batch_size=3)
    np.testing.assert_allclose(scores, model.bits_per_dim(images, dequantize=False), rtol=1e-5)
    # Constant images are far from the data the flow was initialised on: their scores differ.
    comparison = latent.compare_datasets(model, images, np.zeros((4, 8, 8, 1), np.uint8))
    assert comparison.auroc in (0.0, 1.0)
    assert "AUROC" in comparison.summary()


def test_conditional_scores_without_labels_are_the_class_marginal():
    config = CONFIG.replace(num_classes=3)
    model = _model(config)
    images = _images(batch=4)
    per_class = np.stack([model.log_prob(images, np.full([4], y)).numpy() for y in range(3)], -1)
    log_marginal = np.log(np.mean(np.exp(per_class.astype(np.float64)), -1))
    expected = (-log_marginal + 64 * 8 * math.log(2)) / (64 * math.log(2))
    np.testing.assert_allclose(latent.score_bits_per_dim(model, images), expected, rtol=1e-5)
    np.testing.assert_allclose(
        latent.score_bits_per_dim(model, images, labels=[0, 1, 2, 0]),
        model.bits_per_dim(images, [0, 1, 2, 0], dequantize=False),
        rtol=1e-5,
    )


# ---- the classifier head (Glow `ycond`, weight_y) ------------------------------------------------


def test_classifier_weight_needs_classes_and_is_checked():
    with pytest.raises(ValueError, match="classifier_weight=0.5 needs a class-conditional model"):
        CONFIG.replace(classifier_weight=0.5)
    with pytest.raises(ValueError, match="classifier_weight must be a finite number >= 0, got -1"):
        CONFIG.replace(num_classes=3, classifier_weight=-1.0)
    assert GlowModel(CONFIG.replace(num_classes=3)).classifier is None
    with pytest.raises(ValueError, match="no classifier head"):
        GlowModel(CONFIG).classifier_logits(_images(batch=1))


def test_classifier_head_reads_the_label_free_top_latent_and_adds_its_weighted_loss():
    config = CONFIG.replace(num_classes=3, classifier_weight=2.0)
    fresh = GlowModel(config)
    assert not np.any(fresh.classifier.kernel.numpy()) and not np.any(fresh.classifier.bias.numpy())
    model = _model(config)
    for variable in model.classifier.variables:
        variable.assign(tf.zeros_like(variable))
    images, labels = _images(batch=6), np.arange(6) % 3
    # Zero-initialised head: uniform prediction, cross-entropy log2(3) bits.
    classifier_bits = model.classifier.bits(model.bijector, model.encode(images, labels), labels)
    np.testing.assert_allclose(classifier_bits, np.full(6, math.log2(3)), rtol=1e-6)
    model.classifier.kernel.assign(
        tf.random.stateless_normal(model.classifier.kernel.shape, [1, 2])
    )
    logits = model.classifier_logits(images).numpy()
    for shifted in ([1, 2, 0, 1, 2, 0], [2, 2, 2, 2, 2, 2]):
        eps = model.encode(images, shifted)
        np.testing.assert_allclose(
            model.classifier.logits(model.bijector, eps, shifted), logits, atol=1e-5
        )
    # The training loss is bits/dim + weight · classifier bits, and the head gets gradients.
    model.compile(optimizer=tf_keras.optimizers.SGD(0.0))
    metrics = model.train_step((tf.constant(images), tf.constant(labels)))
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits).numpy()
    # (train_step dequantises: the logits move by the noise, well below the factor ln 2 of nats)
    assert float(metrics["classifier_bits"]) == pytest.approx(
        np.mean(cross_entropy) / math.log(2), rel=1e-2
    )
    with tf.GradientTape() as tape:
        bits, eps = model.bits_per_dim_and_latents(images, labels, dequantize=True, seed=0)
        loss = tf.reduce_mean(bits + 2.0 * model.classifier.bits(model.bijector, eps, labels))
    gradients = tape.gradient(loss, model.classifier.trainable_variables)
    assert all(np.any(np.asarray(g) != 0) for g in gradients)


def test_classifier_head_learns_separable_classes_and_survives_a_checkpoint(tmp_path):
    config = CONFIG.replace(num_classes=2, classifier_weight=1.0)
    model = GlowModel(config)
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    brightness = np.where(labels == 1, 200, 40)[:, None, None, None]
    images = np.clip(brightness + rng.normal(0, 20, (32, 8, 8, 1)), 0, 255).astype(np.uint8)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-2))
    history = model.fit(images, labels, batch_size=16, epochs=6, verbose=0)
    classifier_bits = history.history["classifier_bits"]
    assert classifier_bits[0] == pytest.approx(1.0, abs=0.1)  # log2(2) bits from the zero head
    assert classifier_bits[-1] < 0.6, classifier_bits
    accuracy = np.mean(np.argmax(model.classifier_logits(images), -1) == labels)
    assert accuracy > 0.9
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    restored = GlowModel(config)
    tf.train.Checkpoint(model=restored).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(
        restored.classifier_logits(images), model.classifier_logits(images)
    )
