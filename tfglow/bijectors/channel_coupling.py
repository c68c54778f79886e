"""The channel split shared by the coupling layers and the split prior, and its one rule."""

from typing import Callable

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow import stacked_variables
from tfglow.bijectors import batch_shapes
from tfglow.bijectors.joint_log_det import JointLogDetMixin


def split_index(channels: int) -> int:
    """Where `channels` are cut: the first `C // 2` condition a coupling (and, at a multi-scale
    split, continue the flow); the other `C − C // 2` are transformed (or factored out)."""
    return channels // 2


class ChannelCoupling(JointLogDetMixin, tfb.Bijector):
    """Base of the bijectors that transform one half of the channels conditioned on the other.

    An event `x` of shape `[H, W, C]` splits at `split_index(C)` into the conditioning half
    `x_b = x[..., :split_index]`, which passes through unchanged, and the transformed half
    `x_a = x[..., split_index:]`, mapped elementwise with parameters `p = conditioner(x_b)`:

    Inverse (x→z): `z_a = transform(x_a, p)`, `z_b = x_b`, log-det `Σ log_det_terms(p)`.
    Forward (z→x): `x_a = untransform(z_a, p)`, `x_b = z_b`, log-det `−Σ log_det_terms(p)`.

    Subclasses implement `_coupling_parameters(x_b)`, `_transform`, `_untransform` and
    `_log_det_terms`
    (`None` for a volume-preserving map); both directions, and the gradient that rebuilds the
    input from the output (`inverse_gradient_from_output`), are written here once from them.
    """

    def __init__(
        self,
        channels: int,
        make_conditioner: Callable[[int, int], tf.Module],
        is_constant_jacobian: bool,
        dtype,
        validate_args: bool,
        parameters: dict,
        name: str,
    ):
        """Validates `channels` and builds the conditioner inside the bijector's name scope.

        Args:
          channels: Python `int`, the size of the last (channel) axis; at least 2.
          make_conditioner: called as `make_conditioner(conditioning_channels,
            transformed_channels)`, returns the module that maps `x_b` to the parameters of the
            elementwise map of `x_a`.
          is_constant_jacobian: Python `bool`, passed to `tfb.Bijector`.
          dtype: the floating dtype of the bijector.
          validate_args: Python `bool`, whether to check inputs.
          parameters: the subclass constructor's `dict(locals())`.
          name: Python `str`, the name of the bijector.
        """
        if channels < 2:
            raise ValueError(f"{type(self).__name__} needs channels >= 2, got {channels}")
        self.channels = channels
        self.split_index = split_index(channels)
        with tf.name_scope(name) as scope_name:
            self.conditioner = make_conditioner(self.split_index, channels - self.split_index)
        super().__init__(
            forward_min_event_ndims=3,
            is_constant_jacobian=is_constant_jacobian,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    def _coupling_parameters(self, conditioning: tf.Tensor) -> tuple[tf.Tensor, ...]:
        raise NotImplementedError

    def _transform(self, x_a: tf.Tensor, parameters: tuple[tf.Tensor, ...]) -> tf.Tensor:
        raise NotImplementedError

    def _untransform(self, z_a: tf.Tensor, parameters: tuple[tf.Tensor, ...]) -> tf.Tensor:
        raise NotImplementedError

    def _log_det_terms(self, parameters: tuple[tf.Tensor, ...]) -> tf.Tensor | None:
        raise NotImplementedError

    def _split(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns the conditioning and transformed halves, rank 4, and the batch shape of `x`."""
        folded, batch_shape = batch_shapes.fold_batch(x)
        conditioning, transformed = tf.split(
            folded, [self.split_index, self.channels - self.split_index], axis=-1
        )
        return conditioning, transformed, batch_shape

    def _recombine(
        self, conditioning: tf.Tensor, transformed: tf.Tensor, batch_shape: tf.Tensor
    ) -> tf.Tensor:
        """Inverse of `_split`: concatenates the halves and restores the batch shape."""
        return batch_shapes.unfold_batch(
            tf.concat([conditioning, transformed], axis=-1), batch_shape
        )

    def _log_det(self, parameters, folded: tf.Tensor, batch_shape: tf.Tensor) -> tf.Tensor:
        """`Σ log_det_terms` over `[H, W, C']` per example, of shape `batch_shape`."""
        terms = self._log_det_terms(parameters)
        per_example = (
            tf.zeros(tf.shape(folded)[:1], folded.dtype)
            if terms is None
            else tf.reduce_sum(terms, axis=[1, 2, 3])
        )
        return batch_shapes.fold_batch_values(per_example, batch_shape)

    def _inverse_and_log_det(self, x):
        x_b, x_a, batch_shape = self._split(x)
        parameters = self._coupling_parameters(x_b)
        z_a = self._transform(x_a, parameters)
        return (self._recombine(x_b, z_a, batch_shape), self._log_det(parameters, x_b, batch_shape))

    def _forward_and_log_det(self, z):
        z_b, z_a, batch_shape = self._split(z)
        parameters = self._coupling_parameters(z_b)
        x_a = self._untransform(z_a, parameters)
        return (
            self._recombine(z_b, x_a, batch_shape),
            -self._log_det(parameters, z_b, batch_shape),
        )

    def inverse_gradient_from_output(self, z, output_gradient, log_det_gradient):
        """Rebuilds the input of x→z from its output `z` and back-propagates through the layer.

        The conditioning half is its own input (`x_b = z_b`), so one evaluation of the
        conditioner serves both the rebuild `x_a = untransform(z_a, p)` and the recomputed
        `z_a = transform(x_a, p)` whose vector–Jacobian product is taken. Returns the rebuilt
        input `x` (`[N, H, W, C]`), its gradient, and the gradient of each trainable variable.
        """
        z_b, z_a, batch_shape = self._split(z)
        _, dz_a, _ = self._split(output_gradient)
        dz_b = output_gradient[..., : self.split_index]
        keys, variables = stacked_variables.trainable_parameters(self)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(z_b)
            tape.watch(variables)
            parameters = self._coupling_parameters(z_b)
            x_a = tf.stop_gradient(self._untransform(z_a, parameters))
            tape.watch(x_a)
            z_a_again = self._transform(x_a, parameters)
            log_det = self._log_det(parameters, z_b, batch_shape)
        gradients = tape.gradient(
            [z_a_again, log_det],
            [z_b, x_a, *variables],
            output_gradients=[dz_a, log_det_gradient],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        dx_b, dx_a = dz_b + gradients[0], gradients[1]
        return (
            tf.concat([z_b, x_a], axis=-1),
            tf.concat([dx_b, dx_a], axis=-1),
            dict(zip(keys, gradients[2:])),
        )
