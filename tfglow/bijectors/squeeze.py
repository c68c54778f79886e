"""Squeeze: trade spatial resolution for channels (RealNVP §3.6)."""

import numbers

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow.bijectors.batch_shapes import fold_batch, unfold_batch

_EVENT_NDIMS = 3


class Squeeze(tfb.Bijector):
    """Moves every `f×f` block of pixels into the channels of one pixel (space-to-depth).

    Inverse (x→z, the paper's direction): `[H, W, C] → [H/f, W/f, f²·C]`,
    `z[i, j, (a·f + b)·C + c] = x[i·f + a, j·f + b, c]` (the order of `tf.nn.space_to_depth`).
    Forward (z→x): `[h, w, c] → [h·f, w·f, c/f²]`, the depth-to-space rearrangement back.
    A permutation of the elements, so the log-determinant is 0 in both directions (one zero per
    example).

    `H` and `W` must be divisible by `factor` (and in the forward direction the channels by
    `factor²`): a `ValueError` when the shape is known when the graph is built, an assertion at run
    time with `validate_args=True` otherwise.

    ```
    x: [4, 4, C]        z: [2, 2, 4C]
    a b | . .           [a b c d] [. . . .]
    c d | . .    →
    ----+----           [. . . .] [. . . .]
    ```

    #### Examples

    ```python
    squeeze = tfglow.bijectors.Squeeze()
    z = squeeze.inverse(tf.zeros([8, 28, 28, 1]))          # [8, 14, 14, 4]
    squeeze.inverse_event_shape([28, 28, 1])               # [14, 14, 4]
    ```

    #### References

    [1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(self, factor: int = 2, validate_args: bool = False, name: str = "squeeze"):
        """Creates the squeeze.

        Args:
          factor: Python `int`, the side `f` of the blocks moved into the channels.
            Default value: `2`.
          validate_args: Python `bool`, whether to check at run time that the spatial sizes are
            divisible by `factor` when they are unknown when the graph is built.
            Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"squeeze"`.
        """
        parameters = dict(locals())
        if not isinstance(factor, numbers.Integral) or factor < 2:
            raise ValueError(f"Squeeze needs an integer factor >= 2, got {factor}")
        self._factor = int(factor)
        with tf.name_scope(name) as scope_name:
            super().__init__(
                forward_min_event_ndims=_EVENT_NDIMS,
                inverse_min_event_ndims=_EVENT_NDIMS,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=scope_name,
            )

    @property
    def factor(self) -> int:
        """The side `f` of the blocks moved into the channels."""
        return self._factor

    def _check_divisible(
        self, shape: tf.TensorShape, axis: int, divisor: int, size_name: str
    ) -> bool:
        """Raises if the size at `axis` is known and not divisible; returns whether it is known."""
        size = shape[axis] if shape.rank is not None else None
        if size is not None and size % divisor:
            raise ValueError(
                f"Squeeze with factor {self._factor} needs the {size_name} divisible "
                f"by {divisor}, got shape {shape}"
            )
        return size is not None

    def _assert_divisible(self, tensor: tf.Tensor, axis: int, divisor: int, size_name: str) -> list:
        """Static check, plus a run-time assertion for an unknown size when `validate_args`."""
        if self._check_divisible(tensor.shape, axis, divisor, size_name) or not self.validate_args:
            return []
        return [
            tf.debugging.assert_equal(
                tf.shape(tensor)[axis] % divisor,
                0,
                message=f"Squeeze with factor {self._factor} needs the {size_name} divisible by "
                f"{divisor}",
            )
        ]

    def _inverse(self, x):
        assertions = self._assert_divisible(x, -3, self._factor, "height") + self._assert_divisible(
            x, -2, self._factor, "width"
        )
        with tf.control_dependencies(assertions):
            images, batch_shape = fold_batch(x, _EVENT_NDIMS)
            return unfold_batch(tf.nn.space_to_depth(images, self._factor), batch_shape)

    def _forward(self, z):
        assertions = self._assert_divisible(z, -1, self._factor**2, "channels")
        with tf.control_dependencies(assertions):
            latents, batch_shape = fold_batch(z, _EVENT_NDIMS)
            return unfold_batch(tf.nn.depth_to_space(latents, self._factor), batch_shape)

    def _inverse_log_det_jacobian(self, x):
        return tf.zeros(tf.shape(x)[:-_EVENT_NDIMS], x.dtype)

    def _forward_log_det_jacobian(self, z):
        return tf.zeros(tf.shape(z)[:-_EVENT_NDIMS], z.dtype)

    def _inverse_event_shape(self, output_shape):
        if output_shape.rank is None:
            return tf.TensorShape(None)
        self._check_divisible(output_shape, -3, self._factor, "height")
        self._check_divisible(output_shape, -2, self._factor, "width")
        *batch, height, width, channels = output_shape
        factor = self._factor
        return tf.TensorShape(
            [
                *batch,
                _divide(height, factor),
                _divide(width, factor),
                _multiply(channels, factor**2),
            ]
        )

    def _forward_event_shape(self, input_shape):
        if input_shape.rank is None:
            return tf.TensorShape(None)
        self._check_divisible(input_shape, -1, self._factor**2, "channels")
        *batch, height, width, channels = input_shape
        factor = self._factor
        return tf.TensorShape(
            [
                *batch,
                _multiply(height, factor),
                _multiply(width, factor),
                _divide(channels, factor**2),
            ]
        )

    def _inverse_event_shape_tensor(self, output_shape):
        factor = self._factor
        return tf.concat(
            [
                output_shape[:-_EVENT_NDIMS],
                [
                    output_shape[-3] // factor,
                    output_shape[-2] // factor,
                    output_shape[-1] * factor**2,
                ],
            ],
            axis=0,
        )

    def _forward_event_shape_tensor(self, input_shape):
        factor = self._factor
        return tf.concat(
            [
                input_shape[:-_EVENT_NDIMS],
                [input_shape[-3] * factor, input_shape[-2] * factor, input_shape[-1] // factor**2],
            ],
            axis=0,
        )


def _divide(size: int | None, divisor: int) -> int | None:
    return None if size is None else size // divisor


def _multiply(size: int | None, factor: int) -> int | None:
    return None if size is None else size * factor
