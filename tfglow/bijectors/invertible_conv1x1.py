"""Invertible 1×1 convolution, plain form (Glow §3.2)."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb


def random_rotation(channels: int, seed: int | None = None) -> tf.Tensor:
    """A random `[channels, channels]` rotation in float64: orthogonal with determinant +1.

    The Q factor of the QR decomposition of a Gaussian matrix, with the column signs fixed by
    the diagonal of R (which makes it uniformly distributed) and the first column flipped when the
    determinant is -1. With `seed` (a Python `int`) the result is reproducible; without, it follows
    TensorFlow's global seed (`tf.random.set_seed`).
    """
    shape = [channels, channels]
    if seed is None:
        gaussian = tf.random.normal(shape, dtype=tf.float64)
    else:
        gaussian = tf.random.stateless_normal(
            shape, seed=tf.constant([seed, 0], tf.int64), dtype=tf.float64
        )
    q, r = tf.linalg.qr(gaussian)
    q = q * tf.sign(tf.linalg.diag_part(r))
    first_column_sign = tf.sign(tf.linalg.det(q))[tf.newaxis]
    return q * tf.concat([first_column_sign, tf.ones([channels - 1], tf.float64)], axis=0)


def channel_matmul(x: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    """Applies `matrix` [C, C] to the channel vector of every pixel: `y[...] = matrix @ x[...]`.

    One matmul over the `[pixels, C]` view, which on CPU is faster than a 1×1 `conv2d` (forward and
    gradient) and accepts any number of leading dimensions.
    """
    channels = matrix.shape[-1]
    if x.shape[-1] is not None and x.shape[-1] != channels:
        raise ValueError(f"expected {channels} channels in the last axis, got shape {x.shape}")
    pixels = tf.reshape(x, [-1, channels])
    y = tf.reshape(tf.matmul(pixels, matrix, transpose_b=True), tf.shape(x))
    y.set_shape(x.shape)
    return y


class InvertibleConv1x1(tfb.Bijector):
    """Invertible 1×1 convolution: the same learned `C×C` matrix `W` applied to every pixel.

    Inverse (x→z, the paper's direction): `z_ij = W x_ij` for every pixel `(i, j)`.
    Forward (z→x): `x_ij = W⁻¹ z_ij`.
    The log-determinant of the inverse is `log|det W|` per pixel, computed in float64; the base
    class sums it over the `H·W` pixels (`forward_min_event_ndims=1`), giving Glow's
    `H·W·log|det W|` per example.

    `W` (the variable `kernel`) starts as a random rotation, so the layer starts with
    `log|det W| = 0`. It generalises a fixed channel permutation (Glow's ablation: 1×1 conv <
    shuffle < reverse in NLL). For many channels prefer `InvertibleConv1x1LU`, whose log-det is a
    sum instead of a `C×C` determinant.

    #### Examples

    ```python
    conv = tfglow.bijectors.InvertibleConv1x1(channels=4, seed=0)
    z = conv.inverse(images)                     # images: [..., H, W, 4]
    ildj = conv.inverse_log_det_jacobian(images, event_ndims=3)   # H·W·log|det W|
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
        name: str = "invertible_conv1x1",
    ):
        """Creates the kernel `W` as a random rotation.

        Args:
          channels: Python `int`, the size of the last (channel) axis.
          seed: Python `int`, the seed of the random rotation; `None` follows TensorFlow's global
            seed. Default value: `None`.
          dtype: the floating dtype of the kernel. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"invertible_conv1x1"`.
        """
        parameters = dict(locals())
        if channels < 1:
            raise ValueError(f"InvertibleConv1x1 needs channels >= 1, got {channels}")
        with tf.name_scope(name) as scope_name:
            self.kernel = tf.Variable(
                tf.cast(random_rotation(channels, seed), dtype), name="kernel"
            )
        super().__init__(
            forward_min_event_ndims=1,
            is_constant_jacobian=True,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    def _forward(self, z):
        return channel_matmul(z, tf.linalg.inv(self.kernel))

    def _inverse(self, x):
        return channel_matmul(x, self.kernel)

    def _inverse_log_det_jacobian(self, x):
        # float64: the determinant of a float32 matrix loses digits that the NLL needs.
        _, log_abs_det = tf.linalg.slogdet(tf.cast(self.kernel, tf.float64))
        return tf.cast(log_abs_det, self.dtype)

    def _forward_log_det_jacobian(self, z):
        return -self._inverse_log_det_jacobian(z)
