"""Glow's learned conditional prior of the half factored out at a multi-scale split."""

import tensorflow as tf

from tfglow.bijectors.channel_coupling import ChannelCoupling
from tfglow.bijectors.networks import ZeroConv2D, interleaved_pair


class SplitPrior(ChannelCoupling):
    """Normalises the channels factored out at a split by a Gaussian conditioned on those kept.

    With `keep = x[..., :C // 2]` (conditioning, unchanged) and `factored = x[..., C // 2:]`,
    `h = ZeroConv2D(keep)`, `mean = h[..., 0::2]` and `log_std = h[..., 1::2]` (interleaved, as
    openai/glow's `split2d_prior`):

    Inverse (x→z, the paper's direction): `z_f = (factored − mean) · exp(−log_std)`, `z_k = keep`.
    Forward (z→x): `factored = z_f · exp(log_std) + mean`, `keep = z_k`.
    The log-determinant of the inverse is `−Σ log_std` over `[H, W, C − C // 2]` per example.

    Followed by a standard normal on `z_f`, this is the prior `factored ~ N(mean, exp(log_std)²)`
    of Glow's `split2d`, written as a bijector so that the base distribution stays `N(0, I)` and
    sampling with temperature `T` means `z ~ N(0, T² I)` at every level. The convolution is
    zero-initialised, so the layer starts as the identity (prior `N(0, I)`). A Glow level takes
    `z[..., C // 2:]` as its finished latent and continues the flow with `z[..., :C // 2]`.

    ```none
      x ─┬─ keep ───────────────┬──────────────────▶ z[..., :C//2]  (continues the flow)
         │          ZeroConv2D  ▼ (mean, log_std)
         └─ factored ──▶ (factored − mean)·exp(−log_std) ─▶ z[..., C//2:]  (finished latent)
    ```

    #### Examples

    ```python
    prior = tfglow.bijectors.SplitPrior(channels=8)
    z = prior.inverse(h)                # h: [..., H, W, 8]
    finished, continued = z[..., 4:], z[..., :4]
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
        dtype=tf.float32,
        validate_args: bool = False,
        name: str = "split_prior",
    ):
        """Creates the zero-initialised 3×3 convolution that predicts mean and log-std.

        Args:
          channels: Python `int`, the size of the last (channel) axis before the split; at
            least 2.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"split_prior"`.
        """
        parameters = dict(locals())

        def make_conv(kept_channels: int, factored_channels: int):
            return ZeroConv2D(kept_channels, 2 * factored_channels, dtype=dtype)

        super().__init__(
            channels,
            make_conv,
            is_constant_jacobian=False,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )

    def _coupling_parameters(self, keep):
        return interleaved_pair(self.conditioner(keep))

    def _transform(self, factored, parameters):
        mean, log_std = parameters
        return (factored - mean) * tf.exp(-log_std)

    def _untransform(self, z_f, parameters):
        mean, log_std = parameters
        return z_f * tf.exp(log_std) + mean

    def _log_det_terms(self, parameters):
        return -parameters[1]
