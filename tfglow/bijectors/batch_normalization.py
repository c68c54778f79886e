"""Batch normalisation with running averages, as a bijector (RealNVP §3.7 and Appendix E)."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow import stacked_variables
from tfglow.bijectors import batch_shapes, data_init
from tfglow.bijectors.joint_log_det import JointLogDetMixin


class BatchNormalization(JointLogDetMixin, tfb.Bijector):
    """Per-channel normalisation by running averages of the batch statistics.

    Inverse (x→z, the paper's direction): `z = (x − μ̃) / sqrt(σ̃² + ε)` per channel.
    Forward (z→x): `x = z · sqrt(σ̃² + ε) + μ̃`.
    The log-determinant of the inverse is `−½ · H·W · Σ_c log(σ̃_c² + ε)` per example.

    **Outside training** (`training=False`, the default) `μ̃, σ̃²` are the stored averages
    `moving_mean` and `moving_variance`: the layer is a fixed affine bijector, exact in both
    directions, and every TFP bijector convention holds.

    **In training** (`inverse(x, training=True)`, or `bijector_kwargs={"training": True}` through
    a `TransformedDistribution`) the layer computes the batch statistics `μ̂_t, σ̂²_t` of `x` over
    every axis but the channel axis, updates the averages (Appendix E)

        μ̃_{t+1} = ρ μ̃_t + (1 − ρ) μ̂_t,    σ̃²_{t+1} = ρ σ̃²_t + (1 − ρ) σ̂²_t

    and normalises with `μ̃_{t+1}, σ̃²_{t+1}`. The gradient flows through the current batch
    statistics only, never into the stored `μ̃_t, σ̃²_t`; with the batch's weight `1 − ρ` this
    is what lets RealNVP train on very small batches. Each training-mode x→z pass updates the
    averages once (TFP's bijector cache serves the log-det from the same pass). Inside a replica of
    a `tf.distribute` strategy the statistics are those of the global batch (summed across
    replicas), so every replica computes, and holds, the same averages.

    The averages start from the statistics of the first batch seen in the x→z direction
    (data-dependent initialisation, as `ActNorm`'s), and the variable `initialized` records that
    this happened; all three are saved with checkpoints and SavedModels. The layer has no
    trainable variables: RealNVP's learned per-channel scale and shift are what a following
    coupling's affine map, or an `ActNorm`, provide.

    #### Examples

    ```python
    batch_norm = tfglow.bijectors.BatchNormalization(channels=3)
    z = batch_norm.inverse(x, training=True)       # updates the averages, normalises with them
    z = batch_norm.inverse(x)                      # the fixed affine map of the stored averages
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    [2]: Sergey Ioffe, Christian Szegedy. Batch Normalization: Accelerating Deep Network Training
         by Reducing Internal Covariate Shift. In _ICML_, 2015. https://arxiv.org/abs/1502.03167
    """

    def __init__(
        self,
        channels: int,
        momentum: float = 0.9,
        epsilon: float = 1e-4,
        dtype=tf.float32,
        validate_args: bool = False,
        name: str = "batch_normalization",
    ):
        """Creates the running averages (mean 0, variance 1 until the first batch).

        Args:
          channels: Python `int`, the size of the last (channel) axis.
          momentum: Python `float` ρ in [0, 1), the weight of the old average in each update.
            Default value: `0.9`.
          epsilon: Python `float` ε > 0 added to the variance. Default value: `1e-4`.
          dtype: the floating dtype of the averages. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"batch_normalization"`.
        """
        parameters = dict(locals())
        if channels < 1:
            raise ValueError(f"BatchNormalization needs channels >= 1, got {channels}")
        self.momentum = check_momentum(momentum)
        if not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise ValueError(f"BatchNormalization epsilon must be a number > 0, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.channels = channels
        # Written on every training pass: a stack of them would be rewritten whole each time.
        with tf.name_scope(name) as scope_name, stacked_variables.kept_apart():
            agreed = dict(trainable=False, **data_init.REPLICA_AGREED)
            self.moving_mean = tf.Variable(
                tf.zeros([channels], dtype), name="moving_mean", **agreed
            )
            self.moving_variance = tf.Variable(
                tf.ones([channels], dtype), name="moving_variance", **agreed
            )
            self.initialized = tf.Variable(False, name="initialized", **agreed)
        # Python switch read while tracing, as `ActNorm.data_dependent_init`.
        self.data_dependent_init = True
        super().__init__(
            forward_min_event_ndims=3,
            is_constant_jacobian=False,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    def batch_moments(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """`(μ̂, σ̂²)` per channel of `x` `[N, H, W, C]`, over the global batch under a strategy.

        Two passes (the mean, then the centred squares), each summed across replicas when this
        runs inside one; `ReplicaContext.all_reduce` carries the gradient back to every replica.
        """
        axes = [0, 1, 2]
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
        total = tf.reduce_sum(x, axis=axes)
        count, total = _sum_over_replicas([count, total])
        mean = total / count
        (squares,) = _sum_over_replicas([tf.reduce_sum(tf.square(x - mean), axis=axes)])
        return mean, squares / count

    def _initialize(self, x: tf.Tensor) -> tf.Tensor:
        def initialize():
            mean, variance = self.batch_moments(x)
            assigned = [self.moving_mean.assign(mean), self.moving_variance.assign(variance)]
            with tf.control_dependencies(assigned):
                return tf.identity(self.initialized.assign(True))

        return data_init.maybe_initialize(self, initialize)

    def _updated_averages(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Assigns `μ̃_{t+1}, σ̃²_{t+1}` and returns them, differentiable through `μ̂_t, σ̂²_t`."""
        with tf.control_dependencies([self._initialize(x)]):
            mean, variance = self.batch_moments(x)
            rho = tf.constant(self.momentum, x.dtype)
            new_mean = rho * tf.stop_gradient(tf.identity(self.moving_mean)) + (1 - rho) * mean
            new_variance = (
                rho * tf.stop_gradient(tf.identity(self.moving_variance)) + (1 - rho) * variance
            )
        assigned = [
            self.moving_mean.assign(tf.stop_gradient(new_mean)),
            self.moving_variance.assign(tf.stop_gradient(new_variance)),
        ]
        with tf.control_dependencies(assigned):
            return tf.identity(new_mean), tf.identity(new_variance)

    def _stored_averages(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.control_dependencies([self._initialize(x)]):
            return tf.identity(self.moving_mean), tf.identity(self.moving_variance)

    def _log_det(self, variance: tf.Tensor, folded: tf.Tensor) -> tf.Tensor:
        """`−½ · H·W · Σ_c log(σ² + ε)`, one value per example of the rank-4 `folded`."""
        pixels = tf.cast(tf.shape(folded)[1] * tf.shape(folded)[2], folded.dtype)
        per_image = -0.5 * pixels * tf.reduce_sum(tf.math.log(variance + self.epsilon))
        return tf.fill(tf.shape(folded)[:1], per_image)

    def _inverse_and_log_det(self, x, training=False):
        folded, batch_shape = batch_shapes.fold_batch(x)
        averages = self._updated_averages if training else self._stored_averages
        mean, variance = averages(folded)
        z = (folded - mean) * tf.math.rsqrt(variance + self.epsilon)
        return (
            batch_shapes.unfold_batch(z, batch_shape),
            batch_shapes.fold_batch_values(self._log_det(variance, folded), batch_shape),
        )

    def _forward_and_log_det(self, z, training=False):
        # z→x always uses the stored averages: training mode concerns the x→z pass only.
        folded, batch_shape = batch_shapes.fold_batch(z)
        mean, variance = tf.identity(self.moving_mean), tf.identity(self.moving_variance)
        x = folded * tf.sqrt(variance + self.epsilon) + mean
        return (
            batch_shapes.unfold_batch(x, batch_shape),
            -batch_shapes.fold_batch_values(self._log_det(variance, folded), batch_shape),
        )

    def inverse_gradient_from_output(self, z, output_gradient, log_det_gradient, training=False):
        """Rebuilds the input of x→z from its output `z` `[N, H, W, C]` and back-propagates.

        After a training-mode pass the stored averages are the `μ̃_{t+1}, σ̃²_{t+1}` it normalised
        with, so `x = z · sqrt(σ̃²_{t+1} + ε) + μ̃_{t+1}`. The recomputation then takes the batch
        statistics of the rebuilt `x` under the tape, with
        `μ̃_{t+1} = stop_gradient(μ̃_{t+1} − (1 − ρ) μ̂) + (1 − ρ) μ̂`: the same value, and the
        gradient of the standard pass. Returns the rebuilt input, its gradient and `{}` (the
        layer has no trainable variables).
        """
        mean, variance = tf.identity(self.moving_mean), tf.identity(self.moving_variance)
        x = tf.stop_gradient(z * tf.sqrt(variance + self.epsilon) + mean)
        if not training:
            return x, output_gradient * tf.math.rsqrt(variance + self.epsilon), {}
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            batch_mean, batch_variance = self.batch_moments(x)
            weight = tf.constant(1.0 - self.momentum, x.dtype)
            mean = tf.stop_gradient(mean - weight * batch_mean) + weight * batch_mean
            variance = (
                tf.stop_gradient(variance - weight * batch_variance) + weight * batch_variance
            )
            z_again = (x - mean) * tf.math.rsqrt(variance + self.epsilon)
            log_det = self._log_det(variance, x)
        (x_gradient,) = tape.gradient(
            [z_again, log_det], [x], output_gradients=[output_gradient, log_det_gradient]
        )
        return x, x_gradient, {}


def check_momentum(momentum: float) -> float:
    """Returns `momentum` as a float, or raises `ValueError` unless it is a number in [0, 1)."""
    if not (
        isinstance(momentum, (int, float)) and not isinstance(momentum, bool) and 0 <= momentum < 1
    ):
        raise ValueError(f"batch_norm_momentum must be a number in [0, 1), got {momentum!r}")
    return float(momentum)


def _sum_over_replicas(values: list[tf.Tensor]) -> list[tf.Tensor]:
    """`values` summed over the replicas of the strategy this runs in, unchanged outside one."""
    if not data_init.in_replica_context():
        return values
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.SUM, values)
