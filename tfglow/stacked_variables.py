"""One `[K, ...]` variable per kind for the K steps of a level, each step reading its slice.

Every trainable variable costs a training process about 125 KB whatever its size (the variable,
Adam's two moments, their runtime objects, and their handles and update in the step's graph;
`benchmarks/README.md`). A level of K Glow steps has 14 trainable variables per step, so a deep
flow spends more memory on its variables as such than on their weights. K steps built alike
create their variables in the same order with the same shapes: `StackedSteps` keeps the j-th
trainable variable of every step as slice k of one stacked variable, so that a level holds as
many trainable variables as one step does, at any depth.

The layers are unchanged: built inside `StackedSteps.step(k)`, their `tf.Variable(...)` calls
return a `StackSlice`, which reads, converts and assigns like the variable it stands for.
`tf.Module` finds the stacked variable through it, so a layer's `trainable_variables` are the
stacks it reads from.

A slice read on its own gathers its row (`tf.gather`, whose gradient is that row alone). Inside
`reading(...)`, a pass unstacks each stack once, at its first read, and every slice of it reads
its row of that one `Unpack` (a view, not a copy): one read per stack and pass instead of one per
layer, and one gradient per stack, the rows' gradients stacked.
"""

from __future__ import annotations

import contextlib
import itertools
import threading

import tensorflow as tf


class Stack(tf.Module):
    """The stacked variable of one kind, `[K, *shape]`, and what its slices were created with."""

    def __init__(self, name: str, shape: tf.TensorShape, dtype: tf.DType, options: dict):
        super().__init__(name=None)
        self.kind_name = name
        self.shape = shape
        self.dtype = dtype
        self.options = options
        self.initial_values: list[tf.Tensor] = []
        self.variable: tf.Variable | None = None

    def build(self) -> None:
        """Creates the stacked variable from the slices' initial values, in step order."""
        self.variable = tf.Variable(
            tf.stack(self.initial_values), name=self.kind_name, trainable=True, **self.options
        )
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
        return True

    @property
    def name(self) -> str:
        return f"{self.stack.kind_name}[{self.index}]"

    def value(self) -> tf.Tensor:
        """The row: from the pass's one unstack of the stack inside `reading`, else gathered."""
        rows = _reading_rows(self.stack)
        if rows is not None:
            return rows[self.index]
        return tf.gather(self.stack.variable, self.index)

    read_value = value

    def numpy(self):
        return self.value().numpy()

    def assign(self, value, read_value: bool = False):
        """Writes `value` to the row; returns the update (for control dependencies)."""
        value = tf.convert_to_tensor(value, self.dtype)
        return self.stack.variable.scatter_update(
            tf.IndexedSlices(value[tf.newaxis], tf.constant([self.index]))
        )


def _convert(value: StackSlice, dtype=None, name=None, as_ref=False):
    return tf.convert_to_tensor(value.value(), dtype=dtype, name=name)


tf.register_tensor_conversion_function(StackSlice, _convert)


def _delegate(operator: str):
    def method(self, *args):
        return getattr(tf.Tensor, operator)(self.value(), *args)

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
    Non-trainable variables (an ActNorm's `initialized` flag, a permutation) stay variables of
    their own.
    """

    def __init__(self, name: str = "stacked_steps"):
        super().__init__(name=name)
        self.stacks: list[Stack] = []
        self._steps = 0

    @contextlib.contextmanager
    def step(self, index: int):
        """Within the block, trainable variables created become slice `index` of the stacks."""
        if index != self._steps:
            raise ValueError(
                f"steps must be built in order: expected step {self._steps}, got {index}"
            )
        created = itertools.count()

        def creator(next_creator, **kwargs):
            if kwargs.get("trainable") is False:
                return next_creator(**kwargs)
            return self._slice(index, next(created), kwargs)

        with tf.variable_creator_scope(creator):
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
        if index == 0:
            name = f"{kwargs.get('name') or 'variable'}_{kind}"
            self.stacks.append(Stack(name, initial.shape, initial.dtype, options))
        if kind >= len(self.stacks):
            raise ValueError(f"step {index} creates more trainable variables than step 0")
        stack = self.stacks[kind]
        if (initial.shape, initial.dtype, options) != (stack.shape, stack.dtype, stack.options):
            raise ValueError(
                f"step {index}'s trainable variable {kind} ({kwargs.get('name')}) is "
                f"{initial.dtype.name}{initial.shape.as_list()}, step 0's "
                f"{stack.dtype.name}{stack.shape.as_list()}: the steps are not built alike"
            )
        stack.initial_values.append(initial)
        return StackSlice(stack, index)

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


@contextlib.contextmanager
def reading():
    """Within the block, each stack is read once per graph: unstacked at its first slice's read."""
    previous = getattr(_READING, "rows", None)
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
