"""`tfglow.stacked_variables`: K steps' variables as slices of one stacked variable per kind."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

from tfglow import stacked_variables
from tfglow.bijectors import ActNorm


def _stacked_act_norms(depth: int, channels: int = 3):
    stacked = stacked_variables.StackedSteps()
    layers = []
    for k in range(depth):
        with stacked.step(k):
            layers.append(ActNorm(channels, name=f"step_{k}_act_norm"))
    stacked.build()
    return stacked, layers


def test_each_kind_is_one_variable():
    stacked, layers = _stacked_act_norms(4)
    assert [tuple(s.variable.shape) for s in stacked.stacks] == [(4, 3), (4, 3), (4,)]
    module = tf.Module()
    module.layers = layers
    assert {v.ref() for v in module.trainable_variables} == {
        s.variable.ref() for s in stacked.stacks if s.trainable
    }
    assert len([v for v in module.variables if not v.trainable]) == 1  # `initialized`, stacked


def test_a_slice_reads_and_assigns_its_row_only():
    stacked, layers = _stacked_act_norms(3)
    layers[1].loc.assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(stacked.stacks[0].variable.numpy()[[0, 2]], np.zeros([2, 3]))
    np.testing.assert_array_equal(layers[1].loc.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal((layers[1].loc * 2.0).numpy(), [2.0, 4.0, 6.0])


def test_a_layer_initialises_and_inverts_on_its_slices():
    _, layers = _stacked_act_norms(2)
    x = tf.random.stateless_normal([8, 4, 4, 3], seed=[1, 2]) * 3.0 + 1.0
    z = layers[0].inverse(x)
    np.testing.assert_allclose(tf.reduce_mean(z, [0, 1, 2]).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(layers[0].forward(z).numpy(), x.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layers[1].log_scale.numpy(), np.zeros(3))


@pytest.mark.parametrize("read_once", [False, True])
def test_the_gradient_of_a_stack_is_its_rows_gradients(read_once):
    stacked, layers = _stacked_act_norms(3)
    for layer in layers:
        layer.initialized.assign(True)
    x = tf.random.stateless_normal([2, 2, 2, 3], seed=[3, 4])

    @tf.function
    def gradient():
        with tf.GradientTape() as tape:
            with stacked_variables.reading() if read_once else contextlib.nullcontext():
                h = x
                for layer in layers[:2]:  # the last step unused: a zero row
                    h = layer.inverse(h)
                loss = tf.reduce_sum(h**2)
        return tape.gradient(loss, [s.variable for s in stacked.stacks if s.trainable])

    loc, log_scale = gradient()
    assert isinstance(loc, tf.Tensor)  # dense: never a sparse read (see `StackSlice.assign`)
    # Reference: the same loss through plain ActNorms.
    plain = [ActNorm(3) for _ in range(2)]
    for layer in plain:
        layer.initialized.assign(True)
    with tf.GradientTape() as tape:
        h = x
        for layer in plain:
            h = layer.inverse(h)
        loss = tf.reduce_sum(h**2)
    expected = tape.gradient(loss, [v for layer in plain for v in (layer.loc, layer.log_scale)])
    np.testing.assert_allclose(loc.numpy()[:2], np.stack(expected[0::2]), rtol=1e-6)
    np.testing.assert_allclose(log_scale.numpy()[:2], np.stack(expected[1::2]), rtol=1e-6)
    np.testing.assert_array_equal(loc.numpy()[2], np.zeros(3))
    ops = [op.type for op in gradient.get_concrete_function().graph.get_operations()]
    assert ops.count("Unpack") == (len(stacked.stacks) if read_once else 0)  # one per stack


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_stack_gradients_write_each_row_where_it_belongs(mode):
    stacked, _ = _stacked_act_norms(4)
    stack = stacked.stacks[0]
    rows = {3: [4.0, 4.5, 5.0], 0: [1.0, 1.5, 2.0], 1: [2.0, 2.5, 3.0]}  # none for row 2

    def gradient():
        gradients = stacked_variables.StackGradients()
        for index, row in rows.items():
            row = tf.constant(row)
            gradients.write(stack.slices[index], row, after=row)
        gradients.write(stack.slices[2], None, after=row)
        return gradients.gradient(stack), gradients.in_place

    if mode != "eager":
        gradient = tf.function(gradient, jit_compile=mode == "xla")
    value, in_place = gradient()
    assert bool(in_place) == (mode != "xla")  # XLA compiles no in-place write: it stacks
    expected = np.array([rows[0], rows[1], [0.0] * 3, rows[3]], np.float32)
    np.testing.assert_array_equal(value.numpy(), expected)


def test_steps_built_differently_fail():
    stacked = stacked_variables.StackedSteps()
    with stacked.step(0):
        ActNorm(3)
    with pytest.raises(ValueError, match="not built alike"):
        with stacked.step(1):
            ActNorm(4)
