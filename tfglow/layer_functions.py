"""One traced function per distinct layer computation, called with each layer's own variables.

The reversible pass (`Glow` with `reversible_gradients`) keeps no activations, so what still grows
with the depth K is the training graph itself: traced inline, a level of K steps holds K copies of
every layer's ops, and TensorFlow keeps each op twice over (in the traced Python graph, then as a
kernel of the running graph). Here a layer's x→z pass and its backward step
(`inverse_gradient_from_output`) are traced as functions whose arguments include the layer's
variables. Two layers whose traces are the same graph (the same ops, attributes, constants and
edges, names aside) share one function, called with each one's own variables, so the training graph
holds one call per layer and one body per distinct computation: a level's K steps of flow need the
bodies of one. A reversible flow runs its z→x pass (`forward_and_log_det`) and its untaped x→z
passes the same way, so that its validation, sampling and evaluation graphs stay flat too.

The functions carry `_noinline`, which keeps them calls in the running graph (one executor per
function body) instead of being inlined back into K copies.
"""

from __future__ import annotations

import gc
import hashlib

import tensorflow as tf
from tensorflow.python.eager import record  # whether a gradient tape may record this pass

from tfglow import stacked_variables
from tfglow.bijectors import data_init, joint_log_det

_NO_INLINE = {"_noinline": True}
# Node attributes that name something rather than compute: `_class`, colocation with named nodes.
# (A `tf.custom_gradient` would add `_gradient_op_type`, a registry key unique to each trace, so
# no two traces with one would share; the layers use none: `narrow_conv` records its gradients
# on the tape.)
_NAMING_ATTRIBUTES = ("_class",)


class LayerFunctions:
    """Runs layers through shared traced functions; one instance per trace of a pass.

    Where a gradient tape may record, or in every traced pass with `everywhere=True` (what a
    flow with reversible gradients asks for: its validation, sampling and evaluation graphs would
    otherwise grow with K beside a training graph that does not). Otherwise a pass that no tape
    watches (inference, a SavedModel's signatures, `evaluate`) runs its layers inline, which
    spares a function call per layer at batch 1; so does a pass that executes eagerly, where no
    graph is kept. A training-mode pass (`training=True`, a batch norm) runs inline too: its
    batch statistics are summed over replicas, which needs the replica context a function body
    does not have.

    The layers' not-initialised checks are left out of the functions (they name the layer, so no
    two traces would match); `checks` holds one check of all of `data_dependent_layers` instead,
    for the caller to run first.
    """

    def __init__(self, data_dependent_layers=(), everywhere: bool = False):
        self._shared: dict[bytes, object] = {}
        # A pass that initialises writes the variables its layers then read: inline, in order.
        self._inline = (
            tf.executing_eagerly()
            or not (everywhere or record.could_possibly_record())
            or any(data_init.initializes(layer) for layer in data_dependent_layers)
        )
        check = None if self._inline else data_init.check_initialized(data_dependent_layers)
        self.checks = [] if check is None else [check]

    def inverse_and_log_det(
        self, layer, x: tf.Tensor, log_det: tf.Tensor, **kwargs
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`joint_log_det.inverse_and_log_det(layer, x, **kwargs)` (x→z, outside TFP's cache),
        its log-det added to the running `log_det` (inside the call: no op per layer outside)."""
        return self._layer_pass(joint_log_det.inverse_and_log_det, layer, x, log_det, kwargs)

    def forward_and_log_det(
        self, layer, z: tf.Tensor, log_det: tf.Tensor, **kwargs
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`joint_log_det.forward_and_log_det(layer, z, **kwargs)` (z→x, outside TFP's cache),
        its log-det added to the running `log_det`."""
        return self._layer_pass(joint_log_det.forward_and_log_det, layer, z, log_det, kwargs)

    def _layer_pass(self, layer_pass, layer, h: tf.Tensor, log_det: tf.Tensor, kwargs: dict):
        """`summing(layer_pass)(layer, h, log_det, **kwargs)`, inline or through the layer's
        shared function."""
        layer_pass = joint_log_det.summing(layer_pass)
        if self._inline or kwargs.get("training"):
            return layer_pass(layer, h, log_det, **kwargs)
        constants, tensors = _split_kwargs(kwargs)

        def body(variables, h, log_det, tensors):
            del variables  # the layer reads them; the call binds them to this call's arguments
            return layer_pass(layer, h, log_det, **constants, **tensors)

        return self._call(body, layer, h, log_det, tensors)

    def inverse_gradient_from_output(
        self,
        layer,
        z: tf.Tensor,
        output_gradient: tf.Tensor,
        log_det_gradient: tf.Tensor,
        stack_gradients: stacked_variables.StackGradients,
        **kwargs,
    ):
        """`joint_log_det.inverse_gradient_from_output(layer, ...)`: the rebuilt input x (z→x),
        its gradient, and `{variable.ref(): gradient}` of the layer's own trainable variables.
        The gradients of the rows of the stacked variables it reads go to `stack_gradients`,
        written inside the layer's function where it has one."""
        own = [v.ref() for v in stacked_variables.own_variables(layer) if v.trainable]
        trainable_slices = [s for s in stacked_variables.slices(layer) if s.trainable]
        if self._inline or kwargs.get("training"):
            # The rebuild waits for the gradient from the layer above: left unordered, the graph
            # executor would run every rebuild first and hold all the activations at once. (A
            # call waits for all its arguments, `output_gradient` among them.)
            with tf.control_dependencies([output_gradient]):
                z = tf.identity(z)
            x, x_gradient, gradients = joint_log_det.inverse_gradient_from_output(
                layer, z, output_gradient, log_det_gradient, **kwargs
            )
            for stack_slice in trainable_slices:
                stack_gradients.write(stack_slice, gradients.get(stack_slice), output_gradient)
            return x, x_gradient, {key: gradients.get(key) for key in own}
        constants, tensors = _split_kwargs(kwargs)

        def body(variables, z, output_gradient, log_det_gradient, buffers, index, tensors):
            del variables
            x, x_gradient, gradients = joint_log_det.inverse_gradient_from_output(
                layer, z, output_gradient, log_det_gradient, **constants, **tensors
            )
            rows = [gradients.get(s) for s in trainable_slices]
            if buffers:
                (index,) = index
                rows = stacked_variables.write_rows(buffers, index, rows)
            return x, x_gradient, [gradients.get(key) for key in own], rows

        in_place = stack_gradients.in_place and bool(trainable_slices)
        buffers = stack_gradients.buffers(trainable_slices, output_gradient) if in_place else []
        index = [stack_gradients.index(trainable_slices)] if in_place else []
        x, x_gradient, own_gradients, rows = self._call(
            body, layer, z, output_gradient, log_det_gradient, buffers, index, tensors
        )
        if in_place:
            stack_gradients.written(trainable_slices, rows)
        else:
            for stack_slice, row in zip(trainable_slices, rows):
                stack_gradients.write(stack_slice, row, output_gradient)
        return x, x_gradient, dict(zip(own, own_gradients))

    def _call(self, body, layer, *arguments):
        """`body(variables, *arguments)` through the shared function of its trace. The layer's
        own variables are its first argument; the rows of the stacked variables it reads
        (`tfglow.stacked_variables`) are arguments too, bound to its slices while tracing."""
        variables = stacked_variables.own_variables(layer)
        slices = stacked_variables.slices(layer)
        rows = [stack_slice.value() for stack_slice in slices]

        def bound_body(variables, rows, *arguments):
            with stacked_variables.binding(dict(zip(slices, rows))):
                return body(variables, *arguments)

        specs = tf.nest.map_structure(_spec, (rows, *arguments))
        with data_init.checked_by_caller():
            traced = tf.function(
                bound_body, autograph=False, experimental_attributes=_NO_INLINE
            ).get_concrete_function(variables, *specs)
        function = self._shared.setdefault(_fingerprint(traced, layer), traced)
        if function is not traced:
            # A dropped trace is a reference cycle (its graph and ops) that holds the graph's
            # memory until the collector reaches it: collected while young, a deep flow's
            # hundreds of dropped traces do not pile up into the peak of tracing its step.
            del traced
            gc.collect(1)
        return function(variables, rows, *arguments)


def _split_kwargs(kwargs: dict) -> tuple[dict, dict]:
    """Python values (traced into the function) and tensors (its arguments)."""
    constants = {key: value for key, value in kwargs.items() if not tf.is_tensor(value)}
    tensors = {key: value for key, value in kwargs.items() if tf.is_tensor(value)}
    return constants, tensors


def _spec(value: tf.Tensor) -> tf.TensorSpec:
    """The argument's static shape, the batch size included where the pass knows it.

    Every layer of one pass sees the same batch, so a known batch size costs no sharing; and a
    narrow convolution's forward pass chooses its kernel from it (`narrow_conv`), as it does
    when the layer runs inline.
    """
    return tf.TensorSpec(value.shape, value.dtype)


def _fingerprint(function, layer) -> bytes:
    """What the traced `function` computes, names aside: equal only for interchangeable traces.

    It covers every op with its attributes and constants, every edge by position, any nested
    function (their names are unique, so a trace with one is never shared), what the function
    captures from outside (by identity), and the path, shape, dtype and trainability of each
    variable argument (so that the variables bind in the same order).
    """
    graph_def = function.graph.as_graph_def()
    position = {node.name: index for index, node in enumerate(graph_def.node)}

    def source(name: str) -> tuple:
        node, _, port = name.lstrip("^").partition(":")
        return name.startswith("^"), position[node], port

    nodes = [
        (
            node.op,
            node.device,
            [source(name) for name in node.input],
            sorted(
                (key, value.SerializeToString(deterministic=True))
                for key, value in node.attr.items()
                if key not in _NAMING_ATTRIBUTES
            ),
        )
        for node in graph_def.node
    ]
    library = [f.SerializeToString(deterministic=True) for f in graph_def.library.function]
    variables = [
        (path, tuple(v.shape), v.dtype.name, v.trainable)
        for path, v in layer._flatten(
            predicate=_is_variable, with_path=True, expand_composites=True
        )
    ]
    captures = [id(tensor) for tensor in function.captured_inputs]
    return hashlib.sha256(repr((nodes, library, variables, captures)).encode()).digest()


def _is_variable(value) -> bool:
    return isinstance(value, tf.Variable)
