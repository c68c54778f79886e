"""The coupling network's folded ActNorm and its bfloat16 mixed-precision mode (`network_dtype`)."""

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tfglow import GlowConfig, GlowModel
from tfglow.bijectors import AffineCoupling
from tfglow.bijectors.networks import GlowCouplingNetwork

CONFIG = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=16)


def _normal(shape, dtype=tf.float32, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), dtype)


def _unfolded(network, h):
    """The network as the paper writes it: conv, ActNorm, ReLU, conv, ActNorm, ReLU, zero conv."""

    def conv(x, kernel):
        return tf.nn.conv2d(x, kernel, strides=1, padding="SAME")

    for kernel, act_norm in [
        (network.input_conv.kernel, network.input_act_norm),
        (network.hidden_conv.kernel, network.hidden_act_norm),
    ]:
        h = tf.nn.relu((conv(h, kernel) + act_norm.loc) * tf.exp(act_norm.log_scale))
    output = network.output_conv
    return (conv(h, output.kernel) + output.bias) * tf.exp(3.0 * output.log_gain)


def test_folded_act_norm_computes_the_unfolded_network():
    network = GlowCouplingNetwork(2, 4, hidden_channels=8, dtype=tf.float64, seed=0)
    network(_normal([3, 4, 4, 2], tf.float64, seed=1))  # data-dependent init
    flow_testing.randomize_variables(network, stddev=0.3)
    x = _normal([3, 4, 4, 2], tf.float64, seed=2)
    np.testing.assert_allclose(network(x), _unfolded(network, x), rtol=1e-12, atol=1e-12)


def test_folded_act_norm_initialises_from_the_raw_convolution_once():
    network = GlowCouplingNetwork(2, 4, hidden_channels=8, dtype=tf.float64, seed=0)
    x = _normal([16, 4, 4, 2], tf.float64, seed=1) * 3.0 + 1.0
    network(x)
    raw = tf.nn.conv2d(x, network.input_conv.kernel, strides=1, padding="SAME").numpy()
    np.testing.assert_allclose(network.input_act_norm.loc, -raw.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(
        np.exp(-network.input_act_norm.log_scale.numpy()),
        raw.std(axis=(0, 1, 2)) + 1e-6,
        rtol=1e-10,
    )
    loc = network.input_act_norm.loc.numpy()
    network(x * 2.0)  # a second batch does not re-initialise
    np.testing.assert_array_equal(network.input_act_norm.loc.numpy(), loc)


def test_bfloat16_network_keeps_float32_variables_and_output_and_rounds_like_bfloat16():
    kwargs = dict(in_channels=2, out_channels=4, hidden_channels=32, seed=0)
    exact = GlowCouplingNetwork(**kwargs)
    mixed = GlowCouplingNetwork(**kwargs, network_dtype=tf.bfloat16)
    x = _normal([4, 6, 6, 2], seed=1)
    exact(x), mixed(x)
    flow_testing.randomize_variables(exact, stddev=0.1)
    for source, target in zip(exact.variables, mixed.variables):
        target.assign(source)
    assert all(v.dtype in (tf.float32, tf.bool) for v in mixed.variables)
    out_exact, out_mixed = exact(x).numpy(), mixed(x).numpy()
    assert out_mixed.dtype == np.float32
    error = np.abs(out_mixed - out_exact).max() / np.abs(out_exact).max()
    assert 1e-5 < error < 3e-2  # bfloat16 keeps 8 significant bits: visibly rounded, still close
    np.testing.assert_array_equal(mixed(x).numpy(), out_mixed)  # deterministic


def test_bfloat16_coupling_is_exactly_invertible_with_a_float32_log_det():
    coupling = AffineCoupling(4, hidden_channels=16, seed=0, network_dtype=tf.bfloat16)
    flow_testing.randomize_variables(coupling, stddev=0.2)
    x = _normal([3, 4, 4, 4], seed=1)
    flow_testing.assert_round_trip(coupling, x, atol=1e-5)
    log_det = coupling.inverse_log_det_jacobian(x, event_ndims=3)
    assert log_det.dtype == tf.float32
    flow_testing.assert_log_det_matches_jacobian(coupling, x, rtol=1e-4, atol=1e-4)


def test_bfloat16_model_decodes_its_codes_to_the_same_uint8_and_trains_every_variable():
    model = GlowModel(CONFIG.replace(network_dtype="bfloat16"))
    images = np.random.default_rng(0).integers(0, 256, size=(16, 8, 8, 1), dtype=np.uint8)
    model.initialize(images)
    # 0.05: at 0.1 this random flow amplifies float32 rounding past a pixel bin, in float32 too.
    flow_testing.randomize_variables(model, stddev=0.05)
    # A fresh tensor: decoding the tensor `encode` returned is a TFP cache hit, not a decode.
    codes = flow_testing.fresh(model.encode(images))
    np.testing.assert_array_equal(model.decode(codes).numpy(), images)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(images, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)
    assert loss.dtype == tf.float32
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert gradient is not None and gradient.dtype == tf.float32, variable.name
        assert np.any(gradient.numpy() != 0), variable.name


def test_network_dtype_is_validated_and_saved_with_the_config():
    config = CONFIG.replace(network_dtype="bfloat16")
    assert GlowConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="network_dtype must be one of .* got 'float16'"):
        CONFIG.replace(network_dtype="float16")


def test_auto_picks_bfloat16_only_where_the_hardware_computes_it(monkeypatch):
    from tfglow import hardware

    monkeypatch.setattr(hardware.tf.config, "list_physical_devices", lambda kind: [])
    try:
        for flags, expected in [
            ({"avx2", "avx512f"}, None),
            ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
            ({"amx_bf16"}, "bfloat16"),
        ]:
            monkeypatch.setattr(hardware, "cpu_flags", lambda flags=flags: flags)
            hardware.native_bfloat16.cache_clear()
            assert hardware.resolve_network_dtype("auto") == expected, flags
            model = GlowModel(CONFIG.replace(network_dtype="auto"))
            network = model.bijector.levels[0].bijectors[3].conditioner
            assert network.network_dtype == tf.as_dtype(expected or tf.float32), flags
        assert hardware.resolve_network_dtype("float32") == "float32"
    finally:
        hardware.native_bfloat16.cache_clear()
