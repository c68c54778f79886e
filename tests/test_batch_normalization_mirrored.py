"""`BatchNormalization` under `MirroredStrategy` on 2 logical CPUs: the global batch's statistics,
the same averages on both replicas, one update per `fit` step, the single-device gradient.

The logical devices must be configured before TensorFlow initialises, so the measurements run in a
fresh Python process (this file run as a script) and come back as JSON.
"""

import json

import numpy as np
import pytest

from tests import script_json

REPLICAS = 2
RHO = 0.8


def _moments(x):
    return x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))


def _run() -> dict:
    import tensorflow as tf
    import tf_keras

    from tfglow import recipe
    from tfglow.bijectors import BatchNormalization

    recipe.configure_cpu_devices(REPLICAS)
    strategy = recipe.make_strategy("mirrored")
    rng = np.random.default_rng(0)
    first, batch = (rng.normal(size=(8, 3, 3, 2)) * [1.0, 3.0] + [0.5, -2.0] for _ in range(2))
    weights = rng.normal(size=batch.shape)

    def loss_of(layer, x, w):
        z = layer.inverse(x, training=True)
        log_det = layer.inverse_log_det_jacobian(x, event_ndims=3, training=True)
        return tf.reduce_sum(z * w) + tf.reduce_sum(log_det)

    # One device: the reference gradient and averages.
    single = BatchNormalization(2, momentum=RHO, dtype=tf.float64)
    single.inverse(tf.constant(first))
    x = tf.constant(batch)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_of(single, x, weights)
    expected_gradient = tape.gradient(loss, x).numpy()

    with strategy.scope():
        mirrored = BatchNormalization(2, momentum=RHO, dtype=tf.float64)
    mirrored.inverse(tf.constant(first))  # cross-replica context: the whole batch initialises
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((batch, weights)).batch(8)
    )

    @tf.function
    def step(inputs):
        def replica_step(x, w):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_of(mirrored, x, w)
            return tape.gradient(loss, x)

        return strategy.run(replica_step, args=inputs)

    gradients = step(next(iter(dataset)))
    actual_gradient = np.concatenate(
        [g.numpy() for g in strategy.experimental_local_results(gradients)]
    )

    # A flow under fit: both replicas hold the same averages, updated once per step.
    from tests.test_batch_normalization import CONFIG as config
    from tests.test_batch_normalization import _BinCentredModel as BinCentred

    assert config.batch_norm_momentum == RHO
    init_images, images = rng.integers(0, 256, size=(2, 16, 8, 8, 1), dtype=np.uint8)
    with strategy.scope():
        model = BinCentred(config)
        model.compile(optimizer=tf_keras.optimizers.SGD(0.0))
    model.initialize(init_images)
    h = model.to_flow(images)
    for _, layer, _, _ in model.bijector.layers():
        if isinstance(layer, BatchNormalization):
            break
        h = layer.inverse(h)
    initial = layer.moving_mean.numpy()
    model.fit(images, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return {
        "replicas": strategy.num_replicas_in_sync,
        "expected_mean": single.moving_mean.numpy().tolist(),
        "expected_variance": single.moving_variance.numpy().tolist(),
        "replica_means": [v.numpy().tolist() for v in mirrored.moving_mean.values],
        "replica_variances": [v.numpy().tolist() for v in mirrored.moving_variance.values],
        "gradient_max_difference": float(np.max(np.abs(actual_gradient - expected_gradient))),
        "gradient_scale": float(np.max(np.abs(expected_gradient))),
        "fit_initial_mean": initial.tolist(),
        "fit_batch_mean": h.numpy().mean(axis=(0, 1, 2)).tolist(),
        "fit_replica_means": [v.numpy().tolist() for v in layer.moving_mean.values],
    }


@pytest.fixture(scope="module")
def measured():
    return script_json.run(__file__)


def test_both_replicas_hold_the_averages_of_the_global_batch(measured):
    assert measured["replicas"] == REPLICAS
    for means, variances in zip(measured["replica_means"], measured["replica_variances"]):
        np.testing.assert_allclose(means, measured["expected_mean"], rtol=1e-12)
        np.testing.assert_allclose(variances, measured["expected_variance"], rtol=1e-12)


def test_the_replicas_gradient_is_the_single_device_one(measured):
    assert measured["gradient_scale"] > 0
    assert measured["gradient_max_difference"] < 1e-10 * measured["gradient_scale"]


def test_fit_under_mirrored_strategy_updates_once_per_step_on_both_replicas(measured):
    initial = np.array(measured["fit_initial_mean"])
    batch_mean = np.array(measured["fit_batch_mean"])
    expected = batch_mean + RHO**3 * (initial - batch_mean)
    assert np.max(np.abs(initial - batch_mean)) > 1e-3
    for means in measured["fit_replica_means"]:
        np.testing.assert_allclose(means, expected, rtol=1e-5, atol=1e-6)


if __name__ == "__main__":
    print(json.dumps(_run()))
