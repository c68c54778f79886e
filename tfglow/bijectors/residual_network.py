"""RealNVP's residual coupling network with weight-normalised convolutions (modules, not
bijectors).

RealNVP §4.1 builds the scale and translation functions of its couplings from deep residual
networks (He et al. 2016) with weight normalisation (Salimans & Kingma 2016) and batch
normalisation. `ResidualCouplingNetwork`, with `B = residual_blocks` and `W = hidden_channels`:

```none
  h ─▶ WNConv 3×3 (in → W) ─▶ B × [ActNorm ─▶ ReLU ─▶ WNConv 3×3 ─▶ ActNorm ─▶ ReLU ─▶ WNConv 3×3]
                                   └──────────────────────── + ────────────────────────────────┘
    ─▶ ActNorm ─▶ ReLU ─▶ WNConv 3×3 (W → out, small initial norm) ─▶ out
```

The networks normalise their hidden activations with `ActNorm`, not batch normalisation. ActNorm
is batch normalisation's per-channel affine map with its statistics taken once, from the first
batch (Glow §3.1), so the network stays a deterministic function of its own input: a coupling
built on it is exactly invertible in training as well as outside it, the reversible backward pass
can rebuild its input, and training and held-out figures use the same map. Glow introduced it for
the small per-device batches where batch statistics are noisy, the regime of a 2-core CPU.
"""

from typing import Optional

import numpy as np
import tensorflow as tf

from tfglow.bijectors.act_norm import ActNorm
from tfglow.bijectors.networks import check_conv_sizes

# Standard deviation of the random direction `v` of every weight-normalised kernel.
_DIRECTION_STDDEV = 0.05
# The initial per-channel norm `g` of the output convolution: small, so that a coupling starts
# close to the identity, and nonzero, so that a `tanh` scale whose factor starts at zero still
# receives a gradient (`tfglow.bijectors.tanh_scale`).
_OUTPUT_INITIAL_NORM = 0.1


class WeightNormConv2D(tf.Module):
    """A 2-D convolution (stride 1, 'SAME') with weight normalisation and a bias.

    `kernel[..., o] = g_o · v[..., o] / ‖v[..., o]‖` (the norm over height, width and input
    channels), so the direction `v` and the per-output-channel norm `g` are learned separately
    (Salimans & Kingma 2016). `v` starts N(0, 0.05²); `g` starts at `initial_norm`, or at `‖v‖`
    (the kernel as drawn) when it is `None`; the bias starts at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        initial_norm: Optional[float] = None,
        dtype=tf.float32,
        seed: Optional[int] = None,
        name: str = "weight_norm_conv2d",
    ):
        """Creates the direction, the norm and the bias.

        Args:
          in_channels: Python `int`, the number of input channels.
          out_channels: Python `int`, the number of output channels.
          kernel_size: Python `int`, the height and width of the kernel. Default value: `3`.
          initial_norm: Python `float` initial `g` of every output channel, or `None` for the
            norm of the drawn direction. Default value: `None`.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          seed: Python `int` seed of the direction, or `None` for the global seed.
            Default value: `None`.
          name: Python `str`, the name of the module. Default value: `"weight_norm_conv2d"`.
        """
        super().__init__(name=name)
        check_conv_sizes("WeightNormConv2D", in_channels, out_channels, kernel_size)
        shape = [kernel_size, kernel_size, in_channels, out_channels]
        if seed is None:
            direction = tf.random.normal(shape, stddev=_DIRECTION_STDDEV, dtype=dtype)
        else:
            direction = tf.random.stateless_normal(
                shape, seed=tf.constant([seed, 0], tf.int64), stddev=_DIRECTION_STDDEV, dtype=dtype
            )
        norm = (
            tf.norm(tf.reshape(direction, [-1, out_channels]), axis=0)
            if initial_norm is None
            else tf.fill([out_channels], tf.constant(initial_norm, dtype))
        )
        with self.name_scope:
            self.direction = tf.Variable(direction, name="direction")
            self.norm = tf.Variable(norm, name="norm")
            self.bias = tf.Variable(tf.zeros([out_channels], dtype), name="bias")

    def kernel(self) -> tf.Tensor:
        """`g · v / ‖v‖` per output channel, in the variables' dtype."""
        return self.norm * tf.math.l2_normalize(self.direction, axis=[0, 1, 2])

    def __call__(self, h: tf.Tensor) -> tf.Tensor:
        """The convolution of `h` `[N, H, W, in]`, computed in the dtype of `h`."""
        kernel, bias = tf.cast(self.kernel(), h.dtype), tf.cast(self.bias, h.dtype)
        return tf.nn.bias_add(tf.nn.conv2d(h, kernel, strides=1, padding="SAME"), bias)


class ResidualCouplingNetwork(tf.Module):
    """RealNVP's coupling network: an input convolution, residual blocks, an output convolution.

    See the module docstring for the diagram. With `network_dtype=tf.bfloat16` the convolutions
    and activations run in bfloat16 while the variables, and the network's output, stay in `dtype`.

    #### Examples

    ```python
    network = tfglow.bijectors.residual_network.ResidualCouplingNetwork(
        in_channels=2, out_channels=4, hidden_channels=64, residual_blocks=8)
    h = network(x_b)                    # [N, H, W, 2] -> [N, H, W, 4]
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    [2]: Tim Salimans, Diederik P. Kingma. Weight Normalization: A Simple Reparameterization to
         Accelerate Training of Deep Neural Networks. In _NeurIPS_, 2016.
         https://arxiv.org/abs/1602.07868
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        residual_blocks: int,
        dtype=tf.float32,
        seed: Optional[int] = None,
        network_dtype: Optional[tf.dtypes.DType] = None,
        name: str = "coupling_network",
    ):
        """Creates the convolutions and ActNorms.

        Args:
          in_channels: Python `int`, the number of input channels.
          out_channels: Python `int`, the number of output channels.
          hidden_channels: Python `int`, the feature maps of every block (64 in RealNVP).
          residual_blocks: Python `int`, the number of residual blocks (8 in RealNVP's CIFAR-10
            model); at least 1.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          seed: Python `int` seed of the kernels' directions, or `None` for the global seed.
            Default value: `None`.
          network_dtype: the dtype the convolutions compute in, e.g. `tf.bfloat16`; `None` means
            `dtype`. Default value: `None`.
          name: Python `str`, the name of the module. Default value: `"coupling_network"`.
        """
        super().__init__(name=name)
        if hidden_channels < 1:
            raise ValueError(
                f"ResidualCouplingNetwork needs hidden_channels >= 1, got {hidden_channels}"
            )
        if residual_blocks < 1:
            raise ValueError(
                f"ResidualCouplingNetwork needs residual_blocks >= 1, got {residual_blocks}"
            )
        self.network_dtype = tf.as_dtype(network_dtype or dtype)
        seeds = iter(
            [None] * (2 + 2 * residual_blocks)
            if seed is None
            else map(int, np.random.SeedSequence(seed).generate_state(2 + 2 * residual_blocks))
        )
        width = hidden_channels
        with self.name_scope:
            self.input_conv = WeightNormConv2D(
                in_channels, width, dtype=dtype, seed=next(seeds), name="input_conv"
            )
            self.blocks = [
                _ResidualBlock(width, dtype, next(seeds), next(seeds), name=f"block_{index}")
                for index in range(residual_blocks)
            ]
            self.output_act_norm = ActNorm(width, dtype=dtype, name="output_act_norm")
            self.output_conv = WeightNormConv2D(
                width,
                out_channels,
                initial_norm=_OUTPUT_INITIAL_NORM,
                dtype=dtype,
                seed=next(seeds),
                name="output_conv",
            )

    def __call__(self, h: tf.Tensor) -> tf.Tensor:
        h = self.input_conv(tf.cast(h, self.network_dtype))
        for block in self.blocks:
            h = block(h)
        h = tf.nn.relu(act_norm_inverse(self.output_act_norm, h))
        return tf.cast(self.output_conv(h), self.output_conv.bias.dtype)


class _ResidualBlock(tf.Module):
    """`h + conv(relu(actnorm(conv(relu(actnorm(h))))))`, pre-activation (He et al. 2016)."""

    def __init__(self, width, dtype, first_seed, second_seed, name):
        super().__init__(name=name)
        with self.name_scope:
            self.first_act_norm = ActNorm(width, dtype=dtype, name="first_act_norm")
            self.first_conv = WeightNormConv2D(
                width, width, dtype=dtype, seed=first_seed, name="first_conv"
            )
            self.second_act_norm = ActNorm(width, dtype=dtype, name="second_act_norm")
            self.second_conv = WeightNormConv2D(
                width, width, dtype=dtype, seed=second_seed, name="second_conv"
            )

    def __call__(self, h: tf.Tensor) -> tf.Tensor:
        residual = self.first_conv(tf.nn.relu(act_norm_inverse(self.first_act_norm, h)))
        residual = self.second_conv(tf.nn.relu(act_norm_inverse(self.second_act_norm, residual)))
        return h + residual


def act_norm_inverse(act_norm: ActNorm, h: tf.Tensor) -> tf.Tensor:
    """`act_norm`'s x→z map `(h + loc) · exp(log_scale)` on activations, outside TFP's cache.

    The statistics of the data-dependent initialisation are taken in the variables' dtype; the map
    runs in the dtype of `h`.
    """
    initialized = act_norm.maybe_initialize_from(lambda: tf.cast(h, act_norm.loc.dtype))
    with tf.control_dependencies([initialized]):
        loc, scale = tf.cast(act_norm.loc, h.dtype), tf.cast(tf.exp(act_norm.log_scale), h.dtype)
        return (h + loc) * scale
