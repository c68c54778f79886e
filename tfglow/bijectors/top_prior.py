"""Glow's learned, optionally class-conditional prior on the last latent, as an affine bijector."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow import checks

_EVENT_NDIMS = 3


class TopPrior(tfb.Bijector):
    """Learned per-channel Gaussian prior on the top latent, written as an affine map to N(0, I).

    Glow models the last latent as `z_top ~ N(μ, σ²)` with a learned per-channel `μ` and `log σ`
    (`learntop`), plus a learned class embedding when conditioning on labels (`ycond`). Written as a
    bijector, the base distribution is a plain N(0, I):
    Inverse (x→z, the paper's direction): `eps = (z_top − μ) · exp(−log σ)`.
    Forward (z→x): `z_top = eps · exp(log σ) + μ`.
    The log-determinant of the inverse is `−H·W·Σ_c log σ_c` per example.

    `(μ, log σ)` is the variable `mean_log_std` of shape `[2C]` (first half `μ`, second half
    `log σ`), broadcast over `H` and `W`; with `num_classes`, row `labels` of the variable
    `class_embedding` `[num_classes, 2C]` is added per example. Both start at zero, so the prior
    starts as N(0, I). A class-conditional prior needs the keyword argument `labels`: integers of
    the batch shape, e.g. `bijector.inverse(x, labels=y)` or
    `distribution.log_prob(x, bijector_kwargs={"labels": y})`.

    #### Examples

    ```python
    prior = tfglow.bijectors.TopPrior(channels=8, num_classes=10)
    flow = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 8]), prior)
    log_prob = flow.log_prob(z_top, bijector_kwargs={"labels": labels})   # labels: [N] int
    samples = flow.sample(bijector_kwargs={"labels": labels})           # one per label
    ```

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    """

    def __init__(
        self,
        channels: int,
        num_classes: int | None = None,
        dtype=tf.float32,
        validate_args: bool = False,
        name: str = "top_prior",
    ):
        """Creates the zero-initialised prior parameters.

        Args:
          channels: Python `int`, the number of channels `C` of the top latent.
          num_classes: Python `int`, the number of classes to condition on; `None` for an
            unconditional prior. Default value: `None`.
          dtype: the floating dtype of the variables. Default value: `tf.float32`.
          validate_args: Python `bool`, whether to check inputs. Labels are always range-checked
            (`tfglow.checks.labels`): an out-of-range gather on an accelerator silently returns
            zeros. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"top_prior"`.
        """
        parameters = dict(locals())
        if channels < 1:
            raise ValueError(f"TopPrior needs channels >= 1, got {channels}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"TopPrior needs num_classes >= 1 or None, got {num_classes}")
        self._num_classes = num_classes
        with tf.name_scope(name) as scope_name:
            self.mean_log_std = tf.Variable(tf.zeros([2 * channels], dtype), name="mean_log_std")
            self.class_embedding = None
            if num_classes is not None:
                self.class_embedding = tf.Variable(
                    tf.zeros([num_classes, 2 * channels], dtype), name="class_embedding"
                )
        super().__init__(
            forward_min_event_ndims=_EVENT_NDIMS,
            is_constant_jacobian=True,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    @property
    def num_classes(self) -> int | None:
        """The number of classes of a class-conditional prior, `None` if unconditional."""
        return self._num_classes

    def _mean_and_log_std(self, labels) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns `μ` and `log σ` of shape `[*labels.shape, 1, 1, C]`, broadcasting over H, W."""
        mean_log_std = self.mean_log_std
        labels = checks.labels(labels, self._num_classes)
        if labels is not None:
            mean_log_std = mean_log_std + tf.gather(self.class_embedding, labels)
        mean, log_std = tf.split(mean_log_std[..., tf.newaxis, tf.newaxis, :], 2, axis=-1)
        return mean, log_std

    def _inverse_log_det(self, tensor: tf.Tensor, labels) -> tf.Tensor:
        """`−H·W·Σ_c log σ_c` per example, of the batch shape of `tensor` (and `labels`)."""
        _, log_std = self._mean_and_log_std(labels)
        shape = tf.shape(tensor)
        pixels = tf.cast(shape[-3] * shape[-2], log_std.dtype)
        per_example = -pixels * tf.reduce_sum(log_std, axis=[-3, -2, -1])
        return per_example + tf.zeros(shape[:-_EVENT_NDIMS], log_std.dtype)

    def _forward(self, z, labels=None):
        mean, log_std = self._mean_and_log_std(labels)
        return z * tf.exp(log_std) + mean

    def _inverse(self, x, labels=None):
        mean, log_std = self._mean_and_log_std(labels)
        return (x - mean) * tf.exp(-log_std)

    def _inverse_log_det_jacobian(self, x, labels=None):
        return self._inverse_log_det(x, labels)

    def _forward_log_det_jacobian(self, z, labels=None):
        return -self._inverse_log_det(z, labels)
