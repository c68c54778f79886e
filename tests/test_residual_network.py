"""RealNVP's residual coupling networks with weight normalisation, and the tanh scale."""

import numpy as np
import pytest
import tensorflow as tf

from tfglow import GlowConfig
from tfglow.bijectors import ActNorm, AffineCoupling, MaskedAffineCoupling
from tfglow.bijectors.residual_network import ResidualCouplingNetwork, WeightNormConv2D


def test_weight_norm_kernel_has_norm_g_in_the_direction_of_v():
    conv = WeightNormConv2D(3, 5, seed=0, dtype=tf.float64)
    np.testing.assert_allclose(conv.kernel(), conv.direction, rtol=1e-12)  # g starts at ‖v‖
    conv.norm.assign(np.arange(1.0, 6.0))
    conv.bias.assign(np.full([5], 0.5))
    kernel = conv.kernel().numpy()
    np.testing.assert_allclose(np.linalg.norm(kernel.reshape(-1, 5), axis=0), np.arange(1, 6))
    direction = conv.direction.numpy().reshape(-1, 5)
    np.testing.assert_allclose(
        kernel.reshape(-1, 5), direction / np.linalg.norm(direction, axis=0) * np.arange(1, 6)
    )
    h = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 4, 3)))
    expected = tf.nn.conv2d(h, kernel, strides=1, padding="SAME") + 0.5
    np.testing.assert_allclose(conv(h), expected, rtol=1e-12)


def test_the_network_starts_small_but_not_zero_and_initialises_its_act_norms():
    network = ResidualCouplingNetwork(2, 4, hidden_channels=16, residual_blocks=2, seed=0)
    act_norms = [m for m in network.submodules if isinstance(m, ActNorm)]
    assert len(act_norms) == 5  # two per block and one before the output
    h = tf.random.stateless_normal([8, 6, 6, 2], seed=[0, 1])
    out = network(h)
    assert out.shape == (8, 6, 6, 4)
    assert all(bool(act_norm.initialized.numpy()) for act_norm in act_norms)
    spread = float(tf.math.reduce_std(out))
    assert 0.01 < spread < 0.5, spread


def test_bfloat16_networks_keep_float32_variables_and_output():
    float32 = ResidualCouplingNetwork(2, 4, 16, 1, seed=0)
    bfloat16 = ResidualCouplingNetwork(2, 4, 16, 1, seed=0, network_dtype=tf.bfloat16)
    h = tf.random.stateless_normal([4, 6, 6, 2], seed=[0, 1])
    expected = float32(h)
    for target, source in zip(bfloat16.variables, float32.variables):
        target.assign(source)
    actual = bfloat16(h)
    assert actual.dtype == tf.float32
    assert all(v.dtype in (tf.float32, tf.bool) for v in bfloat16.variables)
    np.testing.assert_allclose(actual, expected, atol=0.05 * float(tf.reduce_max(tf.abs(expected))))


@pytest.mark.parametrize(
    "make",
    [
        lambda: AffineCoupling(4, 8, seed=0, coupling_network="resnet", residual_blocks=1,
                               scale="tanh"),
        lambda: MaskedAffineCoupling(3, 8, mask="checkerboard", seed=0, coupling_network="resnet",
                                     residual_blocks=1, scale="tanh"),
    ],
)  # fmt: skip
def test_the_tanh_scale_starts_at_one_and_its_factor_learns(make):
    coupling = make()
    x = tf.random.stateless_normal([4, 4, 4, coupling.channels], seed=[0, 2])
    with tf.GradientTape() as tape:
        log_det = coupling.inverse_log_det_jacobian(x, event_ndims=3)
        z = coupling.inverse(x)
        loss = tf.reduce_sum(log_det) + tf.reduce_sum(tf.square(z))
    np.testing.assert_allclose(log_det, np.zeros(4), atol=1e-6)  # a = 0: unit scale everywhere
    factor = coupling.scale_function.factor
    assert float(factor.numpy()) == 0.0
    assert float(tape.gradient(loss, factor)) != 0.0


def test_the_tanh_scale_is_bounded_by_its_factor():
    coupling = AffineCoupling(4, 8, seed=0, coupling_network="resnet", residual_blocks=1,
                              scale="tanh")  # fmt: skip
    coupling.scale_function.factor.assign(0.7)
    coupling.conditioner.output_conv.norm.assign(tf.fill([4], 1e4))  # tanh saturates
    x = tf.random.stateless_normal([2, 4, 4, 4], seed=[0, 3])
    _, log_scale = coupling.shift_and_log_scale(x[..., :2])
    assert float(tf.reduce_max(tf.abs(log_scale))) <= 0.7 + 1e-6
    assert float(tf.reduce_max(tf.abs(log_scale))) > 0.69


def test_the_tanh_scale_refuses_glows_zero_initialised_network():
    with pytest.raises(ValueError, match="coupling_network='resnet'"):
        AffineCoupling(4, 8, scale="tanh")
    with pytest.raises(ValueError, match="coupling_network='resnet'"):
        GlowConfig.preset("tiny", affine_scale="tanh")


@pytest.mark.parametrize(
    "field, value",
    [
        ("coupling_network", "mlp"),
        ("residual_blocks", 0),
        ("affine_scale", "exp"),
        ("batch_norm", "yes"),
        ("batch_norm_momentum", 1.0),
        ("preprocessing", "dequantize"),
    ],
)
def test_config_refuses_bad_realnvp_fields_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        GlowConfig.preset("tiny", **{field: value})
