"""Activation normalization (Glow §3.1)."""

from typing import Callable

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow.bijectors import data_init

# Added to the per-channel standard deviation at initialisation so that a constant channel
# (an all-black MNIST border after a squeeze) gets a large but finite scale.
_INIT_STD_EPSILON = 1e-6


class ActNorm(tfb.Bijector):
    """Per-channel affine map with data-dependent initialisation.

    Inverse (x→z, the paper's direction): `z = (x + loc) * exp(log_scale)`.
    Forward (z→x): `x = z * exp(-log_scale) - loc`.
    The log-determinant of the inverse is `sum_c log_scale[c]` per pixel; the base class sums it
    over
    the `H·W` pixels (`forward_min_event_ndims=1`).

    The first batch passed in the x→z direction (`inverse`) sets `loc = -mean` and
    `log_scale = -log(std + 1e-6)` per channel, so that the output has zero mean and unit variance.
    Whether that happened is the non-trainable variable `initialized`, which is saved with every
    checkpoint: a restored model is never re-initialised. Under a `tf.distribute` strategy the
    variables use `ONLY_FIRST_REPLICA` aggregation, so every replica holds the same values;
    `tfglow.GlowModel` initialises on the whole global batch before training for exact agreement.

    #### Examples

    ```python
    act_norm = tfglow.bijectors.ActNorm(channels=3)
    z = act_norm.inverse(images)        # first call: data-dependent initialisation
    x = act_norm.forward(z)             # == images
    ```

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self, channels: int, dtype=tf.float32, validate_args: bool = False, name: str = "act_norm"
    ):
        """Creates the per-channel shift and log-scale, both starting at the identity.

        Args:
          channels: Python `int`, the size of the last (channel) axis.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"act_norm"`.
        """
        parameters = dict(locals())
        if channels < 1:
            raise ValueError(f"ActNorm needs channels >= 1, got {channels}")
        with tf.name_scope(name) as scope_name:
            replica_agreed = data_init.REPLICA_AGREED
            self.loc = tf.Variable(tf.zeros([channels], dtype), name="loc", **replica_agreed)
            self.log_scale = tf.Variable(
                tf.zeros([channels], dtype), name="log_scale", **replica_agreed
            )
            self.initialized = tf.Variable(
                False, trainable=False, name="initialized", **replica_agreed
            )
        # Python switch read while tracing: a GlowModel turns it off so that only `initialize`
        # (and `fit`) initialise, never a read of an uninitialised model.
        self.data_dependent_init = True
        super().__init__(
            forward_min_event_ndims=1,
            is_constant_jacobian=True,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    def maybe_initialize_from(self, compute_inputs: Callable[[], tf.Tensor]) -> tf.Tensor:
        """Sets loc and log_scale from the statistics of `compute_inputs()` unless initialised.

        `compute_inputs` runs only in the initialisation branch, so a caller that applies this
        layer in a folded form (`tfglow.bijectors.networks.GlowCouplingNetwork` folds it into the
        preceding convolution) pays for the unfolded inputs only on the first batch. Returns a
        boolean tensor to use as a control dependency before reading the variables.

        With `data_dependent_init = False`, or inside a replica of a `tf.distribute` strategy,
        the initialisation is not built and an uninitialised layer fails
        (`tfglow.bijectors.data_init.maybe_initialize`).
        """

        def initialize():
            x = compute_inputs()
            axes = tf.range(tf.rank(x) - 1)
            mean = tf.reduce_mean(x, axis=axes)
            std = tf.sqrt(tf.reduce_mean(tf.square(x - mean), axis=axes))
            assign_loc = self.loc.assign(-mean)
            assign_scale = self.log_scale.assign(-tf.math.log(std + _INIT_STD_EPSILON))
            with tf.control_dependencies([assign_loc, assign_scale]):
                return tf.identity(self.initialized.assign(True))

        return data_init.maybe_initialize(self, initialize)

    def _maybe_initialize(self, x: tf.Tensor) -> tf.Tensor:
        return self.maybe_initialize_from(lambda: x)

    def _forward(self, z):
        return z * tf.exp(-self.log_scale) - self.loc

    def _inverse(self, x):
        with tf.control_dependencies([self._maybe_initialize(x)]):
            return (x + self.loc) * tf.exp(self.log_scale)

    def _inverse_log_det_jacobian(self, x):
        with tf.control_dependencies([self._maybe_initialize(x)]):
            return tf.reduce_sum(self.log_scale)

    def _forward_log_det_jacobian(self, z):
        return -tf.reduce_sum(self.log_scale)
