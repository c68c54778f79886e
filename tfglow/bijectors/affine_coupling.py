"""Affine coupling layer (RealNVP §3.3, Glow §3.3)."""

from typing import Optional

import tensorflow as tf

from tfglow.bijectors import scales, sigmoid_scale
from tfglow.bijectors.channel_coupling import ChannelCoupling
from tfglow.bijectors.coupling_networks import DEFAULT_RESIDUAL_BLOCKS, make_coupling_network
from tfglow.bijectors.networks import interleaved_pair


class AffineCoupling(ChannelCoupling):
    """Scales and shifts half of the channels by amounts computed from the other half.

    With `x_b = x[..., :C // 2]` (conditioning, unchanged) and `x_a = x[..., C // 2:]`,
    `h = NN(x_b)`, `shift = h[..., 0::2]` and `scale = ε + (1 − ε)·sigmoid(h[..., 1::2] + 2)`:

    Inverse (x→z, the paper's direction): `z_a = scale ⊙ x_a + shift`, `z_b = x_b`.
    Forward (z→x): `x_a = (z_a − shift) / scale`, `x_b = z_b`.
    The log-determinant of the inverse is `Σ log scale` over `[H, W, C − C // 2]` per example.

    `NN` is the `coupling_network`: `"glow"` (default), a
    `tfglow.bijectors.networks.GlowCouplingNetwork` whose last convolution is zero-initialised,
    so at initialisation `z_a = (ε + (1 − ε)·sigmoid(2)) · x_a` (0.90 · x_a with ε = 0.2: a fixed
    contraction, not the identity), or `"resnet"`, RealNVP's
    `tfglow.bijectors.residual_network.ResidualCouplingNetwork`. The sigmoid bounds the scale in
    `(ε, 1)`, which keeps training free of the overflows that an unbounded `exp` scale causes; the
    floor `ε` (`scale_floor`, 0.2 by default; 0 is Glow's `sigmoid(h + 2)`) bounds what decoding
    (z→x) can amplify to `1/ε` per coupling, which keeps samples finite and decoding exact. With
    `scale="tanh"` (RealNVP's official code) the scale is instead `log s = a · tanh(h[..., 1::2])`
    with a learned factor `a` that starts at 0 (`tfglow.bijectors.scales`). The scale and shift
    come from one network evaluation shared by the value and the log-determinant
    (`JointLogDetMixin`).

    #### Examples

    ```python
    coupling = tfglow.bijectors.AffineCoupling(channels=4, hidden_channels=256)
    z = coupling.inverse(x)                                          # x: [..., H, W, 4]
    log_det = coupling.inverse_log_det_jacobian(x, event_ndims=3)    # no second network pass
    x_again = coupling.forward(z)
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
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
        scale_floor: float = sigmoid_scale.DEFAULT_SCALE_FLOOR,
        coupling_network: str = "glow",
        residual_blocks: int = DEFAULT_RESIDUAL_BLOCKS,
        scale: str = "sigmoid",
        name: str = "affine_coupling",
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
          scale_floor: Python `float` ε in [0, 1), the lower bound of the sigmoid scale.
            Default value: `0.2`.
          coupling_network: Python `str`, `"glow"` or `"resnet"`. Default value: `"glow"`.
          residual_blocks: Python `int`, the blocks of a `"resnet"` network. Default value: `8`.
          scale: Python `str`, `"sigmoid"` or `"tanh"`. Default value: `"sigmoid"`.
          name: Python `str`, the name of the bijector. Default value: `"affine_coupling"`.

        Raises:
          ValueError: `scale_floor` is not in [0, 1), or the network or scale is unknown, or
            `scale="tanh"` with `coupling_network="glow"`.
        """
        parameters = dict(locals())
        self.scale_floor = sigmoid_scale.check_scale_floor(scale_floor)
        with tf.name_scope(name):
            self.scale_function = scales.make_scale(scale, scale_floor, coupling_network, dtype)

        def make_network(conditioning_channels: int, transformed_channels: int):
            return make_coupling_network(
                coupling_network,
                conditioning_channels,
                2 * transformed_channels,
                hidden_channels,
                residual_blocks,
                dtype=dtype,
                seed=seed,
                network_dtype=network_dtype,
            )

        super().__init__(
            channels,
            make_network,
            is_constant_jacobian=False,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )

    def shift_and_log_scale(self, conditioning: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """`(shift, log scale)` of the transformed half, from the conditioning half.

        The conditioning half has shape `[N, H, W, C // 2]`.
        """
        shift, raw_scale = interleaved_pair(self.conditioner(conditioning))
        return shift, self.scale_function(raw_scale)

    def _coupling_parameters(self, conditioning):
        return self.shift_and_log_scale(conditioning)

    def _transform(self, x_a, parameters):
        shift, log_scale = parameters
        return tf.exp(log_scale) * x_a + shift

    def _untransform(self, z_a, parameters):
        shift, log_scale = parameters
        return (z_a - shift) * tf.exp(-log_scale)

    def _log_det_terms(self, parameters):
        return parameters[1]
