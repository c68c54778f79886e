"""Fixed channel permutations between couplings: reversal (NICE), random shuffle (RealNVP)."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb


class ReverseChannels(tfb.Bijector):
    """Reverses the channels of every pixel, so that the next coupling updates the other half.

    Inverse (x→z, the paper's direction): `z[..., c] = x[..., C - 1 - c]`.
    Forward (z→x): `x[..., c] = z[..., C - 1 - c]` (the reversal is its own inverse).
    The log-determinant is 0 in both directions.

    #### Examples

    ```python
    reverse = tfglow.bijectors.ReverseChannels()
    z = reverse.inverse(images)                  # images[..., ::-1]
    ```

    #### References

    [1]: Laurent Dinh, David Krueger, Yoshua Bengio. NICE: Non-linear Independent Components
         Estimation. In _ICLR Workshop_, 2015. https://arxiv.org/abs/1410.8516
    """

    def __init__(self, validate_args: bool = False, name: str = "reverse_channels"):
        """Creates the reversal; it has no parameters.

        Args:
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"reverse_channels"`.
        """
        parameters = dict(locals())
        with tf.name_scope(name) as scope_name:
            super().__init__(
                forward_min_event_ndims=1,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=scope_name,
            )

    @property
    def _is_permutation(self):
        return True

    def _forward(self, z):
        return tf.reverse(z, axis=[-1])

    def _inverse(self, x):
        return tf.reverse(x, axis=[-1])

    def _inverse_log_det_jacobian(self, x):
        return tf.zeros([], x.dtype)

    def _forward_log_det_jacobian(self, z):
        return tf.zeros([], z.dtype)


class ShuffleChannels(tfb.Bijector):
    """A fixed random permutation of the channels of every pixel.

    Inverse (x→z, the paper's direction): `z[..., c] = x[..., permutation[c]]`.
    Forward (z→x): `x[..., permutation[c]] = z[..., c]`.
    The log-determinant is 0 in both directions.

    The permutation is drawn once from `seed` and kept in the non-trainable `int32` variable
    `permutation`, so that a checkpoint or SavedModel restores the same one even when `seed=None`.

    #### Examples

    ```python
    shuffle = tfglow.bijectors.ShuffleChannels(channels=4, seed=0)
    z = shuffle.inverse(images)                  # tf.gather(images, shuffle.permutation, axis=-1)
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        channels: int,
        seed: int | None = None,
        validate_args: bool = False,
        name: str = "shuffle_channels",
    ):
        """Draws the permutation.

        Args:
          channels: Python `int`, the size of the last (channel) axis.
          seed: Python `int`, the seed of the permutation; `None` follows TensorFlow's global seed.
            Default value: `None`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"shuffle_channels"`.
        """
        parameters = dict(locals())
        if channels < 1:
            raise ValueError(f"ShuffleChannels needs channels >= 1, got {channels}")
        if seed is None:
            keys = tf.random.uniform([channels])
        else:
            keys = tf.random.stateless_uniform([channels], seed=tf.constant([seed, 0], tf.int64))
        self._channels = channels
        with tf.name_scope(name) as scope_name:
            self.permutation = tf.Variable(tf.argsort(keys), trainable=False, name="permutation")
        super().__init__(
            forward_min_event_ndims=1,
            is_constant_jacobian=True,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    @property
    def _is_permutation(self):
        return True

    def _permute(self, tensor: tf.Tensor, permutation: tf.Tensor) -> tf.Tensor:
        """Gathers the channels of `tensor` in `permutation` order, after checking their number."""
        if tensor.shape[-1] is not None and tensor.shape[-1] != self._channels:
            raise ValueError(
                f"ShuffleChannels expects {self._channels} channels in the last axis, "
                f"got shape {tensor.shape}"
            )
        assertions = []
        if self.validate_args:  # tf.gather would silently drop surplus channels.
            assertions.append(
                tf.debugging.assert_equal(
                    tf.shape(tensor)[-1],
                    self._channels,
                    message="ShuffleChannels got a wrong number of channels",
                )
            )
        with tf.control_dependencies(assertions):
            permuted = tf.gather(tensor, permutation, axis=-1)
        permuted.set_shape(tensor.shape)
        return permuted

    def _forward(self, z):
        return self._permute(z, tf.math.invert_permutation(self.permutation))

    def _inverse(self, x):
        return self._permute(x, self.permutation)

    def _inverse_log_det_jacobian(self, x):
        return tf.zeros([], x.dtype)

    def _forward_log_det_jacobian(self, z):
        return tf.zeros([], z.dtype)
