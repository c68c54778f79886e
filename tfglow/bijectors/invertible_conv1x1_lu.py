"""Invertible 1×1 convolution in LU-decomposed form (Glow §3.2)."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow.bijectors.invertible_conv1x1 import channel_matmul, random_rotation


class InvertibleConv1x1LU(tfb.Bijector):
    """Invertible 1×1 convolution whose `C×C` matrix is kept as its LU factors.

    `W = P · L · (U + diag(sign(s) · exp(log|s|)))`, with `P` a fixed permutation, `L` unit lower
    triangular, `U` strictly upper triangular and `sign(s)` fixed.
    Inverse (x→z, the paper's direction): `z_ij = W x_ij` for every pixel `(i, j)`.
    Forward (z→x): `x_ij = W⁻¹ z_ij`, with `W⁻¹ = (U + diag)⁻¹ · L⁻¹ · Pᵀ` built once per call from
    two triangular solves on `C×C` matrices, then applied to all pixels in one matmul.
    The log-determinant of the inverse is `Σ_c log|s_c|` per pixel; the base class sums it over the
    `H·W` pixels (`forward_min_event_ndims=1`).

    The factors start from the LU decomposition of a random rotation (`log|det W| = 0`). Trainable:
    `lower` (only its strictly lower part is used), `upper` (only its strictly upper part is used)
    and `log_abs_s`. Non-trainable, saved with every checkpoint and SavedModel: `permutation` (the
    matrix `P`) and `sign_s`.

    #### Examples

    ```python
    conv = tfglow.bijectors.InvertibleConv1x1LU(channels=16, seed=0)
    z = conv.inverse(images)                     # images: [..., H, W, 16]
    ildj = conv.inverse_log_det_jacobian(images, event_ndims=3)   # H·W·Σ log|s|
    x = conv.forward(z)                          # == images
    ```

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        channels: int,
        seed: int | None = None,
        dtype=tf.float32,
        validate_args: bool = False,
        name: str = "invertible_conv1x1_lu",
    ):
        """Creates the LU factors of a random rotation.

        Args:
          channels: Python `int`, the size of the last (channel) axis.
          seed: Python `int`, the seed of the random rotation; `None` follows TensorFlow's global
            seed. Default value: `None`.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"invertible_conv1x1_lu"`.
        """
        parameters = dict(locals())
        if channels < 1:
            raise ValueError(f"InvertibleConv1x1LU needs channels >= 1, got {channels}")
        lower_upper, row_order = tf.linalg.lu(random_rotation(channels, seed))
        # tf.linalg.lu factors the reordered rows, rotation[row_order] = L·U, so P = I[row_order]ᵀ.
        permutation = tf.transpose(tf.gather(tf.eye(channels, dtype=tf.float64), row_order))
        s = tf.linalg.diag_part(lower_upper)
        off_diagonal = tf.linalg.set_diag(lower_upper, tf.zeros_like(s))
        with tf.name_scope(name) as scope_name:
            self.permutation = tf.Variable(
                tf.cast(permutation, dtype), trainable=False, name="permutation"
            )
            self.sign_s = tf.Variable(tf.cast(tf.sign(s), dtype), trainable=False, name="sign_s")
            self.lower = tf.Variable(
                tf.cast(tf.linalg.band_part(off_diagonal, -1, 0), dtype), name="lower"
            )
            self.upper = tf.Variable(
                tf.cast(tf.linalg.band_part(off_diagonal, 0, -1), dtype), name="upper"
            )
            self.log_abs_s = tf.Variable(tf.cast(tf.math.log(tf.abs(s)), dtype), name="log_abs_s")
        super().__init__(
            forward_min_event_ndims=1,
            is_constant_jacobian=True,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    def _triangular_factors(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns `L` (unit diagonal) and `U + diag(sign(s)·exp(log|s|))` from the variables."""
        lower = tf.linalg.set_diag(
            tf.linalg.band_part(self.lower, -1, 0), tf.ones_like(self.log_abs_s)
        )
        upper = tf.linalg.set_diag(
            tf.linalg.band_part(self.upper, 0, -1), self.sign_s * tf.exp(self.log_abs_s)
        )
        return lower, upper

    @property
    def kernel(self) -> tf.Tensor:
        """The `[C, C]` matrix `W = P · L · (U + diag(sign(s) · exp(log|s|)))`."""
        lower, upper = self._triangular_factors()
        return self.permutation @ lower @ upper

    def _forward(self, z):
        lower, upper = self._triangular_factors()
        inverse_lower_times_pt = tf.linalg.triangular_solve(
            lower, tf.transpose(self.permutation), lower=True
        )
        kernel_inverse = tf.linalg.triangular_solve(upper, inverse_lower_times_pt, lower=False)
        return channel_matmul(z, kernel_inverse)

    def _inverse(self, x):
        return channel_matmul(x, self.kernel)

    def _inverse_log_det_jacobian(self, x):
        return tf.reduce_sum(self.log_abs_s)

    def _forward_log_det_jacobian(self, z):
        return -tf.reduce_sum(self.log_abs_s)
