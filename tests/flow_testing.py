"""Checks shared by every flow test: finiteness, round trips, log-det against the brute-force
Jacobian.

Conventions (TFP's): a bijector's `forward` maps z→x (generation) and `inverse` maps x→z (the
papers'
direction). Image bijectors act on events of shape `[H, W, C]`.
"""

import numpy as np
import tensorflow as tf

from tfglow import GlowModel


def assert_tensor_is_good(tensor, shape=None):
    """Asserts that `tensor` is finite and, if given, of `shape`."""
    value = np.asarray(tensor)
    assert np.all(np.isfinite(value)), f"non-finite values in a tensor of shape {value.shape}"
    if shape is not None:
        assert tuple(value.shape) == tuple(shape), f"shape {value.shape} != {tuple(shape)}"


def random_pixels(*, batch: int, shape, seed: int = 0) -> np.ndarray:
    """`batch` images of `shape` with uniform random uint8 pixel values."""
    return np.random.default_rng(seed).integers(0, 256, size=(batch, *shape), dtype=np.uint8)


def normal_tensor(*, shape, dtype=tf.float32, seed: int = 0) -> tf.Tensor:
    """A tensor of `shape` with standard normal entries: a generic input of a bijector."""
    return tf.constant(np.random.default_rng(seed).normal(size=shape), dtype)


def randomized_model(config, *, stddev: float, batch: int, seed: int = 0):
    """A `GlowModel` of `config`, initialised on `batch` random images, then `randomize_variables`.

    A class-conditional model is initialised with the labels 0, 1, 2, ... in turn.
    """
    model = GlowModel(config)
    images = random_pixels(batch=batch, shape=config.image_shape, seed=seed + 100)
    labels = None if config.num_classes is None else np.arange(batch) % config.num_classes
    model.initialize(images, labels)
    randomize_variables(model, seed=seed, stddev=stddev)
    return model


def randomize_variables(module: tf.Module, seed: int = 0, stddev: float = 0.1):
    """Moves every trainable variable of `module` away from its identity initialisation.

    Adds Gaussian noise of `stddev` to each trainable variable and marks every data-dependent
    initialisation flag (a boolean variable named `initialized`) as done, so that the flow
    under test is a generic invertible map rather than the identity it starts as.
    """
    rng = np.random.default_rng(seed)
    for variable in module.trainable_variables:
        noise = rng.normal(0.0, stddev, size=variable.shape).astype(variable.dtype.as_numpy_dtype)
        variable.assign_add(noise)
    for variable in module.variables:
        if variable.dtype == tf.bool and "initialized" in variable.name:
            variable.assign(tf.fill(variable.shape, True))  # one flag, or a level's stack


def network_ops(function, spec) -> list[str]:
    """The sorted types of the coupling-network ops that `function`, traced on `spec`, runs.

    Those are `Conv2D` and `MatMul` (Glow's network runs its 1×1 convolution as one), so one
    evaluation of Glow's network is `["Conv2D", "Conv2D", "MatMul"]`.
    """
    graph = tf.function(function).get_concrete_function(spec).graph
    return sorted(op.type for op in graph.get_operations() if op.type in ("Conv2D", "MatMul"))


def fresh(tensor) -> tf.Tensor:
    """A new tensor with the value of `tensor`.

    TFP caches each bijector call by the identity of its input and output tensors:
    `forward(inverse(x))`, given the very tensor `inverse` returned, hands back `x` without
    computing anything. A round-trip test must pass a fresh tensor to measure the real inverse.
    """
    return tf.constant(np.asarray(tensor))


def assert_round_trip(bijector, x, atol=1e-5, **kwargs):
    """Asserts forward(inverse(x)) == x and inverse(forward(z)) == z with z = inverse(x)."""
    z = bijector.inverse(x, **kwargs)
    assert_tensor_is_good(z)
    x_again = bijector.forward(fresh(z), **kwargs)
    np.testing.assert_allclose(np.asarray(x_again), np.asarray(x), atol=atol, rtol=0)
    z_again = bijector.inverse(fresh(x_again), **kwargs)
    np.testing.assert_allclose(np.asarray(z_again), np.asarray(z), atol=atol, rtol=0)


def brute_force_inverse_log_det(bijector, x, **kwargs):
    """log|det ∂inverse(x)/∂x| per example from the full Jacobian (use float64 and tiny shapes)."""
    x = tf.convert_to_tensor(x)
    batch = x.shape[0]
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = bijector.inverse(x, **kwargs)
        z_flat = tf.reshape(z, [batch, -1])
    jacobian = tape.batch_jacobian(z_flat, x)
    jacobian = tf.reshape(jacobian, [batch, z_flat.shape[-1], -1])
    sign, log_abs_det = tf.linalg.slogdet(jacobian)
    assert np.all(np.asarray(sign) != 0), "singular Jacobian"
    return log_abs_det


def assert_log_det_matches_jacobian(bijector, x, event_ndims=3, rtol=1e-6, atol=1e-8, **kwargs):
    """Asserts the analytic log-dets equal slogdet of the brute-force Jacobian, both directions.

    Checks `inverse_log_det_jacobian(x) == slogdet(∂z/∂x)` and
    `forward_log_det_jacobian(z) == -inverse_log_det_jacobian(x)` for `z = inverse(x)`.
    """
    expected = brute_force_inverse_log_det(bijector, x, **kwargs)
    batch_shape = [x.shape[0]]
    ildj = bijector.inverse_log_det_jacobian(x, event_ndims=event_ndims, **kwargs)
    ildj = np.broadcast_to(np.asarray(ildj), batch_shape)
    np.testing.assert_allclose(ildj, np.asarray(expected), rtol=rtol, atol=atol)
    z = bijector.inverse(x, **kwargs)
    fldj = bijector.forward_log_det_jacobian(tf.identity(z), event_ndims=event_ndims, **kwargs)
    fldj = np.broadcast_to(np.asarray(fldj), batch_shape)
    np.testing.assert_allclose(fldj, -np.asarray(expected), rtol=rtol, atol=atol)
