"""The reversible pass runs its layers through shared traced functions (`tfglow.layer_functions`):
the training graph stops growing with depth, and a layer never runs another's computation."""

import gc

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import func_graph  # the class of a traced graph

from tests import flow_testing
from tests.test_narrow_conv import AVX2_FLAGS, _cpu_flags
from tfglow import GlowConfig, GlowModel, bijectors
from tfglow.bijectors import data_init
from tfglow.bijectors.joint_log_det import inverse_and_log_det
from tfglow.layer_functions import _fingerprint
from tfglow.serving import ExportModule

TINY = dict(image_shape=(8, 8, 1), num_levels=2, hidden_channels=8, reversible_gradients=True)


def _training_step_graph(depth: int, batch: int | None = None, **changes):
    """The graph of one reversible loss-and-gradients step of an initialised model, traced at
    `batch` images (`None`: an unknown batch size)."""
    model = GlowModel(GlowConfig(**TINY, steps_per_level=depth, **changes))
    images = flow_testing.random_pixels(batch=4, shape=TINY["image_shape"])
    model.initialize(images)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.bits_per_dim_and_latents(x, dequantize=True, seed=1)[0])
        return tape.gradient(loss, model.trainable_variables)

    return step.get_concrete_function(tf.TensorSpec([batch, 8, 8, 1], tf.uint8)).graph


@pytest.mark.parametrize("architecture", ["glow", "realnvp"])
def test_deeper_flows_add_calls_not_function_bodies(architecture):
    changes = {} if architecture == "glow" else dict(architecture="realnvp", permutation="none")
    shallow, deep = _training_step_graph(2, **changes), _training_step_graph(6, **changes)

    def bodies(graph):
        library = graph.as_graph_def().library.function
        return len(library), sum(len(function.node_def) for function in library)

    assert bodies(deep) == bodies(shallow)

    def calls(graph):  # a body that reads only its arguments is a stateless call
        return [
            op
            for op in graph.get_operations()
            if op.type in ("StatefulPartitionedCall", "PartitionedCall")
        ]

    assert len(calls(deep)) > len(calls(shallow))


def test_shared_layer_functions_keep_a_known_batch_size(monkeypatch):
    """Traced at a known batch (the recipe's batches drop the remainder), the shared functions'
    zero convolutions take `narrow_conv`'s forward product and col2im on AVX2, as inline layers
    do (32 images of 4×4 pixels at level 0); at an unknown batch they stay convolutions."""
    _cpu_flags(monkeypatch, AVX2_FLAGS)

    def body_ops(batch):
        library = _training_step_graph(2, batch=batch).as_graph_def().library.function
        ops = [node.op for f in library if f.attr["_noinline"].b for node in f.node_def]
        assert ops
        return ops.count("Conv2D"), ops.count("DepthwiseConv2dNativeBackpropInput")

    (known_convs, known_col2ims), (open_convs, open_col2ims) = body_ops(32), body_ops(None)
    assert known_convs < open_convs
    assert known_col2ims - open_col2ims == open_convs - known_convs


def _inference_graphs(depth: int, reversible: bool):
    """The graphs of `log_prob` and `decode` of an initialised model, as a validation step,
    `evaluate` or an export traces them."""
    model = GlowModel(
        GlowConfig(**{**TINY, "reversible_gradients": reversible}, steps_per_level=depth)
    )
    model.initialize(flow_testing.random_pixels(batch=4, shape=TINY["image_shape"]))
    log_prob = tf.function(model.log_prob).get_concrete_function(
        tf.TensorSpec([None, 8, 8, 1], tf.uint8)
    )
    decode = tf.function(model.decode).get_concrete_function(
        tf.TensorSpec([None, model.config.event_size], tf.float32)
    )
    return log_prob.graph, decode.graph


def _shared_bodies(graph) -> int:
    """How many of the graph's functions are `LayerFunctions` bodies (marked `_noinline`)."""
    return sum(function.attr["_noinline"].b for function in graph.as_graph_def().library.function)


def test_a_reversible_flows_inference_graphs_add_calls_not_function_bodies():
    shallow, deep = _inference_graphs(2, True), _inference_graphs(6, True)
    for shallow_graph, deep_graph in zip(shallow, deep):
        assert _shared_bodies(deep_graph) == _shared_bodies(shallow_graph) > 0
    # Standard mode keeps its inference inline (no call per layer at batch 1), as does the
    # serving export of a reversible flow.
    for graph in _inference_graphs(2, False):
        assert _shared_bodies(graph) == 0
    model = GlowModel(GlowConfig(**TINY, steps_per_level=2))
    model.initialize(flow_testing.random_pixels(batch=4, shape=TINY["image_shape"]))
    for name, signature in ExportModule(model).signatures().items():
        assert _shared_bodies(signature.graph) == 0, name


def test_a_reversible_flows_traced_inference_equals_the_inline_one():
    images = flow_testing.random_pixels(batch=4, shape=TINY["image_shape"])
    inline, shared = (
        GlowModel(GlowConfig(**{**TINY, "reversible_gradients": flag}, steps_per_level=2))
        for flag in (False, True)
    )
    inline.initialize(images)
    rng = np.random.default_rng(0)
    for source, target in zip(inline.variables, shared.variables):
        if source.trainable:  # move the zero-initialised layers off the identity
            source.assign_add(rng.normal(0, 0.05, source.shape).astype(np.float32))
        target.assign(source)
    assert _shared_bodies(tf.function(shared.encode).get_concrete_function(images).graph) > 0
    latents = tf.function(inline.encode)(images)
    np.testing.assert_allclose(tf.function(shared.encode)(images), latents, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tf.function(shared.log_prob)(images), tf.function(inline.log_prob)(images), rtol=1e-6
    )
    for model in (inline, shared):
        np.testing.assert_array_equal(tf.function(model.decode)(latents), images)


def _trace(layer, x):
    """The fingerprint of `layer`'s x→z as `LayerFunctions` traces it (checks left outside)."""
    if hasattr(layer, "data_dependent_init"):
        layer.data_dependent_init = False
    with data_init.checked_by_caller():
        function = tf.function(
            lambda variables, x: inverse_and_log_det(layer, x), autograph=False
        ).get_concrete_function(list(layer.variables), tf.TensorSpec(x.shape, x.dtype))
    return _fingerprint(function, layer)


def test_only_layers_that_compute_the_same_thing_share_a_trace():
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 4, 4)), tf.float32)
    assert _trace(bijectors.ActNorm(4), x) == _trace(bijectors.ActNorm(4), x)
    lu = [bijectors.InvertibleConv1x1LU(4, seed=seed) for seed in (1, 2)]
    assert _trace(lu[0], x) == _trace(lu[1], x)  # their permutations are variables
    shuffles = [bijectors.ShuffleChannels(4, seed=seed) for seed in (1, 2)]
    assert _trace(shuffles[0], x) == _trace(shuffles[1], x)  # so are theirs
    # A mask's parity is a Python value, so it is in the graph: the two never share.
    masked = [
        bijectors.MaskedAffineCoupling(4, 8, mask="checkerboard", parity=parity, seed=3)
        for parity in (0, 1)
    ]
    assert _trace(masked[0], x) != _trace(masked[1], x)
    assert _trace(bijectors.ActNorm(4), x) != _trace(lu[0], x)


def test_an_uninitialised_reversible_model_names_its_layers_in_a_graph():
    model = GlowModel(GlowConfig(**TINY, steps_per_level=2))
    images = flow_testing.random_pixels(batch=4, shape=TINY["image_shape"])
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"\[step_0_act_norm, .*\] \[is not initialised"
    ):

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.log_prob(x))
            return tape.gradient(loss, model.trainable_variables)

        step(images)
    assert not model.is_initialized


def _traced_graphs_kept(depth: int) -> int:
    """How many traced graphs building and tracing one training step of a reversible model of
    `depth` steps per level leaves alive while the step is kept (its graph and its shared layer
    functions' bodies)."""

    def alive() -> int:
        gc.collect()
        return sum(isinstance(item, func_graph.FuncGraph) for item in gc.get_objects())

    before = alive()
    graph = _training_step_graph(depth)
    kept = alive() - before
    del graph
    return kept


def test_the_per_layer_traces_a_pass_drops_are_freed():
    # Every layer is traced to find the ones that share a function; the others' traces are
    # dropped, and nothing (a gradient registered with TensorFlow, a cache) may keep them.
    assert _traced_graphs_kept(6) == _traced_graphs_kept(2)


def _traced_graphs_left_uncollected(depth: int) -> int:
    """How many more traced graphs than before are alive (kept or garbage) right after building
    and tracing one training step of `depth` steps per level, with Python's automatic garbage
    collection off."""

    def alive() -> int:
        return sum(isinstance(item, func_graph.FuncGraph) for item in gc.get_objects())

    gc.collect()
    before = alive()
    gc.disable()
    try:
        graph = _training_step_graph(depth)
        left = alive() - before
    finally:
        gc.enable()
    del graph
    return left


def test_the_traces_a_pass_drops_are_collected_while_it_traces():
    # A dropped trace is a reference cycle; left to the collector, the hundreds a deep flow drops
    # while tracing its step would be held at once, at the peak of tracing.
    assert _traced_graphs_left_uncollected(6) == _traced_graphs_left_uncollected(2)
