"""Conv2D, ZeroConv2D and GlowCouplingNetwork: shapes, initialisation, seeds, gradients."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tfglow.bijectors import networks
from tfglow.bijectors.networks import Conv2D, GlowCouplingNetwork, ZeroConv2D

_images = functools.partial(flow_testing.normal_tensor, shape=(2, 4, 4, 3))


def test_conv2d_is_a_same_padded_convolution_without_bias():
    conv = Conv2D(3, 5, kernel_size=3, seed=0)
    x = _images()
    assert conv.kernel.shape == (3, 3, 3, 5)
    assert len(conv.trainable_variables) == 1
    expected = tf.nn.conv2d(x, conv.kernel, strides=1, padding="SAME")
    np.testing.assert_allclose(conv(x), expected, atol=1e-6)
    assert conv(x).shape == (2, 4, 4, 5)


def test_conv2d_initialisation_is_normal_with_stddev_0_05_and_seeded():
    kernel = Conv2D(16, 16, kernel_size=3, seed=7).kernel.numpy()
    assert abs(kernel.std() - 0.05) < 0.005
    assert abs(kernel.mean()) < 0.005
    np.testing.assert_array_equal(Conv2D(16, 16, kernel_size=3, seed=7).kernel.numpy(), kernel)
    assert not np.array_equal(Conv2D(16, 16, kernel_size=3, seed=8).kernel.numpy(), kernel)


def test_zero_conv2d_outputs_zero_at_init_then_applies_the_exp_3_log_gain():
    conv = ZeroConv2D(3, 4, dtype=tf.float64)
    x = _images(dtype=tf.float64)
    np.testing.assert_array_equal(conv(x), np.zeros([2, 4, 4, 4]))
    flow_testing.randomize_variables(conv, stddev=0.3)
    plain = tf.nn.conv2d(x, conv.kernel, strides=1, padding="SAME") + conv.bias
    np.testing.assert_allclose(conv(x), plain * np.exp(3.0 * conv.log_gain.numpy()), rtol=1e-12)


def test_coupling_network_architecture():
    network = GlowCouplingNetwork(in_channels=2, out_channels=6, hidden_channels=8, seed=0)
    assert network.input_conv.kernel.shape == (3, 3, 2, 8)
    assert network.hidden_conv.kernel.shape == (1, 1, 8, 8)
    assert network.output_conv.kernel.shape == (3, 3, 8, 6)
    assert network.input_act_norm.loc.shape == network.hidden_act_norm.loc.shape == (8,)
    # 3 kernels, 2 × (loc, log_scale), and the zero conv's bias and log_gain.
    assert len(network.trainable_variables) == 9


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_coupling_network_outputs_zero_at_init_and_initialises_its_act_norms(dtype):
    network = GlowCouplingNetwork(in_channels=2, out_channels=4, hidden_channels=8, dtype=dtype)
    x = _images(shape=(3, 4, 4, 2), dtype=dtype)
    out = network(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.zeros([3, 4, 4, 4]))
    assert bool(network.input_act_norm.initialized.numpy())
    assert bool(network.hidden_act_norm.initialized.numpy())
    normalised = network.input_act_norm.inverse(network.input_conv(x))
    np.testing.assert_allclose(np.std(normalised, axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_coupling_network_is_reproducible_with_a_seed():
    first = GlowCouplingNetwork(2, 4, hidden_channels=8, seed=3)
    second = GlowCouplingNetwork(2, 4, hidden_channels=8, seed=3)
    for a, b in zip(first.trainable_variables, second.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    other = GlowCouplingNetwork(2, 4, hidden_channels=8, seed=4)
    kernels = [
        first.input_conv.kernel,
        first.hidden_conv.kernel,
        other.input_conv.kernel,
        other.hidden_conv.kernel,
    ]
    leading_draws = [kernel.numpy().ravel()[:16] for kernel in kernels]
    for i, a in enumerate(leading_draws):  # no two kernels share a random stream
        for b in leading_draws[i + 1 :]:
            assert not np.any(np.isclose(a, b, rtol=0, atol=1e-9))


def test_every_network_variable_gets_a_gradient_after_randomisation():
    network = GlowCouplingNetwork(2, 4, hidden_channels=8, seed=0)
    flow_testing.randomize_variables(network)
    x = _images(shape=(2, 4, 4, 2))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(network(x)))
    gradients = tape.gradient(loss, network.trainable_variables)
    for variable, gradient in zip(network.trainable_variables, gradients):
        assert gradient is not None and np.any(gradient.numpy() != 0), variable.name


def test_coupling_network_equals_its_unfolded_formula_and_so_do_its_gradients():
    # conv3x3 → ActNorm → ReLU → 1×1 conv → ActNorm → ReLU → ZeroConv2D, written out layer by
    # layer; the network folds the first ActNorm into its kernel and carries the second one's
    # scale into the zero convolution's kernel.
    network = GlowCouplingNetwork(2, 4, hidden_channels=8, dtype=tf.float64, seed=0)
    x = _images(shape=(3, 4, 4, 2), dtype=tf.float64)
    network(x)  # the ActNorms' data-dependent initialisation
    flow_testing.randomize_variables(network, stddev=0.3)
    upstream = _images(shape=(3, 4, 4, 4), dtype=tf.float64, seed=1)

    def unfolded(x):
        def act_norm_relu(h, act_norm):
            return tf.nn.relu((h + act_norm.loc) * tf.exp(act_norm.log_scale))

        h = act_norm_relu(network.input_conv(x), network.input_act_norm)
        h = act_norm_relu(network.hidden_conv(h), network.hidden_act_norm)
        out = tf.nn.conv2d(h, network.output_conv.kernel, 1, "SAME") + network.output_conv.bias
        return out * tf.exp(3.0 * network.output_conv.log_gain)

    def value_and_gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = function(x)
        sources = [x, *network.trainable_variables]
        return [out, *tape.gradient(out, sources, output_gradients=upstream)]

    got, want = value_and_gradients(network), value_and_gradients(unfolded)
    assert float(tf.reduce_max(tf.abs(want[0]))) > 0.1
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-12)


def test_coupling_network_in_tf_function_with_unknown_batch():
    network = GlowCouplingNetwork(2, 4, hidden_channels=8, seed=0)
    flow_testing.randomize_variables(network)
    call = tf.function(
        network.__call__, input_signature=[tf.TensorSpec([None, 4, 4, 2], tf.float32)]
    )
    x = _images(shape=(3, 4, 4, 2))
    np.testing.assert_allclose(call(x), network(x), atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(0, 4, kernel_size=3),
        lambda: Conv2D(2, 4, kernel_size=0),
        lambda: ZeroConv2D(2, 0),
        lambda: GlowCouplingNetwork(2, 4, hidden_channels=0),
    ],
)
def test_constructor_errors_name_the_value(make):
    with pytest.raises(ValueError, match=">= 1, got 0"):
        make()


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_conv_bias_relu_equals_the_convolution_and_so_do_its_gradients(kernel_size):
    # A 1×1 kernel runs as a MatMul over the pixels; its values and gradients are the conv's.
    rng = np.random.default_rng(0)
    h = tf.constant(rng.normal(size=(2, 5, 5, 3)), tf.float64)
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 3, 4)), tf.float64)
    bias = tf.constant(rng.normal(size=(4,)), tf.float64)
    upstream = tf.constant(rng.normal(size=(2, 5, 5, 4)), tf.float64)

    def value_and_gradients(function):
        with tf.GradientTape() as tape:
            tape.watch([h, kernel, bias])
            out = function(h, kernel, bias)
        return [out, *tape.gradient(out, [h, kernel, bias], output_gradients=upstream)]

    got = value_and_gradients(networks._conv_bias_relu)
    want = value_and_gradients(
        lambda h, k, b: tf.nn.relu(tf.nn.conv2d(h, k, strides=1, padding="SAME") + b)
    )
    assert float(tf.reduce_max(want[0])) > 0  # some units are active
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-12)


def test_interleaved_pair_reads_even_and_odd_channels_with_the_slices_gradient():
    rng = np.random.default_rng(0)
    h = tf.constant(rng.normal(size=(2, 3, 4, 6)))
    upstream = [tf.constant(rng.normal(size=(2, 3, 4, 3))) for _ in range(2)]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(h)
        got = networks.interleaved_pair(h)
        want = (h[..., 0::2], h[..., 1::2])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    np.testing.assert_array_equal(
        tape.gradient(got, h, output_gradients=upstream).numpy(),
        tape.gradient(want, h, output_gradients=upstream).numpy(),
    )
    traced = tf.function(networks.interleaved_pair).get_concrete_function(
        tf.TensorSpec([None, None, None, 6], tf.float64)
    )
    np.testing.assert_array_equal(traced(h)[1].numpy(), want[1].numpy())
