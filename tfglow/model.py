"""`GlowModel`: a `tf_keras.Model` that owns a `Glow` flow and works in pixel space."""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfglow import pixels
from tfglow.config import GlowConfig
from tfglow.glow import Glow

tfd = tfp.distributions

# Batch taken from an array for ActNorm's data-dependent initialisation when `fit` gets no batch_size.
_DEFAULT_INIT_BATCH = 64


class GlowModel(tf_keras.Model):
    """A Glow-family flow over images, trainable with `compile`/`fit`.

    Three spaces:
      * **pixels**: integer images in [0, 255] (uint8, or integer-valued floats), `[batch, H, W, C]`;
        `log_prob`, `bits_per_dim`, `encode` and `fit` take them, `decode` and `sample` return uint8.
      * **flow space**: `y = (x_int + u) / 2^num_bits − 0.5` in [-0.5, 0.5), see `tfglow.pixels`;
        `distribution()` is a density over this space.
      * **latent**: the flat `eps` of shape `[batch, D]`, distributed N(0, I) under the model.

    The model owns the variables; `distribution(temperature)` builds a fresh
    `tfd.TransformedDistribution` on them each call. `fit` minimises bits/dim with uniform
    dequantisation; before the first step it runs ActNorm's data-dependent initialisation on the
    first batch (in cross-replica context, so every replica of a `tf.distribute` strategy holds the
    same values). A class-conditional model (`config.num_classes`) takes `labels` (int, `[batch]`)
    in `log_prob`, `bits_per_dim`, `encode`, `decode`, `sample`, and `fit(images, labels)`; with
    `config.classifier_weight > 0` it also trains Glow's classifier head on the top latent
    (`classifier_logits`), adding `classifier_weight × cross-entropy in bits` to each image's loss.

    #### Examples

    ```python
    model = tfglow.GlowModel(tfglow.GlowConfig.preset("mnist_cpu"))
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(train_images_uint8, batch_size=64, epochs=1)
    model.bits_per_dim(test_images)          # [batch], held-out bits/dim
    z = model.encode(test_images)            # [batch, D]
    assert (model.decode(z).numpy() == test_images).all()
    samples = model.sample(16, temperature=0.7, seed=1)
    ```
    """

    def __init__(self, config: GlowConfig, dtype=tf.float32, name: str = "glow_model", **kwargs):
        """Builds the flow and its variables.

        Args:
          config: the `tfglow.GlowConfig` of the flow.
          dtype: the floating dtype of the flow. Default value: `tf.float32`.
          name: Python `str`, the model's name. Default value: `"glow_model"`.
          **kwargs: passed to `tf_keras.Model`.
        """
        super().__init__(name=name, **kwargs)
        self.config = config
        self.flow_dtype = tf.as_dtype(dtype)
        self.bijector = Glow(config, dtype=self.flow_dtype)
        self.bits_per_dim_tracker = tf_keras.metrics.Mean(name="bits_per_dim")
        self.classifier = None
        if config.classifier_weight > 0:
            # Glow's `ycond` classifier: linear, zero-initialised, on the mean-pooled top latent.
            self.classifier = tf_keras.layers.Dense(
                config.num_classes, kernel_initializer="zeros", dtype=self.flow_dtype,
                name="classifier")
            self.classifier.build((None, config.latent_shapes[-1][-1]))
            self.classifier_bits_tracker = tf_keras.metrics.Mean(name="classifier_bits")
        self.built = True

    # ---- the distribution -------------------------------------------------------------------

    def distribution(self, temperature: float = 1.0) -> tfd.TransformedDistribution:
        """The model's density over flow space: N(0, T²·I) pushed through the flow (z→x).

        Temperature T scales the base standard deviation at every level, as in the Glow paper's
        samples. For a class-conditional model pass the labels through
        `log_prob(y, bijector_kwargs={"labels": labels})` and `sample(n, bijector_kwargs=...)`.
        """
        scale = tf.convert_to_tensor(temperature, self.flow_dtype)
        base = tfd.Sample(tfd.Normal(tf.zeros([], self.flow_dtype), scale),
                          sample_shape=[self.config.event_size])
        return tfd.TransformedDistribution(base, self.bijector, name="glow_distribution")

    # ---- pixel-space API ----------------------------------------------------------------------

    def log_prob(self, images, labels=None) -> tf.Tensor:
        """log p(y) in nats of the flow-space density at the pixel-bin centres, `[batch]`."""
        images = pixels.validate_images(images, self.config.image_shape)
        return self._log_prob_flow(self._to_flow(images), labels)

    def bits_per_dim(self, images, labels=None, dequantize: bool = True, seed=None) -> tf.Tensor:
        """Bits per dimension of each image, `[batch]` (REFERENCE §3).

        With `dequantize=True` (the papers' held-out figure) the pixels get uniform noise
        `u ~ U[0, 1)`, seeded by `seed` if given; with `False` they sit at the bin centres and the
        result is deterministic.
        """
        images = pixels.validate_images(images, self.config.image_shape)
        return self._bits_per_dim(images, labels, dequantize, seed)

    def encode(self, images, labels=None) -> tf.Tensor:
        """Pixels → the exact flat latent `eps` `[batch, D]` of the bin-centred images (x→z)."""
        images = pixels.validate_images(images, self.config.image_shape)
        return self.bijector.inverse(self._to_flow(images), labels=labels)

    def decode(self, eps, labels=None) -> tf.Tensor:
        """Flat latent `[batch, D]` → uint8 images (z→x); inverts `encode` exactly."""
        return pixels.flow_to_images(self.decode_to_flow(eps, labels), self.config.num_bits)

    def decode_to_flow(self, eps, labels=None) -> tf.Tensor:
        """Flat latent `[batch, D]` → continuous flow-space images in [-0.5, 0.5) (z→x)."""
        eps = tf.convert_to_tensor(eps, self.flow_dtype)
        if eps.shape.rank is not None and (
                eps.shape.rank != 2 or not eps.shape[1:].is_compatible_with([self.config.event_size])):
            raise ValueError(f"latents must have shape [batch, {self.config.event_size}], "
                             f"got shape {eps.shape.as_list()}")
        eps = tf.debugging.assert_all_finite(eps, "latents contain NaN or infinity")
        return self.bijector.forward(eps, labels=labels)

    def standard_normal(self, num_samples: int, seed=None) -> tf.Tensor:
        """The base noise eps ~ N(0, I) `[num_samples, D]` that `sample` scales by its temperature.

        With an integer `seed` the draw is stateless and repeatable: every use of the same seed
        (`sample`, `tfglow.latent`, training's sample grids) sees the same latent directions.
        """
        shape = [num_samples, self.config.event_size]
        if seed is None:
            return tf.random.normal(shape, dtype=self.flow_dtype)
        return tf.random.stateless_normal(shape, seed=[seed, 0], dtype=self.flow_dtype)

    def sample(self, num_samples: int, temperature: float = 1.0, seed=None, labels=None) -> tf.Tensor:
        """`num_samples` uint8 images drawn with eps ~ N(0, T²·I) (z→x); `seed` makes it repeatable."""
        if temperature < 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
        return self.decode(self.standard_normal(num_samples, seed) * temperature, labels)

    def classifier_logits(self, images) -> tf.Tensor:
        """Logits `[batch, num_classes]` of the classifier head (`config.classifier_weight > 0`).

        The head reads the top latent before the class-conditional top prior, so the prediction
        does not depend on a label: `logits = W · mean_{h,w} z_top + b` with `z_top` from x→z.
        """
        if self.classifier is None:
            raise ValueError("this model has no classifier head: set GlowConfig.classifier_weight "
                             f"> 0, got {self.config.classifier_weight}")
        images = pixels.validate_images(images, self.config.image_shape)
        # Any label encodes to the same z_top; _classifier_logits undoes its prior μ, σ.
        labels = tf.zeros(tf.shape(images)[:1], tf.int32)
        eps = self.bijector.inverse(self._to_flow(images), labels=labels)
        return self._classifier_logits(eps, labels)

    # ---- initialisation -----------------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        """Whether every ActNorm has had its data-dependent initialisation."""
        flags = [v for v in self.bijector.variables if v.dtype == tf.bool]
        return all(bool(flag.numpy()) for flag in flags)

    def initialize(self, images, labels=None):
        """Data-dependent initialisation of every ActNorm from `images` (pixels), once.

        Call outside `strategy.run` (as `fit` does): the statistics come from the whole batch and
        are written to every replica's copy of the variables.
        """
        images = pixels.validate_images(images, self.config.image_shape)
        self._log_prob_flow(self._to_flow(images, tf.random.uniform(tf.shape(images))), labels)

    # ---- Keras --------------------------------------------------------------------------------

    def call(self, inputs, training=False):
        """Per-example bits/dim of `inputs` (images, or `(images, labels)`), dequantised in training."""
        images, labels = _unpack(inputs)
        return self._bits_per_dim(images, labels, dequantize=bool(training), seed=None)

    @property
    def metrics(self):
        if self.classifier is None:
            return [self.bits_per_dim_tracker]
        return [self.bits_per_dim_tracker, self.classifier_bits_tracker]

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`tf_keras.Model.fit` on uint8 images (and labels), after ActNorm's data-dependent init."""
        if not self.is_initialized:
            self.initialize(*_first_batch(x, y, batch_size))
        return super().fit(x, y, batch_size=batch_size, **kwargs)

    def train_step(self, data):
        images, labels = _unpack(data)
        with tf.GradientTape() as tape:
            per_example, eps = self._bits_per_dim_and_latents(images, labels, True, None)
            per_example_loss = per_example
            if self.classifier is not None:
                classifier_bits = self._classifier_bits(eps, labels)
                per_example_loss = per_example + self.config.classifier_weight * classifier_bits
            loss = tf.nn.compute_average_loss(per_example_loss)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.bits_per_dim_tracker.update_state(per_example)
        if self.classifier is not None:
            self.classifier_bits_tracker.update_state(classifier_bits)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        images, labels = _unpack(data)
        per_example, eps = self._bits_per_dim_and_latents(images, labels, True, None)
        self.bits_per_dim_tracker.update_state(per_example)
        if self.classifier is not None:
            self.classifier_bits_tracker.update_state(self._classifier_bits(eps, labels))
        return {metric.name: metric.result() for metric in self.metrics}

    def get_config(self):
        return {"config": self.config.to_json(), "dtype": self.flow_dtype.name, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(GlowConfig.from_json(config["config"]), dtype=config["dtype"], name=config["name"])

    # ---- internals ----------------------------------------------------------------------------

    def _to_flow(self, images, noise=None):
        return pixels.images_to_flow(images, self.config.num_bits, self.flow_dtype, noise)

    def _log_prob_flow(self, y, labels):
        return self._log_prob_and_latents(y, labels)[0]

    def _log_prob_and_latents(self, y, labels):
        eps = self.bijector.inverse(y, labels=labels)
        log_det = self.bijector.inverse_log_det_jacobian(y, event_ndims=3, labels=labels)
        log_normal = -0.5 * tf.reduce_sum(tf.square(eps), axis=-1) - (
            0.5 * self.config.event_size * math.log(2 * math.pi))
        return log_normal + log_det, eps

    def _classifier_logits(self, eps, labels):
        top_shape = self.config.latent_shapes[-1]
        eps_top = tf.reshape(eps[:, self.config.event_size - math.prod(top_shape):], [-1, *top_shape])
        # eps_top = (z_top − μ_y) / σ_y; undoing the prior gives the label-free z_top (Glow's `z`).
        z_top = self.bijector.top_prior.forward(eps_top, labels=labels)
        return self.classifier(tf.reduce_mean(z_top, axis=[1, 2]))

    def _classifier_bits(self, eps, labels):
        """Glow's `bits_y`: the classifier head's cross-entropy in bits per image, `[batch]`."""
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(tf.reshape(labels, [-1]), tf.int32),
            logits=self._classifier_logits(eps, labels))
        return cross_entropy / math.log(2.0)

    def _bits_per_dim(self, images, labels, dequantize, seed):
        return self._bits_per_dim_and_latents(images, labels, dequantize, seed)[0]

    def _bits_per_dim_and_latents(self, images, labels, dequantize, seed):
        images = pixels.check_image_shape(images, self.config.image_shape)
        noise = None
        if dequantize:
            shape = tf.shape(images)
            noise = (tf.random.uniform(shape, dtype=self.flow_dtype) if seed is None else
                     tf.random.stateless_uniform(shape, seed=[seed, 1], dtype=self.flow_dtype))
        log_prob, eps = self._log_prob_and_latents(self._to_flow(images, noise), labels)
        return pixels.bits_per_dim(log_prob, self.config.event_size, self.config.num_bits), eps


def _unpack(data):
    """`images` or `(images, labels)` (Keras passes `(x, y)` tuples) → `(images, labels)`."""
    if isinstance(data, (tuple, list)):
        images = data[0]
        labels = data[1] if len(data) > 1 else None
        return images, labels
    if isinstance(data, dict):
        return data["images"], data.get("labels")
    return data, None


def _first_batch(x, y, batch_size):
    """The first batch of `fit`'s input, for the data-dependent initialisation."""
    if isinstance(x, tf.data.Dataset):
        return _unpack(next(iter(x.take(1))))
    if isinstance(x, dict):
        x, y = x["images"], x.get("labels", y)
    count = batch_size or _DEFAULT_INIT_BATCH
    images = np.asarray(x[:count]) if not tf.is_tensor(x) else x[:count]
    labels = None if y is None else y[:count]
    return images, labels
