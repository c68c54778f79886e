"""Shape helpers shared by the image bijectors.

Convolutions need rank-4 NHWC tensors, while a TFP bijector must accept any number of leading
sample/batch dimensions (`TransformedDistribution.sample([2, 3])` gives `[2, 3, H, W, C]`).
`fold_batch` flattens those leading dimensions into one and `unfold_batch` restores them.
"""

import tensorflow as tf


def fold_batch(x: tf.Tensor, event_ndims: int = 3) -> tuple[tf.Tensor, tf.Tensor]:
    """Reshapes `x` of shape `[..., *event]` to `[N, *event]`; returns it and the batch shape
    `[...]`."""
    shape = tf.shape(x)
    rank = tf.rank(x)
    batch_shape = shape[: rank - event_ndims]
    event_shape = x.shape[-event_ndims:] if event_ndims else []
    folded = tf.reshape(x, tf.concat([[-1], shape[rank - event_ndims :]], axis=0))
    folded.set_shape([None, *event_shape])
    return folded, batch_shape


def unfold_batch(x: tf.Tensor, batch_shape: tf.Tensor, event_ndims: int = 3) -> tf.Tensor:
    """Inverse of `fold_batch`: reshapes `[N, *event]` back to `[*batch_shape, *event]`."""
    event_shape = tf.shape(x)[tf.rank(x) - event_ndims :]
    return tf.reshape(x, tf.concat([batch_shape, event_shape], axis=0))


def fold_batch_values(values: tf.Tensor, batch_shape: tf.Tensor) -> tf.Tensor:
    """Reshapes a per-example value of shape `[N]` back to `batch_shape`."""
    return tf.reshape(values, batch_shape)
