"""tfglow.latent on a small class-conditional Glow trained here on real MNIST (slow: minutes).

28×28, L=2, K=2, width 32, with Glow's `ycond` classifier head (weight 1), ~1500 steps of 64
images: far from a good density model (≈4 bits/dim), but enough to test conditional sampling and
likelihood-based out-of-distribution scores.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfglow import GlowConfig, GlowModel, data, latent

pytestmark = pytest.mark.slow

CONFIG = GlowConfig(
    image_shape=(28, 28, 1),
    num_levels=2,
    steps_per_level=2,
    hidden_channels=32,
    num_classes=10,
    classifier_weight=1.0,
)
TRAINING_IMAGES = 20_000
STEPS = 1500
BATCH_SIZE = 64
TEST_IMAGES = 1000


@pytest.fixture(scope="module")
def mnist():
    train = data.load_numpy("mnist", "train", limit=TRAINING_IMAGES, with_labels=True)
    test = data.load_numpy("mnist", "test", limit=TEST_IMAGES, with_labels=True)
    return train, test


@pytest.fixture(scope="module")
def trained_model(mnist):
    (images, labels), _ = mnist
    tf_keras.utils.set_random_seed(0)
    model = GlowModel(CONFIG)
    model.compile(optimizer=tf_keras.optimizers.Adam(2e-3))
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=0)
        .repeat()
        .batch(BATCH_SIZE)
    )
    history = model.fit(dataset, steps_per_epoch=STEPS // 10, epochs=10, verbose=0)
    print(
        f"\ntrained {STEPS} steps: bits/dim {history.history['bits_per_dim'][-1]:.3f}, "
        f"classifier bits {history.history['classifier_bits'][-1]:.3f}"
    )
    return model


def test_likelihood_separates_mnist_from_fashion_mnist(trained_model, mnist):
    _, (test_images, _) = mnist
    fashion = data.load_numpy("fashion_mnist", "test", limit=TEST_IMAGES)
    comparison = latent.compare_datasets(trained_model, test_images, fashion)
    print(
        "\nMNIST-trained class-conditional Glow (marginal p(x)), MNIST test vs Fashion-MNIST "
        "test: "
        f"{comparison.summary()}"
    )
    assert comparison.auroc > 0.9


def test_conditional_samples_are_of_the_asked_class(trained_model, mnist):
    (train_images, train_labels), (test_images, test_labels) = mnist
    # The head is a real classifier of real digits...
    head_accuracy = np.mean(
        np.argmax(trained_model.classifier_logits(test_images), -1) == test_labels
    )
    # ...and classifies the samples drawn for each label as that label.
    grid = latent.sample_classes(trained_model, num_samples=20, temperature=0.5, seed=1)
    samples = grid.reshape(-1, 28, 28, 1)
    asked = np.repeat(np.arange(10), 20)
    sample_accuracy = np.mean(np.argmax(trained_model.classifier_logits(samples), -1) == asked)
    # For reference: an independent classifier trained here on real digits (this small, briefly
    # trained flow does not yet draw recognisable digits, so this figure is printed, not asserted).
    classifier = tf_keras.Sequential(
        [
            tf_keras.layers.Flatten(),
            tf_keras.layers.Rescaling(1 / 255),
            tf_keras.layers.Dense(128, activation="relu"),
            tf_keras.layers.Dense(10),
        ]
    )
    classifier.compile(
        optimizer="adam",
        metrics=["accuracy"],
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    classifier.fit(train_images, train_labels, epochs=2, batch_size=128, verbose=0)
    independent = np.mean(np.argmax(classifier.predict(samples, verbose=0), -1) == asked)
    print(
        f"\nclassifier head: {head_accuracy:.3f} on MNIST test, {sample_accuracy:.3f} on samples "
        f"(T = 0.5, 20 per class); independent MLP on the samples: {independent:.3f}"
    )
    assert head_accuracy > 0.8
    # Measured 0.53 and 0.97 in two runs of this budget (the top prior's class offsets are still
    # small); chance is 0.1.
    assert sample_accuracy > 0.4
