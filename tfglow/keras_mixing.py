"""When the two Kerases meet: tf_keras objects in a Keras 3 model, or Keras 3 objects in tf_keras.

`pip install tensorflow` gives Keras 3 as `keras` and as `tf.keras`; TensorFlow Probability's
Keras, and so `tfglow.GlowModel`, is tf_keras. An optimizer, loss or callback of one handed to a
model of the other fails deep inside Keras with an error that does not say so. These checks fail
at once and name the object and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable

TF_KERAS = "tf_keras"
KERAS_3 = "keras"

# The fix, by the Keras of the model that was handed the other's object.
_FIX = {
    TF_KERAS: "pass tf_keras objects (tf_keras.optimizers.Adam, tf_keras.callbacks.*) to "
    "tfglow.GlowModel, or use tfglow.keras.GlowModel, the Keras 3 model, with Keras 3 objects",
    KERAS_3: "pass Keras 3 objects (keras.optimizers.Adam, keras.callbacks.*) to "
    "tfglow.keras.GlowModel, or use tfglow.GlowModel, the tf_keras model, with tf_keras objects",
}


def keras_of(obj) -> str | None:
    """`"tf_keras"`, `"keras"` (Keras 3) or `None`, by the package that defines `obj`'s class."""
    module = type(obj).__module__ or ""
    root = module.split(".", 1)[0]
    return root if root in (TF_KERAS, KERAS_3) else None


def refuse_other_keras(objects: Iterable, role: str, model_keras: str) -> None:
    """Raises `TypeError` if any of `objects` belongs to the Keras that `model_keras` is not.

    Lists, tuples and dict values among `objects` (Keras' `metrics=[...]`) are looked into.
    """
    for obj in _flatten(objects):
        other = keras_of(obj)
        if other is not None and other != model_keras:
            raise TypeError(
                f"{role} {type(obj).__module__}.{type(obj).__name__} is a "
                f"{'Keras 3' if other == KERAS_3 else 'tf_keras'} object, but this model is "
                f"{'a Keras 3' if model_keras == KERAS_3 else 'a tf_keras'} model: "
                f"{_FIX[model_keras]}"
            )


def refuse_other_keras_callbacks(callbacks, model_keras: str) -> None:
    """`refuse_other_keras` for `callbacks=`: a list, or one object (Keras' own CallbackList)."""
    if callbacks is not None:
        refuse_other_keras(
            callbacks if isinstance(callbacks, (list, tuple)) else [callbacks],
            "callback",
            model_keras,
        )


def _flatten(objects: Iterable) -> list:
    flat = []
    for obj in objects:
        if isinstance(obj, (list, tuple)):
            flat += _flatten(obj)
        elif isinstance(obj, dict):
            flat += _flatten(obj.values())
        else:
            flat.append(obj)
    return flat
