"""The recipe's Adam and Adamax apply tf_keras's update with one fused op per variable."""

import collections

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfglow.recipe import LinearWarmup, make_optimizer

SHAPES = [(3, 4), (5,), ()]
REFERENCES = {"adam": tf_keras.optimizers.Adam, "adamax": tf_keras.optimizers.Adamax}


def _trained_pair(name, dtype, steps=6):
    """Variables after `steps` updates by the recipe's optimizer and by tf_keras's, same
    gradients, warmup and clipping; and the graph of one update of both."""
    rng = np.random.default_rng(0)
    start = [rng.normal(size=shape) for shape in SHAPES]
    ours = [tf.Variable(value, dtype=dtype) for value in start]
    theirs = [tf.Variable(value, dtype=dtype) for value in start]
    optimizer = make_optimizer(name, 0.05, warmup_steps=3, clip_norm=2.0)
    reference = REFERENCES[name](learning_rate=LinearWarmup(0.05, 3), global_clipnorm=2.0)

    @tf.function
    def step(gradients):
        optimizer.apply_gradients(zip(gradients, ours))
        reference.apply_gradients(zip(gradients, theirs))

    for _ in range(steps):
        step([tf.constant(rng.normal(size=shape), dtype) for shape in SHAPES])
    graph = step.get_concrete_function([tf.TensorSpec(shape, dtype) for shape in SHAPES]).graph
    return start, ours, theirs, graph


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_the_fused_update_is_tf_keras_update_in_float64(name):
    start, ours, theirs, _ = _trained_pair(name, tf.float64)
    for before, got, want in zip(start, ours, theirs):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
        assert np.abs(got.numpy() - before).max() > 1e-3  # the updates did move the variables


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_the_fused_update_matches_in_float32_and_is_one_op_per_variable(name):
    _, ours, theirs, graph = _trained_pair(name, tf.float32)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    ops = collections.Counter(op.type for op in graph.get_operations())
    fused = {"adam": "ResourceApplyAdam", "adamax": "ResourceApplyAdaMax"}[name]
    assert ops[fused] == len(SHAPES)
    # tf_keras's update computes β^t for each variable; ours computes β₁^t and β₂^t once.
    keras_pows = (2 if name == "adam" else 1) * len(SHAPES)
    assert ops["Pow"] == keras_pows + 2
