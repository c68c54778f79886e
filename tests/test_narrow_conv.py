"""narrow_conv: 3×3 convolutions whose gradients run as matrix products over patches."""

import functools
import gc
import weakref

import numpy as np
import pytest
import tensorflow as tf

from tfglow import hardware
from tfglow.bijectors import narrow_conv, networks


def _visible_gpus(monkeypatch, gpus):
    """Makes `tf.config.list_physical_devices("GPU")` return `gpus`, as `is_narrow` reads it."""
    real = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else real(kind)
    )


def _cpu_flags(monkeypatch, flags):
    """Makes `narrow_conv.limits` read a CPU with these flags, for this test only: a fresh cache
    around the same rule, so that this machine's cached answer is back after the test."""
    monkeypatch.setattr(hardware, "cpu_flags", lambda: set(flags))
    monkeypatch.setattr(narrow_conv, "limits", functools.cache(narrow_conv.limits.__wrapped__))


AVX512_FLAGS = {"sse4_2", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"}
AVX2_FLAGS = {"sse4_2", "avx2", "fma"}


@pytest.fixture
def cpu_only(monkeypatch):
    """The rule as on a machine without a GPU (this suite's), with AVX-512, wherever the tests
    run."""
    _visible_gpus(monkeypatch, [])
    _cpu_flags(monkeypatch, AVX512_FLAGS)


def _normal(rng, *shape, dtype=tf.float64):
    return tf.constant(rng.normal(size=shape), dtype)


def _value_and_gradients(function, inputs, upstream):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = function(*inputs)
    return [out, *tape.gradient(out, inputs, output_gradients=upstream)]


def test_patches_holds_the_nine_shifted_copies_and_its_adjoint_is_its_transpose():
    rng = np.random.default_rng(0)
    x = _normal(rng, 2, 4, 5, 3)
    p = narrow_conv.patches(x).numpy()
    padded = np.pad(x.numpy(), [(0, 0), (1, 1), (1, 1), (0, 0)])
    for i in range(3):
        for j in range(9):
            dr, dc = j // 3, j % 3  # the offset o_j plus one, in the padded image
            np.testing.assert_array_equal(p[..., i * 9 + j], padded[:, dr : dr + 4, dc : dc + 5, i])
    # <patches(x), q> == <x, patches_adjoint(q)> for any q.
    q = _normal(rng, 2, 4, 5, 27)
    lhs = tf.reduce_sum(narrow_conv.patches(x) * q)
    rhs = tf.reduce_sum(x * narrow_conv.patches_adjoint(q, 3))
    np.testing.assert_allclose(lhs.numpy(), rhs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 5, 6, 2), (1, 1, 1, 4), (3, 7, 7, 1), (2, 4, 4, 24)])
def test_narrow_input_conv_equals_the_convolution_and_so_do_its_gradients(shape):
    rng = np.random.default_rng(1)
    inputs = [
        _normal(rng, *shape),
        _normal(rng, 3, 3, shape[-1], 6),
        _normal(rng, 6),
    ]
    upstream = _normal(rng, *shape[:-1], 6)
    got = _value_and_gradients(narrow_conv.conv_bias_relu_narrow_input, inputs, upstream)
    want = _value_and_gradients(
        lambda x, k, b: tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME") + b), inputs, upstream
    )
    assert 0 < np.mean(got[0].numpy() > 0) < 1  # the ReLU's mask matters
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "shape, channels_out",
    [
        ((2, 5, 6, 7), 4),
        ((1, 1, 1, 3), 4),
        ((3, 4, 4, 16), 4),
        ((2, 4, 4, 9), 48),
        ((8, 8, 8, 16), 4),  # 512 pixels: the forward product with AVX2 only
        ((8, 8, 8, 16), 8),
    ],
)
@pytest.mark.parametrize("flags", [AVX512_FLAGS, AVX2_FLAGS], ids=["avx512", "avx2"])
def test_narrow_output_conv_equals_the_convolution_and_so_do_its_gradients(
    shape, channels_out, flags, monkeypatch
):
    _cpu_flags(monkeypatch, flags)
    rng = np.random.default_rng(2)
    inputs = [_normal(rng, *shape), _normal(rng, 3, 3, shape[-1], channels_out)]
    upstream = _normal(rng, *shape[:-1], channels_out)
    got = _value_and_gradients(narrow_conv.conv_narrow_output, inputs, upstream)
    want = _value_and_gradients(lambda h, k: tf.nn.conv2d(h, k, 1, "SAME"), inputs, upstream)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-12)


def test_a_graph_of_unknown_batch_size_keeps_the_convolution(monkeypatch):
    _cpu_flags(monkeypatch, AVX2_FLAGS)
    kernel = tf.zeros([3, 3, 16, 4])
    traced = tf.function(
        lambda h: narrow_conv.conv_narrow_output(h, kernel),
        input_signature=[tf.TensorSpec([None, 5, 5, 16])],
    )
    graph_types = {op.type for op in traced.get_concrete_function().graph.get_operations()}
    assert "Conv2D" in graph_types
    assert not graph_types & {"If", "StatelessIf", "DepthwiseConv2dNativeBackpropInput"}


def test_gradients_in_a_tf_function_with_unknown_batch_and_size():
    rng = np.random.default_rng(3)
    x, h = _normal(rng, 3, 6, 5, 2, dtype=tf.float32), _normal(rng, 3, 6, 5, 8, dtype=tf.float32)
    kernel_in = _normal(rng, 3, 3, 2, 8, dtype=tf.float32)
    bias = _normal(rng, 8, dtype=tf.float32)
    kernel_out = _normal(rng, 3, 3, 8, 2, dtype=tf.float32)

    def loss(x, h):
        hidden = narrow_conv.conv_bias_relu_narrow_input(x, kernel_in, bias)
        return tf.reduce_sum(hidden * h) + tf.reduce_sum(
            tf.square(narrow_conv.conv_narrow_output(h, kernel_out))
        )

    def gradients(x, h):
        with tf.GradientTape() as tape:
            tape.watch([x, h, kernel_in, bias, kernel_out])
            value = loss(x, h)
        return tape.gradient(value, [x, h, kernel_in, bias, kernel_out])

    spec = [tf.TensorSpec([None, None, None, 2]), tf.TensorSpec([None, None, None, 8])]
    traced = tf.function(gradients, input_signature=spec)
    for g, e in zip(traced(x, h), gradients(x, h)):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-5)


def test_bfloat16_gradients_follow_the_float32_ones():
    rng = np.random.default_rng(4)
    inputs = [
        _normal(rng, 2, 5, 5, 2, dtype=tf.float32),
        _normal(rng, 3, 3, 2, 16, dtype=tf.float32),
    ]
    upstream = _normal(rng, 2, 5, 5, 16, dtype=tf.float32)
    bias = tf.zeros([16])

    def run(dtype):
        cast = [tf.cast(t, dtype) for t in inputs]
        return _value_and_gradients(
            narrow_conv.conv_bias_relu_narrow_input,
            [*cast, tf.cast(bias, dtype)],
            tf.cast(upstream, dtype),
        )

    for low, high in zip(run(tf.bfloat16), run(tf.float32)):
        assert low.dtype == tf.bfloat16
        error = tf.norm(tf.cast(low, tf.float32) - high) / tf.norm(high)
        assert float(error) < 2e-2


@pytest.mark.parametrize(
    "flags, kernel_shape, axis, expected",
    [
        (AVX512_FLAGS, (3, 3, 2, 256), 2, True),
        (AVX512_FLAGS, (3, 3, 4, 256), 2, True),
        (AVX512_FLAGS, (3, 3, 6, 256), 2, False),
        (AVX512_FLAGS, (3, 3, 8, 256), 2, False),
        (AVX512_FLAGS, (1, 1, 2, 256), 2, False),
        (AVX512_FLAGS, (3, 3, 256, 4), 3, True),
        (AVX512_FLAGS, (3, 3, 256, 8), 3, True),
        (AVX512_FLAGS, (3, 3, 256, 12), 3, False),
        (AVX512_FLAGS, (1, 1, 256, 4), 3, False),
        # A CPU with AVX2 only takes the CIFAR networks' ends through the patches too.
        (AVX2_FLAGS, (3, 3, 6, 256), 2, True),
        (AVX2_FLAGS, (3, 3, 24, 256), 2, True),
        (AVX2_FLAGS, (3, 3, 25, 256), 2, False),
        (AVX2_FLAGS, (3, 3, 256, 12), 3, True),
        (AVX2_FLAGS, (3, 3, 256, 48), 3, True),
        (AVX2_FLAGS, (3, 3, 256, 50), 3, False),
        (AVX2_FLAGS, (1, 1, 6, 256), 2, False),
    ],
)
def test_only_3x3_kernels_with_a_narrow_side_take_the_patch_gradients(
    flags, kernel_shape, axis, expected, monkeypatch
):
    _visible_gpus(monkeypatch, [])
    _cpu_flags(monkeypatch, flags)
    assert narrow_conv.is_narrow(kernel_shape, channels_axis=axis) is expected


@pytest.mark.parametrize(
    "flags, batch, channels_out, forward_op",
    [
        (AVX512_FLAGS, 64, 4, "Conv2D"),
        (AVX2_FLAGS, 64, 4, "DepthwiseConv2dNativeBackpropInput"),
        (AVX2_FLAGS, 64, 8, "DepthwiseConv2dNativeBackpropInput"),
        (AVX2_FLAGS, 64, 12, "Conv2D"),
        (AVX2_FLAGS, 1, 4, "Conv2D"),  # 25 pixels: too few for the product to pay
    ],
)
def test_the_forward_pass_into_few_channels_is_a_product_and_col2im_with_avx2_only(
    flags, batch, channels_out, forward_op, monkeypatch
):
    _cpu_flags(monkeypatch, flags)
    h = tf.TensorSpec([batch, 5, 5, 16])
    kernel = tf.zeros([3, 3, 16, channels_out])
    graph = (
        tf.function(lambda h: narrow_conv.conv_narrow_output(h, kernel))
        .get_concrete_function(h)
        .graph
    )
    types = {op.type for op in graph.get_operations()}
    assert forward_op in types
    assert not types & ({"Conv2D", "DepthwiseConv2dNativeBackpropInput"} - {forward_op})


@pytest.mark.parametrize(
    "flags, expected",
    [
        (AVX512_FLAGS, narrow_conv.AVX512_LIMITS),
        (AVX2_FLAGS, narrow_conv.AVX2_LIMITS),
        (set(), narrow_conv.AVX512_LIMITS),  # flags unknown (not Linux, not x86)
        ({"sse4_2"}, narrow_conv.AVX512_LIMITS),
    ],
)
def test_the_limits_follow_the_cpus_vector_units(flags, expected, monkeypatch):
    _cpu_flags(monkeypatch, flags)
    assert narrow_conv.limits() == expected


def _network_gradient_graph():
    """The traced graph of a tape gradient of an initialised coupling network (2 channels in, 4
    out) with respect to its input and its variables."""
    network = networks.GlowCouplingNetwork(2, 4, hidden_channels=8, seed=0)
    x = tf.random.normal([2, 4, 4, 2])
    network(x)

    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = network(x)
        return tape.gradient(out, [x, *network.trainable_variables])

    return tf.function(gradients).get_concrete_function(x).graph


def test_the_coupling_network_uses_the_patch_gradients_where_a_side_is_narrow(cpu_only):
    graph = _network_gradient_graph()
    depthwise = [op for op in graph.get_operations() if "Depthwise" in op.type]
    # The zero convolution's gradient takes patches of its 4-channel output gradient; the first
    # convolution's input gradient is the adjoint of the 2-channel patches.
    assert {op.type for op in depthwise} == {
        "DepthwiseConv2dNative",
        "DepthwiseConv2dNativeBackpropInput",
    }


def test_the_narrow_side_is_an_input_or_an_output_axis(cpu_only):
    with pytest.raises(ValueError, match="channels_axis"):
        narrow_conv.is_narrow((3, 3, 2, 2), channels_axis=0)


def test_a_visible_gpu_keeps_the_convolutions_own_gradients(monkeypatch):
    _visible_gpus(monkeypatch, [])
    assert narrow_conv.is_narrow((3, 3, 2, 256), channels_axis=2)
    _visible_gpus(monkeypatch, ["/physical_device:GPU:0"])
    assert not narrow_conv.is_narrow((3, 3, 2, 256), channels_axis=2)


def test_a_dropped_trace_of_the_patch_gradients_is_freed(cpu_only):
    # A reversible flow traces every layer and keeps one trace per distinct computation
    # (`tfglow.layer_functions`); a gradient that TensorFlow's global registry held would keep
    # every other trace, and its whole graph, alive for the life of the process.
    graph = weakref.ref(_network_gradient_graph())
    gc.collect()
    assert graph() is None


def test_a_gradient_without_a_tape_takes_the_convolutions_own_to_the_same_values(cpu_only):
    rng = np.random.default_rng(5)
    x, kernel, bias = _normal(rng, 2, 5, 5, 2), _normal(rng, 3, 3, 2, 6), _normal(rng, 6)

    @tf.function
    def symbolic(x):
        return tf.gradients(narrow_conv.conv_bias_relu_narrow_input(x, kernel, bias), x)[0]

    with tf.GradientTape() as tape:
        tape.watch(x)
        out = narrow_conv.conv_bias_relu_narrow_input(x, kernel, bias)
    np.testing.assert_allclose(symbolic(x).numpy(), tape.gradient(out, x).numpy(), rtol=1e-12)
