"""`PixelFlow`: a `Glow` flow seen from pixel space, the API both Keras models share.

Three spaces:
  * **pixels**: integer images in [0, 255] (uint8, or integer-valued floats), `[batch, H, W, C]`;
    `log_prob`, `bits_per_dim`, `encode` and training take them, `decode` and `sample` return uint8.
  * **flow space**: `y = (x_int + u) / 2^num_bits − 0.5` in [-0.5, 0.5), see `tfglow.pixels`;
    `distribution()` is a density over this space.
  * **latent**: the flat `eps` of shape `[batch, D]`, distributed N(0, I) under the model.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfglow import checks, keras_mixing, pixels
from tfglow.config import GlowConfig

tfd = tfp.distributions

# Batch taken from an array for ActNorm's data-dependent init when `fit` gets no batch_size.
DEFAULT_INIT_BATCH = 64
# The smallest batch ActNorm's data-dependent initialisation accepts: one image's statistics are
# its own, and scales fitted to them misjudge every other image.
MIN_INIT_BATCH = 2


class PixelFlow:
    """The pixel-space API of a model that holds `config`, `flow_dtype`, `bijector` (a `Glow`)
    and `classifier` (a `ClassifierHead` or `None`), and the Keras hooks both models share
    (`compile`, `call`, `test_step`, `get_config`). It holds no state of its own and imports no
    Keras, so a tf_keras model and a Keras 3 model can both inherit it."""

    # ---- the distribution -------------------------------------------------------------------

    def distribution(self, temperature: float = 1.0) -> tfd.TransformedDistribution:
        """The model's density over flow space: N(0, T²·I) pushed through the flow (z→x).

        Temperature T scales the base standard deviation at every level, as in the Glow paper's
        samples. For a class-conditional model pass the labels through
        `log_prob(y, bijector_kwargs={"labels": labels})` and `sample(n, bijector_kwargs=...)`.
        """
        scale = tf.convert_to_tensor(temperature, self.flow_dtype)
        base = tfd.Sample(
            tfd.Normal(tf.zeros([], self.flow_dtype), scale), sample_shape=[self.config.event_size]
        )
        return tfd.TransformedDistribution(base, self.bijector, name="glow_distribution")

    # ---- pixel-space API ----------------------------------------------------------------------

    def log_prob(self, images, labels=None) -> tf.Tensor:
        """log p(y) in nats of the flow-space density at the pixel-bin centres, `[batch]`."""
        images = checks.images(images, self.config.image_shape)
        labels = self._labels(labels, images)
        return self._log_prob_and_latents(self.to_flow(images), labels)[0]

    def bits_per_dim(self, images, labels=None, dequantize: bool = True, seed=None) -> tf.Tensor:
        """Bits per dimension of each image, `[batch]`: `(−log p(y) + D·log 2^n) / (D·ln 2)`.

        With `dequantize=True` (the papers' held-out figure) the pixels get uniform noise
        `u ~ U[0, 1)`, seeded by `seed` if given; with `False` they sit at the bin centres and the
        result is deterministic.
        """
        images = checks.images(images, self.config.image_shape)
        labels = self._labels(labels, images)
        return self.bits_per_dim_and_latents(images, labels, dequantize=dequantize, seed=seed)[0]

    def encode(self, images, labels=None) -> tf.Tensor:
        """Pixels → the exact flat latent `eps` `[batch, D]` of the bin-centred images (x→z)."""
        images = checks.images(images, self.config.image_shape)
        labels = self._labels(labels, images)
        return self.bijector.inverse(self.to_flow(images), labels=labels)

    def decode(self, eps, labels=None) -> tf.Tensor:
        """Flat latent `[batch, D]` → uint8 images (z→x); inverts `encode` exactly."""
        return pixels.flow_to_images(self.decode_to_flow(eps, labels), self.config.num_bits)

    def decode_to_flow(self, eps, labels=None) -> tf.Tensor:
        """Flat latent `[batch, D]` → continuous flow-space images in [-0.5, 0.5) (z→x)."""
        eps = checks.latents(eps, self.config.event_size, self.flow_dtype)
        return self.bijector.forward(eps, labels=self._labels(labels, eps))

    def standard_normal(self, num_samples: int, seed=None) -> tf.Tensor:
        """The base noise eps ~ N(0, I) `[num_samples, D]` that `sample` scales by its temperature.

        With an integer `seed` the draw is stateless and repeatable: every use of the same seed
        (`sample`, `tfglow.latent`, training's sample grids) sees the same latent directions.
        """
        shape = [checks.positive_int("num_samples", num_samples), self.config.event_size]
        if seed is not None:
            seed = checks.seed(seed)
        if seed is None:
            return tf.random.normal(shape, dtype=self.flow_dtype)
        return tf.random.stateless_normal(shape, seed=[seed, 0], dtype=self.flow_dtype)

    def sample(
        self, num_samples: int, temperature: float = 1.0, seed=None, labels=None
    ) -> tf.Tensor:
        """`num_samples` uint8 images drawn with eps ~ N(0, T²·I) (z→x); `seed` makes it
        repeatable."""
        temperature = checks.temperature(temperature)
        return self.decode(self.standard_normal(num_samples, seed) * temperature, labels)

    def classifier_logits(self, images) -> tf.Tensor:
        """Logits `[batch, num_classes]` of the classifier head (`config.classifier_weight > 0`)."""
        if self.classifier is None:
            raise ValueError(
                "this model has no classifier head: set GlowConfig.classifier_weight "
                f"> 0, got {self.config.classifier_weight}"
            )
        images = checks.images(images, self.config.image_shape)
        # Any label encodes to the same z_top; the head undoes its prior μ, σ.
        labels = tf.zeros(tf.shape(images)[:1], tf.int32)
        eps = self.bijector.inverse(self.to_flow(images), labels=labels)
        return self.classifier.logits(self.bijector, eps, labels)

    # ---- state ------------------------------------------------------------------------------

    @property
    def flow_variables(self) -> list[tf.Variable]:
        """Every variable of the flow and of the classifier head (what a checkpoint must hold)."""
        head = [] if self.classifier is None else list(self.classifier.variables)
        return list(self.bijector.variables) + head

    # ---- initialisation -----------------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        """Whether every ActNorm has had its data-dependent initialisation."""
        return self.bijector.is_initialized

    def initialize(self, images, labels=None):
        """Data-dependent initialisation of every ActNorm (and batch norm) from `images`
        (pixels), once.

        The only way a model initialises (`fit` calls it on its first batch): reading an
        uninitialised model fails instead. The batch must be able to set per-channel statistics:
        at least 2 images, not all of one value. Call outside `strategy.run` (as `fit` does): the
        statistics come from the whole batch and are written to every replica's copy of the
        variables.
        """
        images = checks.images(images, self.config.image_shape)
        count = int(tf.shape(images)[0])
        if count < MIN_INIT_BATCH:
            raise ValueError(
                f"ActNorm's data-dependent initialisation needs a batch of at least "
                f"{MIN_INIT_BATCH} images, got {count}"
            )
        if bool(tf.reduce_min(images) == tf.reduce_max(images)):
            raise ValueError(
                "ActNorm's data-dependent initialisation needs images with varied pixels; every "
                f"pixel of the batch is {int(tf.reduce_min(images))}"
            )
        noise = tf.random.uniform(tf.shape(images), dtype=self.flow_dtype)
        with self.bijector.initializing():
            self._log_prob_and_latents(self.to_flow(images, noise), labels)

    # ---- Keras (both Kerases call these; `KERAS` names the model's own) ------------------------

    KERAS: str  # `keras_mixing.TF_KERAS` or `keras_mixing.KERAS_3`, set by each model class

    def compile(self, *args, **kwargs):
        """`Model.compile`; an optimizer, loss or metric of the other Keras is refused by name."""
        keras_mixing.refuse_other_keras([*args, *kwargs.values()], "compile got", self.KERAS)
        return super().compile(*args, **kwargs)

    def call(self, inputs, training=False):
        """Per-example bits/dim of images, or `(images, labels)`; in training dequantised, with
        the batch norms (if any) in training mode."""
        images, labels = checks.images_and_labels(inputs)
        images = checks.images(images, self.config.image_shape)
        training = bool(training)
        return self.bits_per_dim_and_latents(
            images, labels, dequantize=training, training=training
        )[0]

    def test_step(self, data):
        images, labels = checks.images_and_labels(data)
        return self._update_metrics(*self.per_example_loss(images, labels))

    def _update_metrics(self, per_example_loss, bits, classifier_bits) -> dict:
        """Updates each of the model's `metrics` by name from this step; returns their results."""
        values = {
            "loss": per_example_loss,
            "bits_per_dim": bits,
            "classifier_bits": classifier_bits,
        }
        for metric in self.metrics:
            metric.update_state(values[metric.name])
        return {metric.name: metric.result() for metric in self.metrics}

    def get_config(self):
        """The model's config: its `GlowConfig` as JSON, its dtype and its name."""
        return {"config": self.config.to_json(), "dtype": self.flow_dtype.name, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(
            GlowConfig.from_json(config["config"]), dtype=config["dtype"], name=config["name"]
        )

    # ---- the training loss --------------------------------------------------------------------

    def to_flow(self, images, noise=None) -> tf.Tensor:
        """Pixels → flow space, with dequantisation `noise` in [0, 1) or at the bin centres."""
        return pixels.images_to_flow(images, self.config.num_bits, self.flow_dtype, noise)

    def bits_per_dim_and_latents(
        self, images, labels=None, *, dequantize: bool, seed=None, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-image bits/dim `[batch]` and latents `[batch, D]`, checking only the static shape.

        The loss of a training step: the pixel values are checked where the data enters.
        `training` reaches the flow's batch norms (`tfglow.Glow`).
        """
        images = checks.image_shape(images, self.config.image_shape)
        noise = None
        if dequantize:
            shape = tf.shape(images)
            noise = (
                tf.random.uniform(shape, dtype=self.flow_dtype)
                if seed is None
                else tf.random.stateless_uniform(shape, seed=[seed, 1], dtype=self.flow_dtype)
            )
        log_prob, eps = self._log_prob_and_latents(self.to_flow(images, noise), labels, training)
        return pixels.bits_per_dim(log_prob, self.config.event_size, self.config.num_bits), eps

    def per_example_loss(
        self, images, labels=None, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The training loss per image, with its parts: `(loss, bits/dim, classifier bits)`.

        `loss = bits/dim + classifier_weight · classifier bits` (Glow's `ycond`), with uniform
        dequantisation; the classifier bits are zeros for a model without a head. The pixels are
        checked in the graph (a few reductions per batch), as in every other entry point. With
        `training=True` (a training step: `fit`, or a user's own loop) the flow's batch norms
        normalise with, and update, their running averages; evaluation leaves it `False`.
        """
        images = checks.images(images, self.config.image_shape)
        bits, eps = self.bits_per_dim_and_latents(
            images, labels, dequantize=True, training=training
        )
        if self.classifier is None:
            return bits, bits, tf.zeros_like(bits)
        classifier_bits = self.classifier.bits(self.bijector, eps, labels)
        return bits + self.config.classifier_weight * classifier_bits, bits, classifier_bits

    def _labels(self, labels, batch_reference):
        """`labels` checked against the model's classes and one per row of `batch_reference`."""
        return checks.labels(
            labels, self.config.num_classes, batch_size=tf.shape(batch_reference)[0]
        )

    def _log_prob_and_latents(self, y, labels, training=False):
        # One x→z pass: the log-det comes from TFP's cache of the `inverse` call.
        kwargs = {"labels": labels, "training": training}
        eps = self.bijector.inverse(y, **kwargs)
        log_det = self.bijector.inverse_log_det_jacobian(y, event_ndims=3, **kwargs)
        log_normal = -0.5 * tf.reduce_sum(tf.square(eps), axis=-1) - (
            0.5 * self.config.event_size * math.log(2 * math.pi)
        )
        return log_normal + log_det, eps


def first_batch(x, y=None, batch_size=None) -> tuple:
    """The first batch of `fit`'s input `(x, y)`, for ActNorm's data-dependent initialisation."""
    if isinstance(x, tf.data.Dataset):
        return checks.images_and_labels(next(iter(x.take(1))))
    if isinstance(x, dict):
        x, y = x["images"], x.get("labels", y)
    count = batch_size or DEFAULT_INIT_BATCH
    images = np.asarray(x[:count]) if not tf.is_tensor(x) else x[:count]
    labels = None if y is None else y[:count]
    return images, labels
