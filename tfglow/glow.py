"""`Glow`: the whole multi-scale flow as one `tfb.Bijector` from a flat N(0, I) latent to an image."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow.bijectors import TopPrior
from tfglow.bijectors._joint_log_det import JointLogDetMixin
from tfglow.bijectors._shapes import fold_batch, unfold_batch
from tfglow.config import GlowConfig
from tfglow.levels import _SeedSequence, level_bijectors


class Glow(JointLogDetMixin, tfb.Bijector):
    """The multi-scale flow of a `GlowConfig` (Glow, RealNVP or NICE) as one bijector.

    Forward (z→x) maps a flat latent `eps` of shape `[..., D]`, distributed N(0, I), to an image of
    shape `[..., H, W, C]` in the flow's continuous space (pixels in [-0.5, 0.5), see
    `tfglow.GlowModel`); inverse (x→z) encodes. The learned split priors and the top prior are
    affine maps inside the bijector (`eps_i = (z_i − μ_i) / σ_i`), so the base is a plain N(0, I)
    and `log p(x) = log N(inverse(x); 0, I) + inverse_log_det_jacobian(x)`.

    ```
      x [H, W, C]
        │ level 0: squeeze → K steps → split prior ──────────▶ eps_0 [H/2, W/2, 2C]
        │ level 1: squeeze → K steps → split prior ──────────▶ eps_1 [H/4, W/4, 4C]
        │ ...
        │ level L-1: squeeze → K steps → top prior ──────────▶ eps_{L-1}
        ▼
      eps = concat(flatten(eps_0), …, flatten(eps_{L-1}))  [D]
    ```

    With `config.num_classes` set, the top prior is class-conditional: pass `labels` (int, the
    batch shape) as a bijector keyword, e.g. `glow.inverse(x, labels=y)` or
    `distribution.log_prob(x, bijector_kwargs={"labels": y})`.

    #### Examples

    ```python
    glow = tfglow.Glow(tfglow.GlowConfig.preset("tiny"))
    distribution = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0., 1.), glow.config.event_size), glow)
    log_prob = distribution.log_prob(images_in_flow_space)
    ```

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    [2]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(self, config: GlowConfig, dtype=tf.float32, validate_args: bool = False,
                 name: str = "glow"):
        """Builds every level's bijectors and variables.

        Args:
          config: the `tfglow.GlowConfig` to build.
          dtype: the floating dtype of every variable and computation. Default value: `tf.float32`.
          validate_args: Python `bool`, whether layers check their inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"glow"`.
        """
        parameters = dict(locals())
        if not isinstance(config, GlowConfig):
            raise TypeError(f"config must be a tfglow.GlowConfig, got {type(config).__name__}")
        self.config = config
        with tf.name_scope(name) as scope_name:
            seeds = _SeedSequence(config.seed)
            self.levels = [
                tfb.Chain(level_bijectors(config, level, dtype, seeds), validate_args=validate_args,
                          name=f"level_{level}")
                for level in range(config.num_levels)
            ]
            top_channels = config.level_shapes[-1][-1]
            self.top_prior = (
                TopPrior(top_channels, num_classes=config.num_classes, dtype=dtype,
                         validate_args=validate_args, name="top_prior")
                if config.learn_top_prior or config.num_classes else None)
        super().__init__(forward_min_event_ndims=1, inverse_min_event_ndims=3, dtype=dtype,
                         validate_args=validate_args, parameters=parameters, name=scope_name)

    def _inverse_and_log_det(self, x, labels=None):
        self._check_image_shape(x)
        h, batch_shape = fold_batch(x)
        log_det = tf.zeros(tf.shape(h)[:1], h.dtype)
        latents = []
        for level, chain in enumerate(self.levels):
            h_next = chain.inverse(h)
            log_det += chain.inverse_log_det_jacobian(h, event_ndims=3)
            h = h_next
            if level < self.config.num_levels - 1:
                kept = h.shape[-1] // 2
                latents.append(_flatten(h[..., kept:]))
                h = h[..., :kept]
        if self.top_prior is not None:
            prior_kwargs = self._prior_kwargs(labels, batch_shape)
            h_next = self.top_prior.inverse(h, **prior_kwargs)
            log_det += self.top_prior.inverse_log_det_jacobian(h, event_ndims=3, **prior_kwargs)
            h = h_next
        latents.append(_flatten(h))
        eps = tf.concat(latents, axis=-1)
        return unfold_batch(eps, batch_shape, event_ndims=1), tf.reshape(log_det, batch_shape)

    def _forward_and_log_det(self, eps, labels=None):
        self._check_latent_size(eps)
        eps, batch_shape = fold_batch(eps, event_ndims=1)
        pieces = tf.split(eps, [h * w * c for h, w, c in self.config.latent_shapes], axis=-1)
        pieces = [tf.reshape(piece, [-1, *shape])
                  for piece, shape in zip(pieces, self.config.latent_shapes)]
        h = pieces[-1]
        log_det = tf.zeros(tf.shape(eps)[:1], eps.dtype)
        if self.top_prior is not None:
            prior_kwargs = self._prior_kwargs(labels, batch_shape)
            h_next = self.top_prior.forward(h, **prior_kwargs)
            log_det += self.top_prior.forward_log_det_jacobian(h, event_ndims=3, **prior_kwargs)
            h = h_next
        for level in reversed(range(self.config.num_levels)):
            if level < self.config.num_levels - 1:
                h = tf.concat([h, pieces[level]], axis=-1)
            h_next = self.levels[level].forward(h)
            log_det += self.levels[level].forward_log_det_jacobian(h, event_ndims=3)
            h = h_next
        return unfold_batch(h, batch_shape), tf.reshape(log_det, batch_shape)

    def _prior_kwargs(self, labels, batch_shape):
        if self.config.num_classes is None:
            if labels is not None:
                raise ValueError("labels were given, but the flow is not class-conditional "
                                 "(GlowConfig.num_classes is None)")
            return {}
        if labels is None:
            raise ValueError(f"this flow is class-conditional (num_classes="
                             f"{self.config.num_classes}): pass labels")
        return {"labels": tf.reshape(labels, [-1])}

    def _check_image_shape(self, x):
        expected = self.config.image_shape
        if x.shape.rank is not None and (
                x.shape.rank < 3 or not x.shape[-3:].is_compatible_with(expected)):
            raise ValueError(f"expected images of shape [..., {', '.join(map(str, expected))}], "
                             f"got shape {x.shape}")

    def _check_latent_size(self, eps):
        expected = [self.config.event_size]
        if eps.shape.rank is not None and (
                eps.shape.rank < 1 or not eps.shape[-1:].is_compatible_with(expected)):
            raise ValueError(f"expected latents of shape [..., {expected[0]}], got shape {eps.shape}")

    def _forward_event_shape(self, input_shape):
        return tf.TensorShape(self.config.image_shape)

    def _forward_event_shape_tensor(self, input_shape):
        return tf.constant(self.config.image_shape, tf.int32)

    def _inverse_event_shape(self, output_shape):
        return tf.TensorShape([self.config.event_size])

    def _inverse_event_shape_tensor(self, output_shape):
        return tf.constant([self.config.event_size], tf.int32)


def _flatten(h):
    return tf.reshape(h, [tf.shape(h)[0], -1])
