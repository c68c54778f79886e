"""Reversible gradients (`GlowConfig.reversible_gradients`) equal standard backprop, in every
variant.

Each case builds the same flow twice, standard and reversible, with identical variables, and
compares
the loss, the latents, the log-det and the gradient of every trainable variable.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests import flow_testing
from tfglow import GlowConfig, GlowModel

TINY = dict(image_shape=(4, 4, 2), num_levels=2, steps_per_level=2, hidden_channels=8)
CASES = {
    "glow_affine_lu": dict(),
    "glow_affine_conv1x1": dict(permutation="conv1x1"),
    "glow_additive_shuffle": dict(coupling="additive", permutation="shuffle"),
    "realnvp": dict(architecture="realnvp", permutation="none"),
    "nice": dict(coupling="additive", permutation="reverse", actnorm=False, learn_top_prior=False),
    "class_conditional_with_head": dict(num_classes=3, classifier_weight=0.5),
}


def _pair(config: GlowConfig, dtype=tf.float64, seed=0):
    """A standard and a reversible model of `config` with the same randomised variables."""
    standard = GlowModel(config, dtype=dtype)
    flow_testing.randomize_variables(standard.bijector, seed=seed, stddev=0.2)
    if standard.classifier is not None:
        flow_testing.randomize_variables(standard.classifier, seed=seed + 1, stddev=0.2)
    reversible = GlowModel(config.replace(reversible_gradients=True), dtype=dtype)
    for source, target in zip(standard.variables, reversible.variables):
        target.assign(source)
    return standard, reversible


def _images(config: GlowConfig, count=3, seed=0):
    return flow_testing.random_pixels(batch=count, shape=config.image_shape, seed=seed)


def _labels(config: GlowConfig, count=3):
    return (
        None
        if config.num_classes is None
        else np.arange(count, dtype=np.int32) % config.num_classes
    )


def _loss_and_gradients(model, images, labels):
    with tf.GradientTape() as tape:
        bits, eps = model.bits_per_dim_and_latents(images, labels, dequantize=True, seed=7)
        loss = bits
        if model.classifier is not None:
            loss = bits + model.config.classifier_weight * model.classifier.bits(
                model.bijector, eps, labels
            )
        loss = tf.reduce_mean(loss)
    return loss, tape.gradient(loss, model.trainable_variables)


def _relative_difference(expected, actual) -> float:
    expected = np.asarray(tf.convert_to_tensor(expected), np.float64)
    actual = np.asarray(tf.convert_to_tensor(actual), np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))


@pytest.mark.parametrize("case", sorted(CASES))
def test_float64_gradients_equal_standard_backprop(case):
    config = GlowConfig(**{**TINY, **CASES[case]})
    standard, reversible = _pair(config)
    images, labels = _images(config), _labels(config)
    loss, expected = _loss_and_gradients(standard, images, labels)
    reversible_loss, actual = _loss_and_gradients(reversible, images, labels)
    np.testing.assert_allclose(reversible_loss, loss, rtol=1e-12)
    assert len(actual) == len(standard.trainable_variables) > 0
    for variable, want, got in zip(standard.trainable_variables, expected, actual):
        assert got is not None, f"{variable.name} received no gradient"
        assert np.any(np.asarray(tf.convert_to_tensor(got)) != 0), f"{variable.name}: zero gradient"
        assert _relative_difference(want, got) < 1e-9, variable.name


@pytest.mark.parametrize("case", ["glow_affine_lu", "class_conditional_with_head"])
def test_latents_and_log_det_equal_standard_mode(case):
    config = GlowConfig(**{**TINY, **CASES[case]})
    standard, reversible = _pair(config)
    images, labels = _images(config), _labels(config)
    kwargs = {} if labels is None else {"labels": labels}
    flow = standard.to_flow(images)
    np.testing.assert_allclose(
        reversible.bijector.inverse(flow, **kwargs),
        standard.bijector.inverse(flow, **kwargs),
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        reversible.bijector.inverse_log_det_jacobian(flow, event_ndims=3, **kwargs),
        standard.bijector.inverse_log_det_jacobian(flow, event_ndims=3, **kwargs),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        reversible.log_prob(images, labels), standard.log_prob(images, labels), rtol=1e-12
    )


def test_distribution_log_prob_and_a_tf_function_with_unknown_batch_use_it():
    config = GlowConfig(**TINY)
    standard, reversible = _pair(config)
    flow = standard.to_flow(_images(config, count=5))

    def gradients(model):
        @tf.function(input_signature=[tf.TensorSpec([None, *config.image_shape], tf.float64)])
        def step(y):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(model.distribution().log_prob(y))
            return tape.gradient(loss, model.trainable_variables)

        return step(flow)

    for want, got in zip(gradients(standard), gradients(reversible)):
        assert _relative_difference(want, got) < 1e-9


def test_float32_gradients_of_a_briefly_trained_model_match_to_1e_4():
    config = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=16)
    rng = np.random.default_rng(1)
    # Structured images: a bright square on a dark ground, shifted around.
    images = np.zeros((64, 8, 8, 1), np.uint8)
    for index in range(64):
        top, left = rng.integers(0, 4, size=2)
        images[index, top : top + 4, left : left + 4] = rng.integers(150, 256)
    standard = GlowModel(config)
    standard.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    standard.fit(images, batch_size=16, epochs=3, verbose=0)
    reversible = GlowModel(config.replace(reversible_gradients=True))
    for source, target in zip(standard.variables, reversible.variables):
        target.assign(source)
    _, expected = _loss_and_gradients(standard, images[:16], None)
    _, actual = _loss_and_gradients(reversible, images[:16], None)
    difference = np.sqrt(
        sum(np.sum((np.asarray(a) - np.asarray(e)) ** 2) for a, e in zip(actual, expected))
    )
    norm = np.sqrt(sum(np.sum(np.asarray(e) ** 2) for e in expected))
    assert difference / norm < 1e-4


def test_bfloat16_networks_train_with_reversible_gradients():
    config = GlowConfig(**TINY, network_dtype="bfloat16")
    standard, reversible = _pair(config, dtype=tf.float32)
    images = _images(config)
    _, expected = _loss_and_gradients(standard, images, None)
    _, actual = _loss_and_gradients(reversible, images, None)
    for variable, want, got in zip(standard.trainable_variables, expected, actual):
        assert _relative_difference(want, got) < 2e-2, variable.name


def test_fit_trains_a_reversible_model_and_the_flag_round_trips_through_json():
    config = GlowConfig(**TINY, reversible_gradients=True)
    assert GlowConfig.from_json(config.to_json()).reversible_gradients is True
    model = GlowModel(config)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-2))
    images = _images(config, count=32)
    history = model.fit(images, batch_size=8, epochs=4, verbose=0).history["bits_per_dim"]
    assert history[-1] < history[0]


def test_the_flag_refuses_non_booleans():
    with pytest.raises(ValueError, match="reversible_gradients must be True or False, got 'yes'"):
        GlowConfig(**TINY, reversible_gradients="yes")


MEMORY_PROBE = """
import json, sys
import numpy as np, tensorflow as tf
from tfglow import GlowConfig, GlowModel
config, batch = GlowConfig(**json.loads(sys.argv[1])), int(sys.argv[2])
model = GlowModel(config)
images = np.random.default_rng(0).integers(
    0, 256, size=(batch, *config.image_shape), dtype=np.uint8
)
model.initialize(images)

@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.bits_per_dim_and_latents(x, dequantize=True)[0])
    return tape.gradient(loss, model.trainable_variables)

step(images)
tf.config.experimental.reset_memory_stats("CPU:0")
held = tf.config.experimental.get_memory_info("CPU:0")["current"]
step(images)
peak = tf.config.experimental.get_memory_info("CPU:0")["peak"] - held
size = sum(v.shape.num_elements() * v.dtype.size for v in model.trainable_variables)
print(json.dumps([peak / 2**20, size / 2**20]))
"""


def _step_memory_mb(runs: dict) -> dict:
    """`{key: (peak, gradient size)}` in MB for `{key: (GlowConfig kwargs, batch)}`: the peak
    memory one gradient step adds (TensorFlow's CPU allocator statistics) and the size of its
    gradient, each in a fresh process; the processes run side by side, since what they measure
    is memory, not time."""
    import json
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CPU_ALLOCATOR_USE_BFC="true", PYTHONPATH=repo
    )
    processes = {
        key: subprocess.Popen(
            [sys.executable, "-c", MEMORY_PROBE, json.dumps(config), str(batch)],
            cwd=repo,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, (config, batch) in runs.items()
    }
    results = {}
    for key, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        results[key] = tuple(json.loads(stdout.strip().splitlines()[-1]))
    return results


def test_reversible_step_memory_stays_flat_in_depth_where_standard_grows():
    peaks = _step_memory_mb(
        {
            (depth, mode): (
                dict(
                    image_shape=(16, 16, 1),
                    num_levels=2,
                    steps_per_level=depth,
                    hidden_channels=32,
                    reversible_gradients=mode == "reversible",
                ),
                128,
            )
            for depth in (2, 16)
            for mode in ("standard", "reversible")
        }
    )
    standard = {depth: peaks[depth, "standard"][0] for depth in (2, 16)}
    reversible = {depth: peaks[depth, "reversible"][0] for depth in (2, 16)}
    # Standard backprop keeps every layer's activations: 8x the layers, several times the memory.
    assert standard[16] > 4 * standard[2], standard
    # Reversible: one layer's activations at a time, plus gradients that grow with the weights.
    assert reversible[16] < 2 * reversible[2] + 2.0, reversible
    assert reversible[16] < standard[16] / 4, (reversible, standard)


@pytest.mark.parametrize("part", ["log_det", "latents"])
def test_a_loss_of_one_output_alone_gets_the_standard_gradients(part):
    config = GlowConfig(**TINY)
    standard, reversible = _pair(config)
    flow = standard.to_flow(_images(config))

    def gradients(model):
        @tf.function
        def step(y):
            with tf.GradientTape() as tape:
                if part == "log_det":
                    loss = tf.reduce_sum(model.bijector.inverse_log_det_jacobian(y, event_ndims=3))
                else:
                    loss = tf.reduce_sum(model.bijector.inverse(y) ** 2)
            return tape.gradient(loss, model.trainable_variables)

        return step(flow)

    for want, got in zip(gradients(standard), gradients(reversible)):
        if want is None:
            assert got is None or not np.any(tf.convert_to_tensor(got).numpy())
        else:
            assert _relative_difference(want, got) < 1e-9


def test_a_stacks_gradient_rows_are_written_as_they_come_not_held_twice():
    """Stacking a level's row gradients at the end would hold them all and then a copy: about
    twice the gradient at the peak. Each row is written into its stack's gradient as it comes."""
    # One level of wide steps on tiny images: the gradient is all weights, the activations ~nothing.
    config = dict(
        image_shape=(4, 4, 2),
        num_levels=1,
        steps_per_level=16,
        hidden_channels=256,
        reversible_gradients=True,
    )
    ((peak, size),) = _step_memory_mb({"one level": (config, 4)}).values()
    assert size > 4, size  # MB: the weights dominate what the step holds
    assert peak < 1.4 * size, (peak, size)


def test_under_xla_the_gradients_equal_standard_backprop():
    """XLA compiles no in-place row write: there the rows of a stack's gradient are stacked."""
    config = GlowConfig(**TINY)
    standard, reversible = _pair(config, dtype=tf.float32)
    images = _images(config)

    def gradients(model):
        @tf.function(jit_compile=True)
        def step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.bits_per_dim_and_latents(x, dequantize=False)[0])
            return tape.gradient(loss, model.trainable_variables)

        return step(images)

    for variable, want, got in zip(
        standard.trainable_variables, gradients(standard), gradients(reversible)
    ):
        assert _relative_difference(want, got) < 1e-4, variable.name
