"""Convolutional building blocks of the coupling networks and priors (modules, not bijectors).

All modules take rank-4 NHWC tensors and use 'SAME' padding, so they keep the spatial size.
`GlowCouplingNetwork` is the network of a Glow coupling layer (Kingma & Dhariwal 2018, §3.3):

```none
  h ─▶ Conv2D 3×3 ─▶ ActNorm ─▶ ReLU ─▶ Conv2D 1×1 ─▶ ActNorm ─▶ ReLU ─▶ ZeroConv2D 3×3 ─▶ out
     (in → hidden)                     (hidden → hidden)                (hidden → out)
```
"""

from typing import Optional

import numpy as np
import tensorflow as tf

from tfglow.bijectors import narrow_conv
from tfglow.bijectors.act_norm import ActNorm

# Standard deviation of the random normal kernel initialisation, as in openai/glow's `conv2d`.
_KERNEL_INIT_STDDEV = 0.05
# `ZeroConv2D` multiplies its output by exp(_LOG_GAIN_FACTOR · log_gain), as openai/glow's
# `conv2d_zeros` (its `logscale_factor`): the gain learns faster than a plain per-channel scale.
_LOG_GAIN_FACTOR = 3.0


def check_conv_sizes(module: str, in_channels: int, out_channels: int, kernel_size: int) -> None:
    """Raises `ValueError` naming the argument unless every size of a convolution is >= 1."""
    for argument, value in [
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("kernel_size", kernel_size),
    ]:
        if value < 1:
            raise ValueError(f"{module} needs {argument} >= 1, got {value}")


def _conv2d(h: tf.Tensor, kernel: tf.Variable) -> tf.Tensor:
    return tf.nn.conv2d(h, kernel, strides=1, padding="SAME")


class Conv2D(tf.Module):
    """A 2-D convolution without bias ('SAME' padding, stride 1), kernel initialised N(0, 0.05²).

    It has no bias because in Glow's coupling network it is always followed by an `ActNorm`,
    whose shift takes that role.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dtype=tf.float32,
        seed: Optional[int] = None,
        name: str = "conv2d",
    ):
        """Creates the kernel of shape `[kernel_size, kernel_size, in_channels, out_channels]`.

        Args:
          in_channels: Python `int`, the number of input channels.
          out_channels: Python `int`, the number of output channels.
          kernel_size: Python `int`, the height and width of the kernel.
          dtype: the floating dtype of the kernel. Default value: `tf.float32`.
          seed: Python `int` seed of the kernel initialisation, or `None` to draw it from the
            global seed. Default value: `None`.
          name: Python `str`, the name of the module. Default value: `"conv2d"`.
        """
        super().__init__(name=name)
        check_conv_sizes("Conv2D", in_channels, out_channels, kernel_size)
        shape = [kernel_size, kernel_size, in_channels, out_channels]
        if seed is None:
            initial = tf.random.normal(shape, stddev=_KERNEL_INIT_STDDEV, dtype=dtype)
        else:
            initial = tf.random.stateless_normal(
                shape,
                seed=tf.constant([seed, 0], tf.int64),
                stddev=_KERNEL_INIT_STDDEV,
                dtype=dtype,
            )
        with self.name_scope:
            self.kernel = tf.Variable(initial, name="kernel")

    def __call__(self, h: tf.Tensor) -> tf.Tensor:
        return _conv2d(h, self.kernel)


class ZeroConv2D(tf.Module):
    """A zero-initialised 2-D convolution with bias and a learned per-channel log-gain.

    `out = (conv(h, kernel) + bias) * exp(3 · log_gain)`, all three variables zero at creation,
    so the output is exactly zero until training moves them (openai/glow's `conv2d_zeros`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dtype=tf.float32,
        name: str = "zero_conv2d",
    ):
        """Creates the zero kernel, bias and log-gain.

        Args:
          in_channels: Python `int`, the number of input channels.
          out_channels: Python `int`, the number of output channels.
          kernel_size: Python `int`, the height and width of the kernel. Default value: `3`.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          name: Python `str`, the name of the module. Default value: `"zero_conv2d"`.
        """
        super().__init__(name=name)
        check_conv_sizes("ZeroConv2D", in_channels, out_channels, kernel_size)
        with self.name_scope:
            self.kernel = tf.Variable(
                tf.zeros([kernel_size, kernel_size, in_channels, out_channels], dtype),
                name="kernel",
            )
            self.bias = tf.Variable(tf.zeros([out_channels], dtype), name="bias")
            self.log_gain = tf.Variable(tf.zeros([out_channels], dtype), name="log_gain")

    def __call__(self, h: tf.Tensor, input_scale: Optional[tf.Tensor] = None) -> tf.Tensor:
        """The output for `h`; with `input_scale` (per input channel, `[in_channels]`), the
        output for `h · input_scale`, the scale taken on the kernel's input axis instead."""
        kernel = self.kernel if input_scale is None else self.kernel * input_scale[:, None]
        # The convolution runs in the dtype of `h` (bfloat16 under mixed precision); bias and
        # gain are applied in the variables' dtype.
        kernel = tf.cast(kernel, h.dtype)
        if narrow_conv.is_narrow(kernel.shape, channels_axis=3):
            out = narrow_conv.conv_narrow_output(h, kernel)
        else:
            out = _conv2d(h, kernel)
        out = tf.cast(out, self.kernel.dtype)
        return (out + self.bias) * tf.exp(_LOG_GAIN_FACTOR * self.log_gain)


def interleaved_pair(h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(h[..., 0::2], h[..., 1::2])`: two parameters a network emits interleaved by channel.

    openai/glow's layout, used for a coupling's shift and scale and a split prior's mean and
    log-std. Read as a reshape to `[..., C / 2, 2]` and an unstack: the same values, and a
    gradient that is one stack, where two strided slices would each write a full-size
    zero-filled tensor (`benchmarks/README.md`).
    """
    pairs = tf.reshape(h, tf.concat([tf.shape(h)[:-1], [h.shape[-1] // 2, 2]], axis=0))
    first, second = tf.unstack(pairs, axis=-1)
    return first, second


class GlowCouplingNetwork(tf.Module):
    """Glow's coupling network: 3×3 conv, ActNorm, ReLU, 1×1 conv, ActNorm, ReLU, zero 3×3 conv.

    The last convolution is a `ZeroConv2D`, so the network outputs exactly zero at initialisation
    and every coupling layer built on it starts as a fixed elementwise map. The two `ActNorm`s
    normalise the hidden activations (their `inverse`, x→z direction) and initialise themselves
    from the first batch they see, like the flow's own `ActNorm` layers.

    With `network_dtype=tf.bfloat16` (mixed precision) the three convolutions run in bfloat16
    while the variables, and the network's output, stay in `dtype`. The output is still a
    deterministic function of the input, so a coupling built on it stays exactly invertible and
    its log-determinant, computed from that output, stays in `dtype`.

    #### Examples

    ```python
    network = tfglow.bijectors.networks.GlowCouplingNetwork(
        in_channels=2, out_channels=4, hidden_channels=256)
    h = network(x_b)                    # [N, H, W, 2] -> [N, H, W, 4], zero at initialisation
    ```

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        dtype=tf.float32,
        seed: Optional[int] = None,
        network_dtype: Optional[tf.dtypes.DType] = None,
        name: str = "coupling_network",
    ):
        """Creates the three convolutions and two ActNorms.

        Args:
          in_channels: Python `int`, the number of input channels.
          out_channels: Python `int`, the number of output channels.
          hidden_channels: Python `int`, the width of the two hidden layers (512 in Glow).
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          seed: Python `int` seed of the two random kernels, or `None` to draw them from the
            global seed. Default value: `None`.
          network_dtype: the dtype the convolutions compute in, e.g. `tf.bfloat16`; `None` means
            `dtype`. Default value: `None`.
          name: Python `str`, the name of the module. Default value: `"coupling_network"`.
        """
        super().__init__(name=name)
        self.network_dtype = tf.as_dtype(network_dtype or dtype)
        if hidden_channels < 1:
            raise ValueError(
                f"GlowCouplingNetwork needs hidden_channels >= 1, got {hidden_channels}"
            )
        # Well-mixed seeds for the two kernels: with `seed + 1` a flow seeding its layers
        # `seed + k` would give layer k's second kernel the same draws as layer k + 1's first.
        first_seed = second_seed = None
        if seed is not None:
            first_seed, second_seed = map(int, np.random.SeedSequence(seed).generate_state(2))
        with self.name_scope:
            self.input_conv = Conv2D(
                in_channels,
                hidden_channels,
                kernel_size=3,
                dtype=dtype,
                seed=first_seed,
                name="input_conv",
            )
            self.input_act_norm = ActNorm(hidden_channels, dtype=dtype, name="input_act_norm")
            self.hidden_conv = Conv2D(
                hidden_channels,
                hidden_channels,
                kernel_size=1,
                dtype=dtype,
                seed=second_seed,
                name="hidden_conv",
            )
            self.hidden_act_norm = ActNorm(hidden_channels, dtype=dtype, name="hidden_act_norm")
            self.output_conv = ZeroConv2D(
                hidden_channels, out_channels, kernel_size=3, dtype=dtype, name="output_conv"
            )

    def __call__(self, h: tf.Tensor) -> tf.Tensor:
        h = tf.cast(h, self.network_dtype)
        h = _conv_act_norm_relu(h, self.input_conv, self.input_act_norm)
        h, scale = _conv_act_norm_relu(h, self.hidden_conv, self.hidden_act_norm, defer_scale=True)
        return self.output_conv(h, input_scale=scale)


def _conv_act_norm_relu(h: tf.Tensor, conv: Conv2D, act_norm, defer_scale: bool = False):
    """`relu(act_norm.inverse(conv(h)))`, with the ActNorm folded into the convolution.

    `(conv(h, W) + loc) · s = conv(h, W · s) + loc · s` with `s = exp(log_scale)` per output
    channel: written this way Grappler fuses convolution, bias and ReLU into one oneDNN kernel,
    and the backward pass handles `s` on the kernel instead of on every activation. The ActNorm's
    data-dependent initialisation still sees the unfolded `conv(h, W)`, computed on the first
    batch only, in the variables' dtype. The convolution runs in the dtype of `h`.

    With `defer_scale`, returns `(relu(conv(h, W) + loc), s)` instead, for the next convolution
    to take `s` on its kernel's input axis: `relu(u · s) = relu(u) · s` since `s > 0`. Before a
    narrow convolution that kernel is far smaller than `W` (9·256·4 against 256·256 weights in
    an MNIST-size coupling), which a batch-1 call pays for on every call.
    """
    initialized = act_norm.maybe_initialize_from(lambda: conv(tf.cast(h, conv.kernel.dtype)))
    with tf.control_dependencies([initialized]):
        scale = tf.exp(act_norm.log_scale)
        if defer_scale:
            kernel, bias = tf.cast(conv.kernel, h.dtype), tf.cast(act_norm.loc, h.dtype)
            return _conv_bias_relu(h, kernel, bias), scale
        kernel, bias = tf.cast(conv.kernel * scale, h.dtype), tf.cast(act_norm.loc * scale, h.dtype)
        return _conv_bias_relu(h, kernel, bias)


def _conv_bias_relu(h: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """`relu(conv(h, kernel) + bias)`; a 1×1 kernel runs as one matrix product over the pixels.

    A 1×1 convolution is `[N·H·W, C_in] @ [C_in, C_out]`, and so are its two gradients (with a
    transpose). Written as `MatMul`, Grappler still fuses bias and ReLU, and on CPU oneDNN's matrix
    products run these sizes faster than its 1×1 convolution and, above all, its filter gradient
    (`benchmarks/README.md`). A 3×3 kernel reading very few channels back-propagates as matrix
    products too (`narrow_conv`).
    """
    if narrow_conv.is_narrow(kernel.shape, channels_axis=2):
        return narrow_conv.conv_bias_relu_narrow_input(h, kernel, bias)
    if kernel.shape[0] == 1 and kernel.shape[1] == 1:
        channels_in, channels_out = kernel.shape[2], kernel.shape[3]
        pixels = tf.reshape(h, [-1, channels_in])
        out = tf.matmul(pixels, tf.reshape(kernel, [channels_in, channels_out]))
        out = tf.nn.relu(tf.nn.bias_add(out, bias))
        return tf.reshape(out, tf.concat([tf.shape(h)[:-1], [channels_out]], axis=0))
    return tf.nn.relu(tf.nn.bias_add(_conv2d(h, kernel), bias))
