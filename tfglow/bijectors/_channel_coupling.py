"""The channel split shared by the coupling layers and the split prior."""

from typing import Callable

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow.bijectors import _shapes
from tfglow.bijectors._joint_log_det import JointLogDetMixin


class ChannelCoupling(JointLogDetMixin, tfb.Bijector):
    """Base of the bijectors that transform one half of the channels conditioned on the other.

    An event `x` of shape `[H, W, C]` splits at `split_index = C // 2` into the conditioning half
    `x_b = x[..., :split_index]`, which passes through unchanged, and the transformed half
    `x_a = x[..., split_index:]`, which is mapped elementwise with parameters computed from `x_b`
    by `self.conditioner`. Subclasses write `_inverse_and_log_det` and `_forward_and_log_det` with
    `_split` and `_recombine`, which also fold any leading batch dimensions into one for the
    convolutions and unfold them again; `_sum_per_example` reduces a log-det over `[H, W, C]`.
    """

    def __init__(self, channels: int,
                 make_conditioner: Callable[[int, int], tf.Module],
                 is_constant_jacobian: bool, dtype, validate_args: bool, parameters: dict,
                 name: str):
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
        self.split_index = channels // 2
        with tf.name_scope(name) as scope_name:
            self.conditioner = make_conditioner(self.split_index, channels - self.split_index)
        super().__init__(forward_min_event_ndims=3, is_constant_jacobian=is_constant_jacobian,
                         dtype=dtype, validate_args=validate_args, parameters=parameters,
                         name=scope_name)

    def _split(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns the conditioning and transformed halves, rank 4, and the batch shape of `x`."""
        folded, batch_shape = _shapes.fold_batch(x)
        return folded[..., :self.split_index], folded[..., self.split_index:], batch_shape

    def _recombine(self, conditioning: tf.Tensor, transformed: tf.Tensor,
                   batch_shape: tf.Tensor) -> tf.Tensor:
        """Inverse of `_split`: concatenates the halves and restores the batch shape."""
        return _shapes.unfold_batch(tf.concat([conditioning, transformed], axis=-1), batch_shape)

    @staticmethod
    def _sum_per_example(log_det: tf.Tensor, batch_shape: tf.Tensor) -> tf.Tensor:
        """Sums an elementwise log-det `[N, H, W, C']` to one value per example, `batch_shape`."""
        return _shapes.fold_batch_values(tf.reduce_sum(log_det, axis=[1, 2, 3]), batch_shape)
