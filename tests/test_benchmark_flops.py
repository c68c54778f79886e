"""The FLOP count behind `benchmarks/ceiling.py`'s ceiling: known ops, and a Glow by hand."""

import tensorflow as tf

from benchmarks.ceiling import forward_flops
from tfglow import Glow, GlowConfig


def _traced(function, *specs) -> tf.Graph:
    return tf.function(function, autograph=False).get_concrete_function(*specs).graph


def test_a_convolution_counts_two_flops_per_multiply_add():
    kernel = tf.zeros([3, 3, 3, 4])
    graph = _traced(
        lambda x: tf.nn.conv2d(x, kernel, strides=1, padding="SAME"),
        tf.TensorSpec([2, 5, 5, 3]),
    )
    assert forward_flops(graph) == {"Conv2D": 2 * (3 * 3 * 3) * (2 * 5 * 5 * 4)}


def test_a_depthwise_convolution_counts_its_kernel_window_only():
    kernel = tf.zeros([3, 3, 2, 9])
    graph = _traced(
        lambda x: tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME"),
        tf.TensorSpec([1, 4, 4, 2]),
    )
    assert forward_flops(graph) == {"DepthwiseConv2dNative": 2 * 3 * 3 * (4 * 4 * 18)}


def test_products_read_their_transposes():
    b = tf.zeros([5, 3])
    graph = _traced(
        lambda a: tf.linalg.matmul(a, b, transpose_a=True, transpose_b=True),
        tf.TensorSpec([3, 7]),
    )
    assert forward_flops(graph) == {"MatMul": 2 * 7 * 3 * 5}
    c = tf.zeros([4, 3, 6])
    graph = _traced(lambda a: tf.linalg.matmul(a, c), tf.TensorSpec([4, 2, 3]))
    assert forward_flops(graph) == {"BatchMatMulV2": 2 * 4 * 2 * 3 * 6}


def test_a_glow_encode_counts_its_coupling_networks_and_split_priors():
    config = GlowConfig.preset("tiny")
    glow = Glow(config)
    glow.data_dependent_init = False
    graph = _traced(lambda x: glow.inverse(x), tf.TensorSpec([1, *config.image_shape]))
    width = config.hidden_channels
    expected = 0
    for level, (height, image_width, channels) in enumerate(config.level_shapes):
        pixels = height * image_width
        half = channels // 2
        transformed = channels - half
        network = 2 * pixels * (9 * half * width + width * width + 9 * width * 2 * transformed)
        expected += config.steps_per_level * network
        if level < config.num_levels - 1:
            expected += 2 * pixels * 9 * half * 2 * transformed  # the split prior
    counted = forward_flops(graph)
    # The LU 1×1 convolution: its [C, C] product over the pixels, and W = P·L·U composed by two
    # [C, C] products once per call.
    permutations = sum(
        config.steps_per_level * (2 * height * image_width * channels**2 + 2 * 2 * channels**3)
        for height, image_width, channels in config.level_shapes
    )
    assert sum(counted.values()) == expected + permutations
