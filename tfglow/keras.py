"""`tfglow.keras.GlowModel`: the flow as a Keras 3 model (TensorFlow backend).

The same pixel-space API and training loss as `tfglow.GlowModel` (both inherit
`tfglow.pixel_flow.PixelFlow`), for users of `keras` 3 (what `pip install tensorflow` gives as
`keras` and `tf.keras`): `compile` with `keras.optimizers.*`, `fit`, `evaluate`, `predict`, Keras 3
callbacks, `save_weights`/`load_weights` and `model.save("x.keras")`/`keras.models.load_model`.

The flow's layers are TFP bijectors holding `tf.Variable`s, which a Keras 3 model does not track on
its own. This model lists them in `trainable_weights` and `weights`, takes their gradients in its
`train_step`, and writes and reads them in `save_own_variables`/`load_own_variables`, so that every
Keras 3 way of saving carries the whole flow.

```python
import keras
import tfglow.keras

model = tfglow.keras.GlowModel(tfglow.GlowConfig.preset("mnist_cpu"))
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.fit(images, batch_size=64, epochs=1, validation_data=(test_images,),
          callbacks=[keras.callbacks.EarlyStopping("val_bits_per_dim", mode="min", patience=2)])
model.save_weights("glow.weights.h5")
```
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfglow import checks, keras_mixing
from tfglow.classifier_head import ClassifierHead
from tfglow.config import GlowConfig
from tfglow.glow import Glow
from tfglow.keras_mixing import KERAS_3
from tfglow.pixel_flow import PixelFlow, first_batch

# Prefix of the flow's variables in a Keras 3 weights store, beside Keras' own numbered entries.
_STORE_PREFIX = "tfglow_flow_"


@keras.saving.register_keras_serializable(package="tfglow", name="GlowModel")
class GlowModel(PixelFlow, keras.Model):
    """A Glow-family flow over images as a Keras 3 model; see `tfglow.GlowModel` for the API.

    #### Examples

    ```python
    model = tfglow.keras.GlowModel(tfglow.GlowConfig.preset("mnist_cpu"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(train_images_uint8, batch_size=64, epochs=1)
    model.bits_per_dim(test_images)          # [batch], held-out bits/dim
    ```
    """

    KERAS = KERAS_3

    def __init__(self, config: GlowConfig, dtype="float32", name: str = "glow_model", **kwargs):
        """Builds the flow and its variables.

        Args:
          config: the `tfglow.GlowConfig` of the flow.
          dtype: the floating dtype of the flow. Default value: `"float32"`.
          name: Python `str`, the model's name. Default value: `"glow_model"`.
          **kwargs: passed to `keras.Model`.
        """
        super().__init__(name=name, **kwargs)
        if not isinstance(config, GlowConfig):
            raise TypeError(f"config must be a tfglow.GlowConfig, got {type(config).__name__}")
        # Set past Keras 3's attribute tracking, which knows neither tf.Modules nor tf_keras.
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "flow_dtype", tf.as_dtype(dtype))
        object.__setattr__(self, "bijector", Glow(config, dtype=self.flow_dtype))
        self.bijector.data_dependent_init = False  # only `initialize` and `fit` initialise
        classifier = None
        if config.classifier_weight > 0:
            classifier = ClassifierHead(
                config.num_classes, config.layout.top_shape[-1], dtype=self.flow_dtype
            )
        object.__setattr__(self, "classifier", classifier)
        # `loss` as Keras users expect it (`EarlyStopping()` watches `val_loss`): bits/dim, plus
        # the weighted classifier bits of a model with a head.
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
        self.classifier_bits_tracker = (
            keras.metrics.Mean(name="classifier_bits") if classifier is not None else None
        )
        self.built = True

    # ---- the flow's variables, for Keras 3 ---------------------------------------------------

    @property
    def weights(self):
        # Keras 3 derives `trainable_weights` and `non_trainable_weights` from this list.
        return self.flow_variables + super().weights

    # The model owns no Keras variables itself (the metrics save their own), so its store entry
    # holds the flow's variables alone.
    def save_own_variables(self, store):
        for index, variable in enumerate(self.flow_variables):
            store[f"{_STORE_PREFIX}{index}"] = variable.numpy()

    def load_own_variables(self, store):
        variables = self.flow_variables
        saved = [key for key in store.keys() if key.startswith(_STORE_PREFIX)]
        if len(saved) != len(variables):
            raise ValueError(
                f"the weights file holds {len(saved)} flow variables, this model has "
                f"{len(variables)}: it was saved from another GlowConfig"
            )
        for index, variable in enumerate(variables):
            value = np.asarray(store[f"{_STORE_PREFIX}{index}"])
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"saved flow variable {index} has shape {value.shape}, {variable.name} has "
                    f"{tuple(variable.shape)}: the weights come from another GlowConfig"
                )
            variable.assign(value)

    # ---- Keras ----------------------------------------------------------------------------------

    def compile_from_config(self, config):
        """Compiles a model loaded by `keras.models.load_model` as it was saved."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None:
            self.optimizer.build(self.trainable_weights)

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.fit` on uint8 images (and labels), after ActNorm's data-dependent init."""
        keras_mixing.refuse_other_keras_callbacks(kwargs.get("callbacks"), KERAS_3)
        if not self.is_initialized:
            self.initialize(*first_batch(x, y, batch_size))
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            # Built here, in the model's strategy: built lazily inside a replica, the optimizer
            # would key the flow's mirrored variables by their per-replica copies.
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_weights)
        return super().fit(x, y, batch_size=batch_size, **kwargs)

    def evaluate(self, *args, **kwargs):
        keras_mixing.refuse_other_keras_callbacks(kwargs.get("callbacks"), KERAS_3)
        return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        keras_mixing.refuse_other_keras_callbacks(kwargs.get("callbacks"), KERAS_3)
        return super().predict(*args, **kwargs)

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.bits_per_dim_tracker, self.classifier_bits_tracker]
        return [tracker for tracker in trackers if tracker is not None]

    def train_step(self, data):
        images, labels = checks.images_and_labels(data)
        variables = [v for v in self.flow_variables if v.trainable]
        with tf.GradientTape() as tape:
            per_example_loss, bits, classifier_bits = self.per_example_loss(
                images, labels, training=True
            )
            loss = tf.nn.compute_average_loss(per_example_loss)
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._update_metrics(per_example_loss, bits, classifier_bits)

    def predict_step(self, data):
        return self(data, training=False)
