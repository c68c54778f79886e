"""Additive coupling layer (NICE §3.2)."""

from typing import Optional

import tensorflow as tf

from tfglow.bijectors.channel_coupling import ChannelCoupling
from tfglow.bijectors.coupling_networks import DEFAULT_RESIDUAL_BLOCKS, make_coupling_network


class AdditiveCoupling(ChannelCoupling):
    """Shifts half of the channels by an amount computed from the other half (volume-preserving).

    With `x_b = x[..., :C // 2]` (conditioning, unchanged) and `x_a = x[..., C // 2:]`:

    Inverse (x→z, the paper's direction): `z_a = x_a + t(x_b)`, `z_b = x_b`.
    Forward (z→x): `x_a = z_a − t(z_b)`, `x_b = z_b`.
    The log-determinant is zero in both directions (`is_constant_jacobian=True`); computing it
    does not run the network.

    `t` is the `coupling_network` with `C − C // 2` output channels: `"glow"` (default), a
    `tfglow.bijectors.networks.GlowCouplingNetwork` whose last convolution is zero-initialised,
    so the layer starts as the identity, or `"resnet"`, RealNVP's
    `tfglow.bijectors.residual_network.ResidualCouplingNetwork`.

    #### Examples

    ```python
    coupling = tfglow.bijectors.AdditiveCoupling(channels=4, hidden_channels=256)
    z = coupling.inverse(x)             # x: [..., H, W, 4]
    x_again = coupling.forward(z)
    ```

    #### References

    [1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear Independent Components
         Estimation. In _ICLR Workshop_, 2015. https://arxiv.org/abs/1410.8516
    [2]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        dtype=tf.float32,
        seed: Optional[int] = None,
        validate_args: bool = False,
        network_dtype: Optional[tf.dtypes.DType] = None,
        coupling_network: str = "glow",
        residual_blocks: int = DEFAULT_RESIDUAL_BLOCKS,
        name: str = "additive_coupling",
    ):
        """Creates the coupling network; its last convolution starts at zero.

        Args:
          channels: Python `int`, the size of the last (channel) axis; at least 2.
          hidden_channels: Python `int`, the width of the coupling network (512 in Glow).
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          seed: Python `int` seed of the network's random kernels, or `None` to draw them from
            the global seed. Default value: `None`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          network_dtype: the dtype the coupling network's convolutions compute in
            (`tf.bfloat16` for mixed precision); `None` means `dtype`. Default value: `None`.
          coupling_network: Python `str`, `"glow"` or `"resnet"`. Default value: `"glow"`.
          residual_blocks: Python `int`, the blocks of a `"resnet"` network. Default value: `8`.
          name: Python `str`, the name of the bijector. Default value: `"additive_coupling"`.
        """
        parameters = dict(locals())

        def make_network(conditioning_channels: int, transformed_channels: int):
            return make_coupling_network(
                coupling_network,
                conditioning_channels,
                transformed_channels,
                hidden_channels,
                residual_blocks,
                dtype=dtype,
                seed=seed,
                network_dtype=network_dtype,
            )

        super().__init__(
            channels,
            make_network,
            is_constant_jacobian=True,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )

    def _coupling_parameters(self, conditioning):
        return (self.conditioner(conditioning),)

    def _transform(self, x_a, parameters):
        (shift,) = parameters
        return x_a + shift

    def _untransform(self, z_a, parameters):
        (shift,) = parameters
        return z_a - shift

    def _log_det_terms(self, parameters):
        return None

    def _zero_log_det(self, x: tf.Tensor) -> tf.Tensor:
        return tf.zeros(tf.shape(x)[:-3], dtype=x.dtype)

    def _inverse_log_det_jacobian(self, x):
        return self._zero_log_det(x)

    def _forward_log_det_jacobian(self, z):
        return self._zero_log_det(z)
