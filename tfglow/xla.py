"""Whether the graph being built is compiled by XLA, for the few ops XLA does not compile."""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util


def compiling() -> bool:
    """Whether the graph being built will be compiled by XLA (`tf.function(jit_compile=True)`,
    Keras `compile(jit_compile=True)`)."""
    return not tf.executing_eagerly() and control_flow_util.GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    )
