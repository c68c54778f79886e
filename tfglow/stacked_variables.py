"""One `[K, ...]` variable per kind for the K steps of a level, each step reading its slice.

Every trainable variable costs a training process memory whatever its size: the variable, Adam's
two moments, their runtime objects, and their handles and update in the step's graph (measured in
`benchmarks/README.md`). A level of K Glow steps has 14 trainable variables per step, so a deep
flow spends more memory on its variables as such than on their weights. K steps built alike
create their variables in the same order with the same shapes: `StackedSteps` keeps the j-th
trainable variable of every step as slice k of one stacked variable, so that a level holds as
many trainable variables as one step does, at any depth.

The layers are unchanged: built inside `StackedSteps.step(k)`, their `tf.Variable(...)` calls
return a `StackSlice`, which reads, converts and assigns like the variable it stands for.
`tf.Module` finds the stacked variable through it, so a layer's `trainable_variables` are the
stacks it reads from.

A slice read on its own reads the stack and slices its row (a view; the gradient of such a read
is the stack's size, zero but for the row). Inside
`reading(...)`, a pass unstacks each stack once, at its first read, and every slice of it reads
its row of that one `Unpack` (a view, not a copy): one read per stack and pass instead of one per
layer, and one gradient per stack, the rows' gradients stacked. The reversible backward pass,
which computes the rows' gradients one layer at a time, writes them into the stack's gradient as
they come (`StackGradients`).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading

import tensorflow as tf

from tfglow import xla


class Stack(tf.Module):
    """The stacked variable of one kind, `[K, *shape]`, and what its slices were created with."""

    # Each slice leads `tf.Module` to this stack; the stack must not lead back to every slice.
    _TF_MODULE_IGNORED_PROPERTIES = frozenset({"slices", *tf.Module._TF_MODULE_IGNORED_PROPERTIES})

    def __init__(
        self, name: str, shape: tf.TensorShape, dtype: tf.DType, trainable: bool, options: dict
    ):
        super().__init__(name=None)
        self.kind_name = name
        self.trainable = trainable
        self.shape = shape
        self.dtype = dtype
        self.options = options
        self.initial_values: list[tf.Tensor] = []
        self.slices: list[StackSlice] = []
        self.variable: tf.Variable | None = None

    def build(self) -> None:
        """Creates the stacked variable from the slices' initial values, in step order."""
        self.variable = tf.Variable(
            tf.stack(self.initial_values),
            name=self.kind_name,
            trainable=self.trainable,
            **self.options,
        )
        self.variable._tfglow_stack = self  # what `stack_of` reads
        self.initial_values = []


class StackSlice(tf.Module):
    """Row `index` of a `Stack`: where a layer built by `StackedSteps` holds a trainable variable.

    Reads as the row (`value`, conversion to a tensor, arithmetic), assigns to the row only
    (`assign`, as a data-dependent initialisation does), and leads `tf.Module` to the stacked
    variable.
    """

    def __init__(self, stack: Stack, index: int):
        super().__init__(name=None)
        self.stack = stack
        self.index = index

    @property
    def shape(self) -> tf.TensorShape:
        return self.stack.shape

    @property
    def dtype(self) -> tf.DType:
        return self.stack.dtype

    @property
    def trainable(self) -> bool:
        return self.stack.trainable

    @property
    def name(self) -> str:
        return f"{self.stack.kind_name}[{self.index}]"

    def value(self) -> tf.Tensor:
        """The row: the tensor bound to it (`binding`), the pass's one unstack of the stack inside
        `reading`, else gathered."""
        bound = getattr(_READING, "bound", None)
        if bound and self in bound:
            return bound[self]
        rows = _reading_rows(self.stack)
        if rows is not None:
            return rows[self.index]
        return tf.convert_to_tensor(self.stack.variable)[self.index]

    read_value = value

    def numpy(self):
        return self.value().numpy()

    def assign(self, value, read_value: bool = False):
        """Writes `value` to the row; returns `value` once written (for control dependencies).

        The whole stack is written back, dense: a sparse write (`scatter_update`), like a sparse
        read (`tf.gather`), would switch the variable to copying its whole buffer on every later
        read. Only an ActNorm's initialisation writes rows, once, into small stacks.
        """
        value = tf.convert_to_tensor(value, self.dtype)
        stacked = tf.convert_to_tensor(self.stack.variable)
        updated = tf.tensor_scatter_nd_update(stacked, [[self.index]], value[tf.newaxis])
        assigned = self.stack.variable.assign(updated, read_value=False)
        with tf.control_dependencies([] if assigned is None else [assigned]):
            return tf.identity(value)


def _convert(value: StackSlice, dtype=None, name=None, as_ref=False):
    return tf.convert_to_tensor(value.value(), dtype=dtype, name=name)


tf.register_tensor_conversion_function(StackSlice, _convert)


def _delegate(operator: str):
    def method(self, *args):
        return getattr(self.value(), operator)(*args)

    method.__name__ = operator
    return method


for _operator in (
    "__neg__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__pow__",
    "__matmul__",
    "__rmatmul__",
    "__getitem__",
    "__bool__",  # `tf.debugging.Assert(flag)` tests an eager condition with `not`
):
    setattr(StackSlice, _operator, _delegate(_operator))


class StackedSteps(tf.Module):
    """The trainable variables of K steps built alike, one `Stack` per kind.

    ```python
    stacked = StackedSteps(name="level_0_steps")
    for k in range(K):
        with stacked.step(k):
            layers += build_step(k)     # their tf.Variable(...) calls return StackSlices
    stacked.build()                     # creates the [K, ...] variables
    ```

    The j-th trainable variable a step creates joins stack j; every step must create the same
    kinds in the same order (shape, dtype, synchronisation and aggregation), else `ValueError`.
    Non-trainable variables are stacked too (an ActNorm's `initialized` flag, a fixed
    permutation), except those created in `kept_apart()`.
    """

    def __init__(self, name: str = "stacked_steps"):
        super().__init__(name=name)
        self.stacks: list[Stack] = []
        self._steps = 0
        self._scope = tf.get_current_name_scope()

    @contextlib.contextmanager
    def step(self, index: int):
        """Within the block, trainable variables created become slice `index` of the stacks."""
        if index != self._steps:
            raise ValueError(
                f"steps must be built in order: expected step {self._steps}, got {index}"
            )
        created = itertools.count()

        def creator(next_creator, **kwargs):
            if getattr(_APART, "active", False):
                return next_creator(**kwargs)
            return self._slice(index, next(created), kwargs)

        stacking = not getattr(_UNSTACKED, "active", False)
        with tf.variable_creator_scope(creator) if stacking else contextlib.nullcontext():
            yield
        self._steps += 1

    def _slice(self, index: int, kind: int, kwargs: dict) -> StackSlice:
        initial = kwargs["initial_value"]
        if callable(initial):
            initial = initial()
        initial = tf.convert_to_tensor(initial, kwargs.get("dtype"))
        options = {
            "synchronization": kwargs.get("synchronization") or tf.VariableSynchronization.AUTO,
            "aggregation": kwargs.get("aggregation") or tf.VariableAggregation.NONE,
        }
        trainable = kwargs.get("trainable") is not False
        if index == 0:
            name = self._stack_name(kwargs.get("name") or f"variable_{kind}")
            self.stacks.append(Stack(name, initial.shape, initial.dtype, trainable, options))
        if kind >= len(self.stacks):
            raise ValueError(f"step {index} creates more trainable variables than step 0")
        stack = self.stacks[kind]
        if (initial.shape, initial.dtype, trainable, options) != (
            stack.shape,
            stack.dtype,
            stack.trainable,
            stack.options,
        ):
            raise ValueError(
                f"step {index}'s trainable variable {kind} ({kwargs.get('name')}) is "
                f"{initial.dtype.name}{initial.shape.as_list()}, step 0's "
                f"{stack.dtype.name}{stack.shape.as_list()}: the steps are not built alike"
            )
        stack.initial_values.append(initial)
        stack.slices.append(StackSlice(stack, index))
        return stack.slices[-1]

    def _stack_name(self, name: str) -> str:
        """Step 0's variable name below the scope the steps were built in, `step_0` read as
        `steps`: `step_0_act_norm/loc` → `steps_act_norm/loc`."""
        scope = tf.get_current_name_scope()
        if scope.startswith(self._scope):
            scope = scope[len(self._scope) :]
        return re.sub(r"step_0(_|/|$)", r"steps\1", f"{scope.strip('/')}/{name}".lstrip("/"))

    def build(self) -> None:
        """Creates every stack's variable; each step must have created every kind."""
        for stack in self.stacks:
            if len(stack.initial_values) != self._steps:
                raise ValueError(
                    f"{stack.kind_name}: {len(stack.initial_values)} of {self._steps} steps "
                    "created it"
                )
            stack.build()


_READING = threading.local()  # tf.distribute traces each replica in its own thread
_APART = threading.local()
_UNSTACKED = threading.local()


def unstacked():
    """Within the block, `StackedSteps` stacks nothing: every step's layers keep variables of
    their own, as tfglow laid them out before stacking (`tfglow.checkpoint_layout` reads the
    checkpoints of that layout through such a model)."""
    return _raised(_UNSTACKED)


def kept_apart():
    """Within the block, variables created inside `StackedSteps.step` stay variables of their
    own: for a variable written on every pass (a batch norm's moving averages), which a stack
    would rewrite whole."""
    return _raised(_APART)


@contextlib.contextmanager
def _raised(flag: threading.local):
    """Within the block, `flag.active` is `True` (in this thread)."""
    previous = getattr(flag, "active", False)
    flag.active = True
    try:
        yield
    finally:
        flag.active = previous


@contextlib.contextmanager
def reading():
    """Within the block, each stack is read once per graph: unstacked at its first slice's read.
    Inside another `reading` block, that block's reads serve."""
    previous = getattr(_READING, "rows", None)
    if previous is None:
        _READING.rows = {}
    try:
        yield
    finally:
        _READING.rows = previous


def _reading_rows(stack: Stack) -> list[tf.Tensor] | None:
    rows = getattr(_READING, "rows", None)
    if rows is None:
        return None
    graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
    key = (id(graph), id(stack))
    if key not in rows:
        rows[key] = tf.unstack(tf.convert_to_tensor(stack.variable))
    return rows[key]


@contextlib.contextmanager
def binding(rows: dict):
    """Within the block, each `StackSlice` in `rows` reads as its tensor there (a traced
    function's argument)."""
    previous = getattr(_READING, "bound", None)
    _READING.bound = {**(previous or {}), **rows}
    try:
        yield
    finally:
        _READING.bound = previous


class StackGradients:
    """The stacks' gradients that a backward pass computes row by row, one per stack.

    Stacking a level's row gradients (`tf.stack`) would hold every row until the last one exists
    and then copy them all: a second copy of the level's gradient at the peak of a reversible
    step. Here each stack's gradient is one `[K, ...]` buffer, zero-filled when its first row
    arrives, and each row is written into it as soon as it exists (`write_rows`), then freed. A
    shared layer function writes its rows itself (`buffers` in, `written` out), so the writes
    add no node per row to the caller's graph. Under XLA, which compiles no in-place write and
    plans its own buffers, the rows are kept and stacked.
    """

    def __init__(self):
        self.in_place = not xla.compiling()
        self._buffers: dict[Stack, tf.Tensor] = {}
        self._rows: dict[Stack, dict[int, tf.Tensor]] = {}
        self._indices: dict[int, tf.Tensor] = {}

    def buffers(self, slices_: list[StackSlice], after: tf.Tensor) -> list[tf.Tensor]:
        """The current buffer of each slice's stack; a stack's first is created after `after`
        (the gradient reaching the layer), not at the start of the step."""
        for stack_slice in slices_:
            stack = stack_slice.stack
            if stack not in self._buffers:
                with tf.control_dependencies([after]):
                    self._buffers[stack] = tf.raw_ops.Empty(
                        shape=[len(stack.slices), *stack.shape], dtype=stack.dtype, init=True
                    )
        return [self._buffers[s.stack] for s in slices_]

    def index(self, slices_: list[StackSlice]) -> tf.Tensor:
        """The row the slices share (one step's), as an int32 `[1]`: one per row in the graph.

        A `PlaceholderWithDefault`, not a constant: Grappler specialises a function for the
        constant arguments of each call, which would give every step a body of its own.
        """
        (index,) = {s.index for s in slices_}
        if index not in self._indices:
            self._indices[index] = tf.raw_ops.PlaceholderWithDefault(
                input=tf.constant([index], tf.int32), shape=[1]
            )
        return self._indices[index]

    def written(self, slices_: list[StackSlice], buffers: list[tf.Tensor]) -> None:
        """Takes the buffers a layer function returned with its rows written."""
        for stack_slice, buffer in zip(slices_, buffers):
            self._buffers[stack_slice.stack] = buffer

    def write(self, stack_slice: StackSlice, row: tf.Tensor | None, after: tf.Tensor) -> None:
        """Writes one row's gradient (`None`: zero) computed outside a layer function."""
        if row is None:
            return
        if not self.in_place:
            self._rows.setdefault(stack_slice.stack, {})[stack_slice.index] = row
            return
        buffers = self.buffers([stack_slice], after)
        (self._buffers[stack_slice.stack],) = write_rows(buffers, self.index([stack_slice]), [row])

    def gradient(self, stack: Stack) -> tf.Tensor:
        """The stack's gradient: zero in every row no gradient was written to."""
        if stack in self._buffers:
            return self._buffers[stack]
        rows = self._rows.get(stack, {})
        zero = tf.zeros(stack.shape, stack.dtype)
        return tf.stack([rows.get(k, zero) for k in range(len(stack.slices))])


def write_rows(buffers: list[tf.Tensor], index: tf.Tensor, rows: list) -> list[tf.Tensor]:
    """Each buffer with row `index` (int32 `[1]`) set to its row (`None`: unchanged), written in
    place, with a few ops per row: in a shared layer function, each op of its body is kept
    several times over (traced, instantiated, optimised).

    `InplaceUpdate` aliases its input: the caller must hold a buffer only to pass it here.
    """
    axis = tf.constant(0)
    return [
        buffer
        if row is None
        else tf.raw_ops.InplaceUpdate(
            x=buffer, i=index, v=tf.expand_dims(tf.convert_to_tensor(row, buffer.dtype), axis)
        )
        for buffer, row in zip(buffers, rows)
    ]


def stack_of(variable) -> Stack | None:
    """The `Stack` whose variable `variable` is, or `None` for a variable of its own."""
    return getattr(variable, "_tfglow_stack", None)


def slices(module: tf.Module) -> list[StackSlice]:
    """The `StackSlice`s `module` holds, in `tf.Module`'s order."""
    return list(module._flatten(predicate=lambda leaf: isinstance(leaf, StackSlice)))


def own_variables(module: tf.Module) -> list[tf.Variable]:
    """`module.variables` without the stacked variables its slices lead to."""
    return [v for v in module.variables if stack_of(v) is None]


def trainable_parameters(module: tf.Module) -> tuple[list, list]:
    """What a gradient of `module`'s computation is taken with respect to: `(keys, sources)`,
    a variable of its own as `(variable.ref(), variable)`, a slice as `(slice, its row)`."""
    own = [v for v in module.trainable_variables if stack_of(v) is None]
    module_slices = [s for s in slices(module) if s.trainable]
    return (
        [v.ref() for v in own] + module_slices,
        own + [stack_slice.value() for stack_slice in module_slices],
    )
