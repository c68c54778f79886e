"""Data-dependent initialisation, shared by `ActNorm` and `BatchNormalization`.

A layer that initialises from the first batch it sees holds a boolean variable `initialized`
(saved with every checkpoint, so a restored model is never re-initialised) and a Python switch
`data_dependent_init`. Its variables use `REPLICA_AGREED`: under a `tf.distribute` strategy every
replica holds the first replica's values.
"""

from typing import Callable

import tensorflow as tf

REPLICA_AGREED = dict(
    synchronization=tf.VariableSynchronization.ON_WRITE,
    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
)


def in_replica_context() -> bool:
    """Whether this runs inside one replica of a `tf.distribute` strategy (`strategy.run`)."""
    return tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()


def maybe_initialize(layer, initialize: Callable[[], tf.Tensor]):
    """Runs `initialize()` unless `layer.initialized`; returns what to depend on (a boolean
    tensor, or the check of the flag).

    `initialize` assigns the layer's variables and returns `layer.initialized.assign(True)`; it
    runs only in the initialisation branch. With `layer.data_dependent_init = False` the branch is
    not built, and an uninitialised layer fails with a message that says how to initialise it.

    Inside a replica of a `tf.distribute` strategy (`strategy.run`, Keras `train_step`) the branch
    is not built either: an assignment there would need a cross-replica `merge_call` inside
    `tf.cond`, which TensorFlow does not support, and each replica would see only its share of the
    batch. There the layer must already be initialised (by `GlowModel.initialize` in cross-replica
    context), which is asserted.

    The check is a bare `Assert` on the flag with a string message: `assert_equal` would wrap it
    in a conditional whose branch runs as a function call on every pass of every layer, a cost
    that shows at batch 1.
    """
    if in_replica_context() or not layer.data_dependent_init:
        return tf.debugging.Assert(
            layer.initialized,
            [
                f"{layer.name} is not initialised: call GlowModel.initialize(images) (or fit) on "
                "a batch of real images outside strategy.run, or restore a checkpoint"
            ],
        )
    return tf.cond(layer.initialized, lambda: tf.constant(True), initialize)
