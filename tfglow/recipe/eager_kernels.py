"""Releasing the kernels TensorFlow keeps for ops it ran eagerly, once a model is built."""

from __future__ import annotations

from tensorflow.python.eager import context  # the cache has no public handle


def release_eager_kernel_cache() -> None:
    """Empties TensorFlow's cache of the kernels of eagerly run ops.

    Eager TensorFlow keeps the kernel of every op it has run, keyed by the op's attributes, for
    the life of the process. A variable's handle op carries the variable's name as an attribute,
    so every named variable leaves a kernel of its own there (tens of kilobytes each): a flow's
    K steps of flow and its optimizer's slots add thousands, which makes the process grow with
    the depth beside the weights. The kernels are rebuilt on demand, so nothing is lost but the
    time to rebuild one.

    Emptying the cache also resets stateful kernels, as `tf_keras.backend.clear_session()` does:
    an eager random op given an op-level seed (`tf.random.normal(shape, seed=1)`) starts its
    sequence again. Ops inside a `tf.function` are not affected. `tfglow.recipe.train` calls this
    once, after the model, its optimizer's slots and any restored checkpoint exist; call it at
    that point in a training script of your own.
    """
    context.context().clear_kernel_cache()
