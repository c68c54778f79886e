"""Data-dependent initialisation, shared by `ActNorm` and `BatchNormalization`.

A layer that initialises from the first batch it sees holds a boolean variable `initialized`
(saved with every checkpoint, so a restored model is never re-initialised) and a Python switch
`data_dependent_init`. Its variables use `REPLICA_AGREED`: under a `tf.distribute` strategy every
replica holds the first replica's values.
"""

import contextlib
import threading
from typing import Callable

import tensorflow as tf

from tfglow import xla

REPLICA_AGREED = dict(
    synchronization=tf.VariableSynchronization.ON_WRITE,
    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
)


_CALLER = threading.local()  # tf.distribute traces each replica in its own thread


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
    if not initializes(layer):
        if getattr(_CALLER, "checks", False):
            return layer.initialized.value()
        return tf.debugging.Assert(layer.initialized, [f"{layer.name} {_NOT_INITIALISED}"])
    return tf.cond(layer.initialized, lambda: tf.constant(True), initialize)


_NOT_INITIALISED = (
    "is not initialised: call GlowModel.initialize(images) (or fit) on a batch of real images "
    "outside strategy.run, or restore a checkpoint"
)


def initializes(layer) -> bool:
    """Whether `maybe_initialize` builds `layer`'s initialisation here (else it checks the flag)."""
    return layer.data_dependent_init and not in_replica_context()


@contextlib.contextmanager
def checked_by_caller():
    """Within the block, `maybe_initialize` leaves the not-initialised check to the caller
    (`check_initialized`), so that a layer's traced computation does not contain its name."""
    previous = getattr(_CALLER, "checks", False)
    _CALLER.checks = True
    try:
        yield
    finally:
        _CALLER.checks = previous


def check_initialized(layers) -> tf.Operation | None:
    """One check, for every layer of `layers` that `maybe_initialize` would check, that all are
    initialised; the error names those that are not. `None` if no layer is checked."""
    checked = [layer for layer in layers if not initializes(layer)]
    if not checked:
        return None
    flags = tf.stack([layer.initialized.value() for layer in checked])
    if xla.compiling():  # which compiles no string op, and drops an `Assert`
        return tf.debugging.Assert(tf.reduce_all(flags), [f"a layer {_NOT_INITIALISED}"])
    names = tf.constant([layer.name for layer in checked])
    return tf.debugging.Assert(
        tf.reduce_all(flags),
        [tf.strings.reduce_join(tf.boolean_mask(names, ~flags), separator=", "), _NOT_INITIALISED],
    )
