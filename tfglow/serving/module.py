"""`ExportModule`: the serving signatures of a `GlowModel` as `tf.function`s with explicit specs.

Every signature takes a dynamic batch dimension and validates its request inside the graph, so a
bad request fails with an `InvalidArgumentError` that says what was wrong (TF Serving passes the
message on to the client). Directions follow TFP: `encode` is x→z, `decode` and `sample` are z→x.
"""

import tensorflow as tf

from tfglow import checks, pixels
from tfglow.pixel_flow import PixelFlow

SIGNATURE_NAMES = ("serving_default", "log_prob", "encode", "decode", "sample", "sample_seeded")


class ExportModule(tf.Module):
    """Wraps a `GlowModel` for `tf.saved_model.save`; `signatures()` maps names to concrete
    functions.

    Only the model's variables are tracked, so the SavedModel holds plain TensorFlow graphs and
    variables: loading it needs neither tfglow nor TensorFlow Probability.

    Inputs and outputs (B is the dynamic batch size, D = H·W·C):
      * `log_prob` / `serving_default`: `images` uint8 `[B, H, W, C]` → `log_prob` float32 `[B]`
        (nats, the flow-space density at the pixel-bin centres) and `bits_per_dim` float32 `[B]`
        (deterministic, at the bin centres).
      * `encode`: `images` → `z` float32 `[B, D]` and `z_level_<i>` float32 `[B, h_i, w_i, c_i]`
        (the same numbers, one output per level; `z` concatenates their flattenings in level order).
      * `decode`: `z` float32 `[B, D]` → `images` uint8 `[B, H, W, C]` and `flow_images` float32
        (the continuous output in [-0.5, 0.5)).
      * `sample`: `temperature` float32 `[B]` → `images`, one image per entry, eps ~ N(0, T²·I).
      * `sample_seeded`: `temperature` float32 `[B]`, `seed` int64 `[B]` → `images`; row i is
        `GlowModel.sample(1, temperature[i], seed=seed[i])`, whatever else is in the batch.
    A class-conditional model (`config.num_classes`) also takes `labels` int32 `[B]` in all of them.
    """

    def __init__(self, model: PixelFlow, name: str = "glow_export"):
        super().__init__(name=name)
        if not isinstance(model, PixelFlow):
            raise TypeError(
                f"model must be a tfglow.GlowModel or tfglow.keras.GlowModel, got "
                f"{type(model).__name__}"
            )
        if model.flow_dtype != tf.float32:
            raise ValueError(f"only float32 models can be exported, got {model.flow_dtype.name}")
        if not model.is_initialized:
            raise ValueError(
                "the model's ActNorm layers were never initialised: train it, call "
                "model.initialize(images), or restore a checkpoint before exporting"
            )
        # Not tracked: a tracked Keras model would bring its own serialisation into the SavedModel.
        object.__setattr__(self, "_model", model)
        self.model_variables = model.flow_variables
        self.config = model.config
        self._conditional = model.config.num_classes is not None

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The concrete functions to pass as `tf.saved_model.save(..., signatures=...)`."""
        height, width, channels = self.config.image_shape
        images = tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")
        latents = tf.TensorSpec([None, self.config.event_size], tf.float32, name="z")
        temperature = tf.TensorSpec([None], tf.float32, name="temperature")
        seed = tf.TensorSpec([None], tf.int64, name="seed")
        labels = [tf.TensorSpec([None], tf.int32, name="labels")] if self._conditional else []
        # Inline layers whatever `reversible_gradients` says: serving pays no call per layer.
        with self._model.bijector.layers_inline():
            log_prob = _trace(self._log_prob, images, *labels)
            return {
                "serving_default": log_prob,
                "log_prob": log_prob,
                "encode": _trace(self._encode, images, *labels),
                "decode": _trace(self._decode, latents, *labels),
                "sample": _trace(self._sample, temperature, *labels),
                "sample_seeded": _trace(self._sample_seeded, temperature, seed, *labels),
            }

    # ---- signatures ---------------------------------------------------------------------------
    # Images and labels are checked by the model's own methods (`tfglow.checks`, in the graph);
    # what only a signature takes (z by its name, temperature, seed) is checked here.

    def _log_prob(self, images, labels=None):
        log_prob = self._model.log_prob(images, labels)
        bits = pixels.bits_per_dim(log_prob, self.config.event_size, self.config.num_bits)
        return {"log_prob": log_prob, "bits_per_dim": bits}

    def _encode(self, images, labels=None):
        z = tf.ensure_shape(self._model.encode(images, labels), [None, self.config.event_size])
        outputs = {"z": z}
        for level, piece in enumerate(self.config.layout.split(z)):
            outputs[f"z_level_{level}"] = piece
        return outputs

    def _decode(self, z, labels=None):
        z = checks.latents(z, self.config.event_size, name="z")
        flow_images = self._model.decode_to_flow(z, labels)
        return {
            "images": pixels.flow_to_images(flow_images, self.config.num_bits),
            "flow_images": flow_images,
        }

    def _sample(self, temperature, labels=None):
        temperature = checks.temperature_tensor(temperature)
        # The clock joins the stateful op in the seed: an op seed fixed at export time (by
        # tf.random.set_seed) would otherwise replay the same images after every server restart.
        seed = tf.stack(
            [
                tf.cast(tf.timestamp() * 1e6, tf.int64),
                tf.random.uniform([], maxval=tf.int64.max, dtype=tf.int64),
            ]
        )
        eps = tf.random.stateless_normal([tf.shape(temperature)[0], self.config.event_size], seed)
        return {"images": self._model.decode(eps * temperature[:, tf.newaxis], labels)}

    def _sample_seeded(self, temperature, seed, labels=None):
        temperature = checks.temperature_tensor(temperature)
        seed = checks.shape_in_graph(seed, [None], "seed must have shape [batch]")
        with tf.control_dependencies(
            [_assert_same_batch(seed, temperature, "seed", "temperature")]
        ):
            seed = tf.identity(seed)
        # One stateless draw per row, seeded as GlowModel.sample(1, T, seed): a row's image depends
        # on its own (seed, temperature) only.
        eps = tf.map_fn(
            lambda row_seed: tf.random.stateless_normal(
                [self.config.event_size], seed=tf.stack([row_seed, tf.zeros([], tf.int64)])
            ),
            seed,
            fn_output_signature=tf.float32,
        )
        return {"images": self._model.decode(eps * temperature[:, tf.newaxis], labels)}


def _trace(method, *specs: tf.TensorSpec) -> tf.types.experimental.ConcreteFunction:
    # No autograph: nothing here branches on tensors, and converting the flow only slows tracing.
    return tf.function(method, autograph=False).get_concrete_function(*specs)


def _assert_same_batch(tensor, reference, name, reference_name):
    return tf.debugging.assert_equal(
        tf.shape(tensor)[0],
        tf.shape(reference)[0],
        message=f"{name} must have one entry per row of {reference_name}",
    )
