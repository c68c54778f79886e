"""`GlowModel`: a `tf_keras.Model` that owns a `Glow` flow and trains it on pixels with `fit`."""

import tensorflow as tf
import tf_keras

from tfglow import checks, keras_mixing
from tfglow.classifier_head import ClassifierHead
from tfglow.config import GlowConfig
from tfglow.glow import Glow
from tfglow.keras_mixing import TF_KERAS
from tfglow.pixel_flow import PixelFlow, first_batch


class GlowModel(PixelFlow, tf_keras.Model):
    """A Glow-family flow over images, trainable with `compile`/`fit`.

    The pixel-space API (`log_prob`, `bits_per_dim`, `encode`, `decode`, `sample`,
    `distribution`, the three spaces) is `tfglow.pixel_flow.PixelFlow`'s. The model owns the
    variables; `distribution(temperature)` builds a fresh `tfd.TransformedDistribution` on them
    each call. `fit` minimises bits/dim with uniform dequantisation; before the first step it runs
    ActNorm's data-dependent initialisation on the first batch (in cross-replica context, so every
    replica of a `tf.distribute` strategy holds the same values). A class-conditional model
    (`config.num_classes`) takes `labels` (int, `[batch]`) in `log_prob`, `bits_per_dim`,
    `encode`, `decode`, `sample`, and `fit(images, labels)`; with `config.classifier_weight > 0`
    it also trains Glow's classifier head on the top latent (`tfglow.ClassifierHead`).

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

    KERAS = TF_KERAS

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
        self.bijector.data_dependent_init = False  # only `initialize` and `fit` initialise
        self.bits_per_dim_tracker = tf_keras.metrics.Mean(name="bits_per_dim")
        self.classifier = None
        if config.classifier_weight > 0:
            self.classifier = ClassifierHead(
                config.num_classes, config.layout.top_shape[-1], dtype=self.flow_dtype
            )
            self.classifier_bits_tracker = tf_keras.metrics.Mean(name="classifier_bits")
        self.built = True

    @property
    def metrics(self):
        if self.classifier is None:
            return [self.bits_per_dim_tracker]
        return [self.bits_per_dim_tracker, self.classifier_bits_tracker]

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`tf_keras.Model.fit` on uint8 images (and labels), after ActNorm's data-dependent init
        and with the optimizer's slots built.

        A Keras 3 callback is refused by name.
        """
        keras_mixing.refuse_other_keras_callbacks(kwargs.get("callbacks"), TF_KERAS)
        if not self.is_initialized:
            self.initialize(*first_batch(x, y, batch_size))
        optimizer = getattr(self, "optimizer", None)
        if isinstance(optimizer, tf_keras.optimizers.Optimizer):
            # Slots created inside the first trace of the train function make `tf.function` trace
            # the whole step a second time and keep both graphs; built here, it traces once.
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)
        return super().fit(x, y, batch_size=batch_size, **kwargs)

    def train_step(self, data):
        images, labels = checks.images_and_labels(data)
        with tf.GradientTape() as tape:
            per_example_loss, bits, classifier_bits = self.per_example_loss(
                images, labels, training=True
            )
            loss = tf.nn.compute_average_loss(per_example_loss)
        gradients = tape.gradient(loss, self.trainable_variables)
        # A sum over one replica is the gradient itself; tf_keras's would still wrap every
        # gradient in a `tf.custom_gradient` all-reduce, nodes per variable in the step's graph.
        self.optimizer.apply_gradients(
            zip(gradients, self.trainable_variables),
            skip_gradients_aggregation=self.distribute_strategy.num_replicas_in_sync == 1,
        )
        return self._update_metrics(per_example_loss, bits, classifier_bits)
