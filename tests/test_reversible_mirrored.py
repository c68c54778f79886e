"""Reversible gradients under `MirroredStrategy` on 2 logical CPUs equal one device's standard ones.

The logical devices must be configured before TensorFlow initialises, so the comparison runs in a
fresh Python process (this file run as a script) and reports its measurements as JSON.
"""

import json

import numpy as np
import pytest

from tests import script_json

REPLICAS = 2


def _run_comparison() -> dict:
    """Gradients of one batch: standard on one device vs reversible on 2 replicas, and one `fit`."""
    import tensorflow as tf
    import tf_keras

    from tfglow import GlowConfig, GlowModel, recipe

    recipe.configure_cpu_devices(REPLICAS)

    class NoiseFreeGlowModel(GlowModel):
        """Pixels at their bin centres, so both sides see identical inputs."""

        def to_flow(self, images, noise=None):
            return super().to_flow(images, None)

    config = GlowConfig(
        image_shape=(8, 8, 1),
        num_levels=2,
        steps_per_level=2,
        hidden_channels=8,
        num_classes=3,
        classifier_weight=0.5,
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, *config.image_shape), dtype=np.uint8)
    labels = (np.arange(8) % 3).astype(np.int32)

    single = NoiseFreeGlowModel(config)
    single.initialize(images, labels)
    # Move the zero-initialised layers, so that every variable gets a gradient.
    for variable in single.trainable_variables:
        variable.assign_add(rng.normal(0, 0.05, variable.shape).astype(np.float32))

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(single.per_example_loss(images, labels)[0])
    expected = [
        tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, single.trainable_variables)
    ]

    strategy = recipe.make_strategy("mirrored")
    with strategy.scope():
        mirrored = NoiseFreeGlowModel(config.replace(reversible_gradients=True))
    for source, target in zip(single.variables, mirrored.variables):
        target.assign(source)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    )

    @tf.function
    def replica_gradients(batch):
        def step(images, labels):
            with tf.GradientTape() as tape:
                per_example = mirrored.per_example_loss(images, labels)[0]
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=8)
            return [
                tf.convert_to_tensor(g) for g in tape.gradient(loss, mirrored.trainable_variables)
            ]

        per_replica = strategy.run(step, args=batch)
        return [strategy.reduce("SUM", g, axis=None) for g in per_replica]

    actual = [g.numpy() for g in replica_gradients(next(iter(dataset)))]
    differences = [
        float(np.linalg.norm(a - e) / max(np.linalg.norm(e), 1e-30))
        for a, e in zip(actual, expected)
    ]

    # A user's own tape outside `strategy.run` (the default replica context): the same gradients.
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(mirrored.per_example_loss(images, labels)[0])
    outside_run = tape.gradient(loss, mirrored.trainable_variables)
    outside_run_differences = [
        float(np.linalg.norm(tf.convert_to_tensor(a).numpy() - e) / max(np.linalg.norm(e), 1e-30))
        for a, e in zip(outside_run, expected)
        if a is not None
    ]

    with strategy.scope():
        mirrored.compile(optimizer=tf_keras.optimizers.SGD(0.01))
    history = mirrored.fit(images, labels, batch_size=8, epochs=3, verbose=0).history
    return {
        "replicas": strategy.num_replicas_in_sync,
        "variables": len(expected),
        "zero_gradients": sum(not np.any(e) for e in expected),
        "max_relative_difference": max(differences),
        "outside_run_missing_gradients": sum(g is None for g in outside_run),
        "outside_run_max_relative_difference": max(outside_run_differences, default=None),
        "fit_losses": history["bits_per_dim"],
    }


@pytest.fixture(scope="module")
def comparison():
    return script_json.run(__file__)


def test_two_replicas_give_the_single_device_standard_gradients(comparison):
    assert comparison["replicas"] == REPLICAS
    assert comparison["variables"] > 0 and comparison["zero_gradients"] == 0
    assert comparison["max_relative_difference"] < 1e-4


def test_a_tape_outside_strategy_run_gives_the_same_gradients(comparison):
    assert comparison["outside_run_missing_gradients"] == 0
    assert comparison["outside_run_max_relative_difference"] < 1e-4


def test_fit_under_mirrored_strategy_trains_a_reversible_model(comparison):
    losses = comparison["fit_losses"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


if __name__ == "__main__":
    print(json.dumps(_run_comparison()))
