"""`BatchNormalization`: RealNVP's running averages (Appendix E), the gradient through the batch
statistics only, the fixed bijector outside training, and once-per-step updates in a flow."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests import flow_testing
from tfglow import Glow, GlowConfig, GlowModel
from tfglow.bijectors import BatchNormalization

RHO = 0.8
EPSILON = 1e-4


def _batches(count, shape=(4, 3, 3, 2), seed=0):
    rng = np.random.default_rng(seed)
    # Distinct per-channel means and spreads, so that every statistic is visible.
    return [
        rng.normal(size=shape) * np.array([1.0, 3.0]) + np.array([0.5, -2.0]) for _ in range(count)
    ]


def _moments(x):
    return x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))


def test_running_averages_follow_the_appendix_e_formula():
    batch_norm = BatchNormalization(2, momentum=RHO, dtype=tf.float64)
    batches = _batches(5)
    for x in batches:
        batch_norm.inverse(tf.constant(x), training=True)
    # The first batch initialises the averages (μ̃_0 = μ̂_0), then every batch updates them.
    mean, variance = _moments(batches[0])
    for x in batches:
        batch_mean, batch_variance = _moments(x)
        mean = RHO * mean + (1 - RHO) * batch_mean
        variance = RHO * variance + (1 - RHO) * batch_variance
    np.testing.assert_allclose(batch_norm.moving_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(batch_norm.moving_variance.numpy(), variance, rtol=1e-12)


def test_training_normalises_with_the_updated_averages_and_the_log_det_uses_them():
    batch_norm = BatchNormalization(2, momentum=RHO, epsilon=EPSILON, dtype=tf.float64)
    first, second = _batches(2)
    batch_norm.inverse(tf.constant(first))  # initialises from the first batch
    x = tf.constant(second)
    z = batch_norm.inverse(x, training=True)
    log_det = batch_norm.inverse_log_det_jacobian(x, event_ndims=3, training=True)
    mean, variance = batch_norm.moving_mean.numpy(), batch_norm.moving_variance.numpy()
    np.testing.assert_allclose(z, (second - mean) / np.sqrt(variance + EPSILON), rtol=1e-12)
    expected_log_det = -0.5 * 3 * 3 * np.sum(np.log(variance + EPSILON))
    np.testing.assert_allclose(log_det, np.full([4], expected_log_det), rtol=1e-12)


def test_one_training_pass_updates_the_averages_once():
    batch_norm = BatchNormalization(2, momentum=RHO, dtype=tf.float64)
    first, second = _batches(2)
    batch_norm.inverse(tf.constant(first))
    before = batch_norm.moving_mean.numpy()
    x = tf.constant(second)
    batch_norm.inverse(x, training=True)
    batch_norm.inverse_log_det_jacobian(x, event_ndims=3, training=True)  # from TFP's cache
    expected = RHO * before + (1 - RHO) * _moments(second)[0]
    np.testing.assert_allclose(batch_norm.moving_mean.numpy(), expected, rtol=1e-12)


def _reference_loss(x, old_mean, old_variance, weights):
    """The training-mode pass written out with the stored averages as constants."""
    batch_mean = tf.reduce_mean(x, axis=[0, 1, 2])
    batch_variance = tf.reduce_mean(tf.square(x - batch_mean), axis=[0, 1, 2])
    mean = RHO * old_mean + (1 - RHO) * batch_mean
    variance = RHO * old_variance + (1 - RHO) * batch_variance
    z = (x - mean) / tf.sqrt(variance + EPSILON)
    log_det = -0.5 * 9 * tf.reduce_sum(tf.math.log(variance + EPSILON))
    return tf.reduce_sum(z * weights) + 4 * log_det


def _after_a_first_batch():
    """A layer initialised on one batch, a second batch, weights of a loss and the old averages."""
    batch_norm = BatchNormalization(2, momentum=RHO, epsilon=EPSILON, dtype=tf.float64)
    first, second = _batches(2)
    batch_norm.inverse(tf.constant(first))
    old = batch_norm.moving_mean.numpy(), batch_norm.moving_variance.numpy()
    weights = tf.constant(np.random.default_rng(1).normal(size=second.shape))
    return batch_norm, tf.constant(second), weights, old


def test_the_gradient_flows_through_the_batch_statistics_not_the_stored_averages():
    batch_norm, x, weights, (old_mean, old_variance) = _after_a_first_batch()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        tape.watch([batch_norm.moving_mean, batch_norm.moving_variance])
        z = batch_norm.inverse(x, training=True)
        log_det = batch_norm.inverse_log_det_jacobian(x, event_ndims=3, training=True)
        loss = tf.reduce_sum(z * weights) + tf.reduce_sum(log_det)
    assert tape.gradient(loss, [batch_norm.moving_mean, batch_norm.moving_variance]) == [
        None,
        None,
    ]
    with tf.GradientTape() as reference_tape:
        reference_tape.watch(x)
        reference = _reference_loss(x, old_mean, old_variance, weights)
    np.testing.assert_allclose(loss, reference, rtol=1e-12)
    np.testing.assert_allclose(
        tape.gradient(loss, x), reference_tape.gradient(reference, x), rtol=1e-10, atol=1e-12
    )


def test_rebuilding_from_the_output_gives_the_standard_training_gradient():
    batch_norm, x, weights, (old_mean, old_variance) = _after_a_first_batch()
    z = batch_norm.inverse(x, training=True)
    rebuilt, gradient, variable_gradients = batch_norm.inverse_gradient_from_output(
        flow_testing.fresh(z), weights, tf.ones([4], tf.float64), training=True
    )
    with tf.GradientTape() as tape:
        tape.watch(x)
        reference = _reference_loss(x, old_mean, old_variance, weights)
    np.testing.assert_allclose(rebuilt, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gradient, tape.gradient(reference, x), rtol=1e-10, atol=1e-12)
    assert variable_gradients == {}


def test_outside_training_it_is_a_fixed_affine_bijector():
    batch_norm = BatchNormalization(2, dtype=tf.float64)
    x = tf.constant(_batches(1, shape=(2, 2, 2, 2))[0])
    batch_norm.moving_mean.assign([0.3, -1.0])
    batch_norm.moving_variance.assign([2.0, 0.5])
    batch_norm.initialized.assign(True)
    before = [v.numpy() for v in batch_norm.variables]
    flow_testing.assert_round_trip(batch_norm, x, atol=1e-12)
    flow_testing.assert_log_det_matches_jacobian(batch_norm, x, rtol=1e-10, atol=1e-10)
    for variable, value in zip(batch_norm.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_the_first_batch_initialises_the_averages():
    batch_norm = BatchNormalization(2, dtype=tf.float64)
    (x,) = _batches(1)
    z = batch_norm.inverse(tf.constant(x))
    mean, variance = _moments(x)
    np.testing.assert_allclose(batch_norm.moving_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(batch_norm.moving_variance.numpy(), variance, rtol=1e-12)
    assert bool(batch_norm.initialized.numpy())
    np.testing.assert_allclose(np.mean(z, axis=(0, 1, 2)), [0, 0], atol=1e-12)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, float("nan"), True])
def test_rejects_a_momentum_outside_0_1(momentum):
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(2, momentum=momentum)


# ---- in a flow -------------------------------------------------------------------------------

CONFIG = GlowConfig(
    image_shape=(8, 8, 1),
    num_levels=2,
    steps_per_level=1,
    hidden_channels=8,
    architecture="realnvp",
    permutation="none",
    actnorm=False,
    batch_norm=True,
    batch_norm_momentum=RHO,
)


class _BinCentredModel(GlowModel):
    """No dequantisation noise, so that the test can compute what each step sees."""

    def to_flow(self, images, noise=None):
        return super().to_flow(images, None)


def _first_batch_norm_input(model, images):
    """What the first batch norm (in data order) sees: the flow up to it, outside training."""
    h = model.to_flow(images)
    for _, layer, _, _ in model.bijector.layers():
        if isinstance(layer, BatchNormalization):
            return layer, h.numpy()
        h = layer.inverse(h)
    raise AssertionError("no batch norm in the flow")


@pytest.mark.parametrize("reversible", [False, True])
def test_fit_updates_the_averages_exactly_once_per_step(reversible):
    rng = np.random.default_rng(0)
    init_images, images = rng.integers(0, 256, size=(2, 16, 8, 8, 1), dtype=np.uint8)
    model = _BinCentredModel(CONFIG.replace(reversible_gradients=reversible))
    model.initialize(init_images)
    layer, h = _first_batch_norm_input(model, images)
    initial = layer.moving_mean.numpy()
    # A zero learning rate keeps the flow below the first batch norm fixed, so each of the three
    # steps sees the same statistics; μ̃_3 = μ̂ + ρ³ (μ̃_0 − μ̂) after exactly one update per step.
    model.compile(optimizer=tf_keras.optimizers.SGD(0.0))
    model.fit(images, batch_size=16, epochs=3, shuffle=False, verbose=0)
    batch_mean = _moments(h)[0]
    expected = batch_mean + RHO**3 * (initial - batch_mean)
    assert np.max(np.abs(initial - batch_mean)) > 1e-3  # the updates are visible
    np.testing.assert_allclose(layer.moving_mean.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_users_own_loop_and_tfp_log_prob_update_once_per_pass():
    rng = np.random.default_rng(1)
    init_images, images = rng.integers(0, 256, size=(2, 16, 8, 8, 1), dtype=np.uint8)
    model = _BinCentredModel(CONFIG)
    model.initialize(init_images)
    layer, h = _first_batch_norm_input(model, images)
    batch_mean = _moments(h)[0]
    expected = layer.moving_mean.numpy()
    for loss in (
        lambda: model.per_example_loss(images, training=True)[0],
        lambda: model.distribution().log_prob(
            model.to_flow(images), bijector_kwargs={"training": True}
        ),
    ):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss())
        assert all(g is not None for g in tape.gradient(value, model.trainable_variables))
        expected = RHO * expected + (1 - RHO) * batch_mean
        np.testing.assert_allclose(layer.moving_mean.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_evaluation_and_reading_leave_the_averages_alone():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 1), dtype=np.uint8)
    model = GlowModel(CONFIG)
    model.initialize(images)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    before = [v.numpy() for v in model.bijector.non_trainable_variables]
    model.evaluate(images, batch_size=8, verbose=0)
    model.bits_per_dim(images)
    model.decode(model.encode(images))
    for variable, value in zip(model.bijector.non_trainable_variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_reversible_training_mode_gradients_equal_the_standard_ones_in_float64():
    config = CONFIG.replace(
        coupling_network="resnet", residual_blocks=1, affine_scale="tanh", preprocessing="logit"
    )
    x = tf.constant(np.random.default_rng(0).uniform(-0.5, 0.5, size=(4, 8, 8, 1)))
    standard, reversible = (
        Glow(config.replace(reversible_gradients=flag), dtype=tf.float64) for flag in (False, True)
    )
    with standard.initializing():
        standard.inverse(x)
    flow_testing.randomize_variables(standard, seed=1, stddev=0.05)
    for target, source in zip(reversible.variables, standard.variables):
        target.assign(source)
    results = []
    for glow in (standard, reversible):
        with tf.GradientTape() as tape:
            tape.watch(x)
            eps = glow.inverse(x, training=True)
            log_det = glow.inverse_log_det_jacobian(x, event_ndims=3, training=True)
            loss = tf.reduce_sum(tf.square(eps) * tf.range(64.0, dtype=tf.float64)) - tf.reduce_sum(
                log_det
            )
        gradients = tape.gradient(loss, [x, *glow.trainable_variables])
        results.append((gradients, [v.numpy() for v in glow.non_trainable_variables]))
    for expected, actual in zip(results[0][0], results[1][0]):
        np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-9)
    for expected, actual in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(actual, expected, rtol=1e-12)


def test_a_restored_checkpoint_holds_the_averages(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 1), dtype=np.uint8)
    model = GlowModel(CONFIG)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(images, batch_size=8, epochs=2, verbose=0)
    tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    restored = GlowModel(CONFIG)
    status = tf.train.Checkpoint(model=restored).read(str(tmp_path / "ckpt"))
    status.assert_existing_objects_matched().expect_partial()  # the optimizer is not rebuilt
    for layer, restored_layer in zip(model.bijector.batch_norms, restored.bijector.batch_norms):
        np.testing.assert_array_equal(layer.moving_mean.numpy(), restored_layer.moving_mean.numpy())
        np.testing.assert_array_equal(
            layer.moving_variance.numpy(), restored_layer.moving_variance.numpy()
        )
    assert restored.is_initialized
    np.testing.assert_array_equal(restored.encode(images), model.encode(images))
