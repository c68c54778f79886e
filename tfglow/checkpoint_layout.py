"""Reading checkpoints written before the steps of a level shared stacked variables.

Until then every step of a level held variables of its own, and a checkpoint named each by the
layer holding it: `model/bijector/levels/0/_bijectors_trackable/1/loc`. Now the K steps of a level
share one `[K, ...]` variable per kind (`tfglow.stacked_variables`), which such a checkpoint binds
none of: restoring it plainly fails `assert_existing_objects_matched`.

`restore_per_step` reads such a checkpoint into a model of today without touching the files. It
builds the same model with per-step variables (its twin, `stacked_variables.unstacked`), restores
the checkpoint into the twin and, with an optimizer, into a twin optimizer of the same kind, whose
per-variable slots (Adam's or Adamax's moments, the Polyak averages) are then those of the run.
Then every stacked variable becomes its rows stacked in step order, with every slot likewise; a
variable of its own is copied as it is, slots and all. The next checkpoint saved is stacked.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from tfglow import stacked_variables


def holds_stacked_variables(path: str) -> bool:
    """Whether the checkpoint `path` was written with stacked step variables: a stack is reached
    through a slice (`…/loc/stack/variable`)."""
    return any("/stack/variable/" in name for name, _ in tf.train.list_variables(path))


def restore_per_step(path: str, model, optimizer=None) -> None:
    """Restores the per-step checkpoint `path` into `model` (and `optimizer`), stacking its rows.

    Args:
      path: a checkpoint prefix written by `tf.train.Checkpoint(model=..., optimizer=...)` from a
        model with per-step variables.
      model: a `tfglow.GlowModel` of the same configuration and dtype.
      optimizer: `None` (the model's variables only, whatever else the checkpoint holds), or a
        tf_keras optimizer of the kind that wrote the checkpoint (built here if it is not).

    Raises:
      AssertionError, ValueError, tf.errors.OpError: the checkpoint does not fit the twin model
        (another configuration) or is damaged; `model` and `optimizer` are then unchanged.
      TypeError: `optimizer` is not a tf_keras optimizer (a Keras 3 one: restore the model alone).
    """
    with stacked_variables.unstacked():
        twin = type(model)(model.config, dtype=model.flow_dtype)
    if optimizer is None:
        tf.train.Checkpoint(model=twin).read(
            path
        ).expect_partial().assert_existing_objects_matched()
        twin_optimizer = None
    else:
        twin_optimizer = _twin_optimizer(optimizer)
        twin_optimizer.build(twin.trainable_variables)
        optimizer.build(model.trainable_variables)  # nothing if built; its slots receive state
        tf.train.Checkpoint(model=twin, optimizer=twin_optimizer).read(
            path
        ).assert_existing_objects_matched()
    pairs = _variable_pairs(model, twin)
    for variable, rows in pairs:
        variable.assign(_value(variable, rows))
    if optimizer is not None:
        _copy_optimizer_state(optimizer, twin_optimizer, pairs)


def _twin_optimizer(optimizer):
    """A new optimizer of `optimizer`'s kind and settings, with the same learning rate object."""
    if not isinstance(optimizer, tf_keras.optimizers.Optimizer):
        raise TypeError(
            f"only a tf_keras optimizer's state can be converted, not {type(optimizer).__name__}'s;"
            " restore the model alone (optimizer=None)"
        )
    config = optimizer.get_config()
    config.pop("is_legacy_optimizer", None)
    config["learning_rate"] = optimizer._learning_rate
    return type(optimizer)(**config)


def _variable_pairs(model, twin) -> list[tuple[tf.Variable, list[tf.Variable]]]:
    """`(variable of model, its rows in twin)` for every variable of `model`'s flow and classifier
    head: a stack's rows are the twin's variables where its slices sit, in step order; a variable
    of its own has its twin's alone."""
    pairs = []
    for part, twin_part in zip(_parts(model), _parts(twin)):
        twin_at = dict(twin_part._flatten(predicate=_is_leaf, with_path=True))
        rows_of = {}
        for path, leaf in _leaves(part):
            if isinstance(leaf, stacked_variables.StackSlice):
                rows_of.setdefault(id(leaf.stack), {})[leaf.index] = twin_at[path]
            elif not _is_stack(leaf):
                pairs.append((leaf, [twin_at[path]]))
        for variable in part.variables:  # each stack once, after all its slices were found
            stack = stacked_variables.stack_of(variable)
            if stack is not None:
                rows = rows_of[id(stack)]
                pairs.append((variable, [rows[index] for index in range(len(stack.slices))]))
    for variable, rows in pairs:
        row_shape = variable.shape[1:] if _is_stack(variable) else variable.shape
        if any(row.shape != row_shape or row.dtype != variable.dtype for row in rows):
            raise ValueError(
                f"{variable.name} ({variable.dtype.name}{variable.shape.as_list()}) does not "
                f"match its per-step rows {[row.shape.as_list() for row in rows]}"
            )
    return pairs


def _parts(model) -> list[tf.Module]:
    """The modules of `model` that hold its variables: the flow and any classifier head."""
    return [model.bijector] + ([model.classifier] if model.classifier is not None else [])


def _leaves(module: tf.Module) -> list[tuple[tuple, object]]:
    """`(path, leaf)` for every variable and slice of `module`, each under its first path."""
    first = {}
    for path, leaf in module._flatten(predicate=_is_leaf, with_path=True):
        first.setdefault(id(leaf), (path, leaf))
    return list(first.values())


def _is_leaf(leaf) -> bool:
    return isinstance(leaf, (stacked_variables.StackSlice, tf.Variable))


def _is_stack(variable: tf.Variable) -> bool:
    return stacked_variables.stack_of(variable) is not None


def _value(variable: tf.Variable, rows: list[tf.Variable]) -> tf.Tensor:
    """What `variable` (or a slot of it) takes from its twin's rows: them stacked for a stack
    (even of one step), the one twin for a variable of its own."""
    return tf.stack(rows) if _is_stack(variable) else tf.convert_to_tensor(rows[0])


def _copy_optimizer_state(optimizer, twin_optimizer, pairs) -> None:
    """The step counter, and every per-variable slot stacked like its variable."""
    optimizer.iterations.assign(twin_optimizer.iterations)
    slot_lists = _slot_lists(twin_optimizer)
    for variable, rows in pairs:
        if not variable.trainable:
            continue
        for name in slot_lists:
            twin_slots = [_slot(twin_optimizer, name, row) for row in rows]
            _slot(optimizer, name, variable).assign(_value(variable, twin_slots))


def _slot_lists(optimizer) -> list[str]:
    """The attributes of a built tf_keras optimizer that hold one variable per trainable variable
    (`_momentums`, `_velocities`, `_model_variables_moving_average`, ...), in its own order."""
    count = len(optimizer._index_dict)
    return [
        name
        for name, value in vars(optimizer).items()
        if isinstance(value, list)
        and len(value) == count
        and all(isinstance(item, tf.Variable) for item in value)
    ]


def _slot(optimizer, name: str, variable: tf.Variable) -> tf.Variable:
    return getattr(optimizer, name)[optimizer._index_dict[optimizer._var_key(variable)]]
