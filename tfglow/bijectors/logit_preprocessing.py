"""RealNVP's logit preprocessing of the dequantised pixels (RealNVP §4.1)."""

import math

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

# RealNVP's α for CIFAR-10 (§4.1).
DEFAULT_ALPHA = 0.05


class LogitPreprocessing(tfb.Bijector):
    """From the flow space of the pixels, `y ∈ [-0.5, 0.5)`, to logit space (x→z), elementwise.

    With `y' = y + 0.5 = (x_int + u) / 2^num_bits ∈ [0, 1)` and `p = α + (1 − 2α)·y'`:

    Inverse (x→z, the paper's direction): `v = logit(p) = log p − log(1 − p)`.
    Forward (z→x): `y = (sigmoid(v) − α) / (1 − 2α) − 0.5`.
    The log-determinant of the inverse is `Σ [log(1 − 2α) − log p − log(1 − p)]` per example,
    so a density over `v` becomes the density over `y` that bits/dim is computed from, and the
    figure stays comparable with every model without this layer.

    The paper writes `p = α + (1 − α)·y'`; this layer uses the symmetric `α + (1 − 2α)·y'`,
    which keeps both ends of the pixel range, not only the lower one, `α` away from 0 and 1 (as
    RealNVP's official code does). A `v` anywhere on the real line decodes to
    `y ∈ (−0.5 − α/(1 − 2α), 0.5 + α/(1 − 2α))`; pixel decoding clips that to the pixel range.

    #### Examples

    ```python
    logit = tfglow.bijectors.LogitPreprocessing(alpha=0.05)
    v = logit.inverse(y)                # y in [-0.5, 0.5): dequantised pixels in flow space
    y_again = logit.forward(v)
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        alpha: float = DEFAULT_ALPHA,
        dtype=tf.float32,
        validate_args: bool = False,
        name: str = "logit_preprocessing",
    ):
        """Creates the layer; it has no variables.

        Args:
          alpha: Python `float` α in (0, 0.5), how far the pixel range is kept from 0 and 1.
            Default value: `0.05`.
          dtype: the floating dtype of the inputs. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"logit_preprocessing"`.
        """
        parameters = dict(locals())
        self.alpha = check_alpha(alpha)
        with tf.name_scope(name) as scope_name:
            super().__init__(
                forward_min_event_ndims=0,
                is_constant_jacobian=False,
                dtype=dtype,
                validate_args=validate_args,
                parameters=parameters,
                name=scope_name,
            )

    def _probability(self, y):
        return self.alpha + (1.0 - 2.0 * self.alpha) * (y + 0.5)

    def _inverse(self, y):
        p = self._probability(y)
        return tf.math.log(p) - tf.math.log1p(-p)

    def _inverse_log_det_jacobian(self, y):
        p = self._probability(y)
        return math.log(1.0 - 2.0 * self.alpha) - tf.math.log(p) - tf.math.log1p(-p)

    def _forward(self, v):
        return (tf.sigmoid(v) - self.alpha) / (1.0 - 2.0 * self.alpha) - 0.5

    def _forward_log_det_jacobian(self, v):
        # log σ(v) + log(1 − σ(v)) = −softplus(−v) − softplus(v), finite for every v.
        return -tf.math.softplus(-v) - tf.math.softplus(v) - math.log(1.0 - 2.0 * self.alpha)


def check_alpha(alpha: float) -> float:
    """Returns `alpha` as a float, or raises `ValueError` unless it is a number in (0, 0.5)."""
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 0.5):
        raise ValueError(f"logit alpha must be a number in (0, 0.5), got {alpha!r}")
    return float(alpha)
