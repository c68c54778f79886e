"""Affine coupling with a checkerboard or channel-wise binary mask (RealNVP §3.4)."""

from typing import Optional

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow import stacked_variables
from tfglow.bijectors import batch_shapes, scales, sigmoid_scale
from tfglow.bijectors.channel_coupling import split_index
from tfglow.bijectors.coupling_networks import DEFAULT_RESIDUAL_BLOCKS, make_coupling_network
from tfglow.bijectors.joint_log_det import JointLogDetMixin
from tfglow.bijectors.networks import interleaved_pair

_MASKS = ("checkerboard", "channel")


class MaskedAffineCoupling(JointLogDetMixin, tfb.Bijector):
    """Scales and shifts the unmasked entries by amounts computed from the masked ones.

    With a binary mask `b` (1 = conditioning, passed through), `(shift, pre_scale) = NN(b ⊙ x)`
    (interleaved output channels, `shift = h[..., 0::2]`) and
    `scale = ε + (1 − ε)·sigmoid(pre_scale + 2)` (ε = `scale_floor`, see `AffineCoupling`), or
    with `scale="tanh"` `log scale = a · tanh(pre_scale)` (`tfglow.bijectors.scales`):

    Inverse (x→z, the paper's direction): `z = b ⊙ x + (1 − b) ⊙ (x ⊙ scale + shift)`.
    Forward (z→x): `x = b ⊙ z + (1 − b) ⊙ (z − shift) / scale`.
    The log-determinant of the inverse is `Σ (1 − b) ⊙ log scale` over `[H, W, C]` per example.

    Masks: `"checkerboard"` sets `b[i, j, :] = 1` where `(i + j + parity)` is even, built at call
    time from the input's height and width; `"channel"` sets `b = 1` on the first `C // 2`
    channels (`parity=0`) or on the last `C − C // 2` (`parity=1`). RealNVP alternates the parity
    between successive layers so that every entry is transformed. The network `NN` maps `C` to
    `2·C` channels: with `coupling_network="glow"` (a
    `tfglow.bijectors.networks.GlowCouplingNetwork`) it is zero-initialised at its output, so at
    initialisation the unmasked entries are scaled by `ε + (1 − ε)·sigmoid(2)` (0.90 with
    ε = 0.2); `"resnet"` is RealNVP's `tfglow.bijectors.residual_network.ResidualCouplingNetwork`.

    #### Examples

    ```python
    coupling = tfglow.bijectors.MaskedAffineCoupling(channels=3, hidden_channels=64,
                                                     mask="checkerboard", parity=1)
    z = coupling.inverse(x)             # x: [..., H, W, 3]
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        mask: str = "checkerboard",
        parity: int = 0,
        dtype=tf.float32,
        seed: Optional[int] = None,
        validate_args: bool = False,
        network_dtype: Optional[tf.dtypes.DType] = None,
        scale_floor: float = sigmoid_scale.DEFAULT_SCALE_FLOOR,
        coupling_network: str = "glow",
        residual_blocks: int = DEFAULT_RESIDUAL_BLOCKS,
        scale: str = "sigmoid",
        name: str = "masked_affine_coupling",
    ):
        """Creates the coupling network; its last convolution starts at zero.

        Args:
          channels: Python `int`, the size of the last (channel) axis; at least 1, or at least 2
            for the channel mask.
          hidden_channels: Python `int`, the width of the coupling network.
          mask: Python `str`, `"checkerboard"` or `"channel"`. Default value: `"checkerboard"`.
          parity: Python `int`, 0 or 1, which of the two complementary masks to use.
            Default value: `0`.
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
          name: Python `str`, the name of the bijector. Default value: `"masked_affine_coupling"`.
        """
        parameters = dict(locals())
        self.scale_floor = sigmoid_scale.check_scale_floor(scale_floor)
        if mask not in _MASKS:
            raise ValueError(f"MaskedAffineCoupling mask must be one of {_MASKS}, got {mask!r}")
        if parity not in (0, 1):
            raise ValueError(f"MaskedAffineCoupling parity must be 0 or 1, got {parity}")
        minimum_channels = 2 if mask == "channel" else 1
        if channels < minimum_channels:
            raise ValueError(
                f"MaskedAffineCoupling with mask={mask!r} needs channels >= "
                f"{minimum_channels}, got {channels}"
            )
        self.channels = channels
        self.mask = mask
        self.parity = parity
        with tf.name_scope(name) as scope_name:
            self.scale_function = scales.make_scale(scale, scale_floor, coupling_network, dtype)
            self.conditioner = make_coupling_network(
                coupling_network,
                channels,
                2 * channels,
                hidden_channels,
                residual_blocks,
                dtype=dtype,
                seed=seed,
                network_dtype=network_dtype,
            )
        super().__init__(
            forward_min_event_ndims=3,
            is_constant_jacobian=False,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    def _binary_mask(self, x: tf.Tensor) -> tf.Tensor:
        """The mask `b`, broadcastable against the rank-4 `x`: 1 where `x` conditions."""
        if self.mask == "channel":
            first_half = tf.range(self.channels) < split_index(self.channels)
            return tf.cast(first_half if self.parity == 0 else ~first_half, x.dtype)
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        rows, columns = tf.range(height)[:, tf.newaxis], tf.range(width)[tf.newaxis, :]
        even = tf.equal((rows + columns + self.parity) % 2, 0)
        return tf.cast(even, x.dtype)[:, :, tf.newaxis]

    def _masked_shift_and_log_scale(self, mask: tf.Tensor, conditioning: tf.Tensor):
        """Shift and log-scale from `NN(b ⊙ x)`, both zero where `b = 1`."""
        shift, raw_scale = interleaved_pair(self.conditioner(conditioning))
        shift = (1.0 - mask) * shift
        log_scale = (1.0 - mask) * self.scale_function(raw_scale)
        return shift, log_scale

    def _inverse_and_log_det(self, x):
        x, batch_shape = batch_shapes.fold_batch(x)
        mask = self._binary_mask(x)
        shift, log_scale = self._masked_shift_and_log_scale(mask, mask * x)
        z = x * tf.exp(log_scale) + shift  # b ⊙ x + (1 − b) ⊙ (x ⊙ scale + shift)
        log_det = tf.reduce_sum(log_scale, axis=[1, 2, 3])
        return (
            batch_shapes.unfold_batch(z, batch_shape),
            batch_shapes.fold_batch_values(log_det, batch_shape),
        )

    def _forward_and_log_det(self, z):
        z, batch_shape = batch_shapes.fold_batch(z)
        mask = self._binary_mask(z)
        shift, log_scale = self._masked_shift_and_log_scale(mask, mask * z)
        x = (z - shift) * tf.exp(-log_scale)  # b ⊙ z + (1 − b) ⊙ (z − shift) / scale
        log_det = tf.reduce_sum(log_scale, axis=[1, 2, 3])
        return (
            batch_shapes.unfold_batch(x, batch_shape),
            -batch_shapes.fold_batch_values(log_det, batch_shape),
        )

    def inverse_gradient_from_output(self, z, output_gradient, log_det_gradient):
        """Rebuilds the input of x→z from its output `z` `[N, H, W, C]` and back-propagates.

        The masked entries are their own input (`b ⊙ x = b ⊙ z`), so one network evaluation serves
        the rebuild and the recomputed output. `x` reaches the output directly and through the
        conditioning `b ⊙ x`; its gradient adds both paths. Returns the rebuilt input, its
        gradient and the gradient of each trainable variable.
        """
        mask = self._binary_mask(z)
        conditioning = mask * z
        keys, variables = stacked_variables.trainable_parameters(self)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(conditioning)
            tape.watch(variables)
            shift, log_scale = self._masked_shift_and_log_scale(mask, conditioning)
            x = tf.stop_gradient((z - shift) * tf.exp(-log_scale))
            tape.watch(x)
            z_again = x * tf.exp(log_scale) + shift
            log_det = tf.reduce_sum(log_scale, axis=[1, 2, 3])
        gradients = tape.gradient(
            [z_again, log_det],
            [conditioning, x, *variables],
            output_gradients=[output_gradient, log_det_gradient],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        return (
            x,
            gradients[1] + mask * gradients[0],
            dict(zip(keys, gradients[2:])),
        )
