"""train_throughput's A/B of `narrow_conv`: its `conv_gradients` variant traces the step with
every convolution on oneDNN's own kernels, and leaves the library's rule as it found it."""

import numpy as np

from benchmarks import train_throughput
from tfglow import GlowConfig
from tfglow.bijectors import narrow_conv


def test_the_conv_gradients_variant_turns_narrow_conv_off_while_it_traces(monkeypatch):
    seen = []
    is_narrow = narrow_conv.is_narrow

    def recording_is_narrow(kernel_shape, channels_axis):
        seen.append((narrow_conv.limits(), is_narrow(kernel_shape, channels_axis)))
        return seen[-1][1]

    monkeypatch.setattr(narrow_conv, "is_narrow", recording_is_narrow)
    rule = narrow_conv.limits
    config = GlowConfig.preset("mnist_cpu", hidden_channels=8, steps_per_level=1, seed=0)
    images = np.random.default_rng(0).integers(0, 256, size=(8, 28, 28, 1), dtype=np.uint8)
    run = train_throughput._ours(config, images, 4, jit_compile=False, conv_gradients=True)
    bits_per_dim, seconds = run(1)
    assert np.isfinite(bits_per_dim) and seconds > 0
    assert seen and all(limits == (0, 0, 0) and not narrow for limits, narrow in seen)
    assert narrow_conv.limits is rule
