"""The files of a checkpoint directory: which are whole, which are partial, and how to resume.

`tf.train.CheckpointManager` stages a save in `ckpt-<N>_temp/`, renames its files to
`ckpt-<N>.index` and `ckpt-<N>.data-<i>-of-<n>`, and last rewrites the state file `checkpoint`
that names the kept checkpoints. So in a checkpoint directory:

* a `*_temp*` entry is provably partial: a save was killed while writing it;
* `ckpt-<N>` whose `.index` and every data shard exist is whole, whether or not the state file
  names it yet;
* anything else (a user's `best-ckpt-3.*`, notes) is not the manager's and is never touched.

Nothing whole is ever deleted here. A missing or damaged state file is rebuilt from the whole
checkpoints on disk, and a checkpoint that fails to restore falls back to the next older one.
"""

from __future__ import annotations

import os
import re
import shutil

import tensorflow as tf

from tfglow import checkpoint_layout

STATE_FILE = "checkpoint"
_FILE = re.compile(r"^ckpt-(\d+)\.(?:index|data-(\d+)-of-(\d+))$")


class CheckpointDirectoryError(RuntimeError):
    """A checkpoint directory holds checkpoint files but none that can be resumed from."""


def whole_checkpoints(directory: str | os.PathLike) -> list[str]:
    """The prefixes `directory/ckpt-<N>` whose index and every data shard exist, oldest first."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    shards: dict[int, set[int]] = {}
    shard_counts: dict[int, int] = {}
    indexed: set[int] = set()
    for name in os.listdir(directory):
        match = _FILE.match(name)
        if not match:
            continue
        step = int(match.group(1))
        if match.group(2) is None:
            if os.path.getsize(os.path.join(directory, name)) > 0:
                indexed.add(step)
        else:
            shards.setdefault(step, set()).add(int(match.group(2)))
            shard_counts[step] = int(match.group(3))
    whole = [
        step
        for step in indexed
        if step in shard_counts and shards[step] == set(range(shard_counts[step]))
    ]
    return [os.path.join(directory, f"ckpt-{step}") for step in sorted(whole)]


def remove_partial_checkpoints(directory: str | os.PathLike) -> list[str]:
    """Deletes the `*_temp*` staging entries a killed save left in `directory`; returns them."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in os.listdir(directory):
        if name.startswith("ckpt-") and "_temp" in name:
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
            removed.append(path)
    return sorted(removed)


def resumable_checkpoints(directory: str | os.PathLike, repair: bool = True) -> list[str]:
    """The checkpoints to resume from, newest first: the state file's latest, then older whole ones.

    If the state file is missing, unreadable or names a checkpoint that is not whole, the newest
    whole checkpoint on disk comes first, and with `repair` the state file is rewritten to list
    the whole ones (a warning says so).

    Raises:
      CheckpointDirectoryError: `directory` holds checkpoint files but no whole checkpoint.
    """
    directory = os.fspath(directory)
    whole = whole_checkpoints(directory)
    if not whole:
        leftovers = [name for name in _listing(directory) if _FILE.match(name)]
        if leftovers:
            raise CheckpointDirectoryError(
                f"{directory} holds checkpoint files ({', '.join(sorted(leftovers)[:4])}, ...) but "
                f"no whole checkpoint (an index and all its data shards): nothing to resume from. "
                f"Nothing was deleted; move the files away to train from scratch"
            )
        return []
    named = _state_latest(directory)
    if named in whole:
        return [named] + [path for path in reversed(whole) if path != named]
    if repair:
        tf.compat.v1.train.update_checkpoint_state(
            directory, whole[-1], all_model_checkpoint_paths=whole
        )
    tf.get_logger().warning(
        f"{os.path.join(directory, STATE_FILE)} was missing, damaged or named a checkpoint that "
        f"is not whole; resuming from the newest whole checkpoint on disk, {whole[-1]}"
        + (" (state file rewritten)" if repair else "")
    )
    return list(reversed(whole))


def restore_newest_readable(checkpoint: tf.train.Checkpoint, candidates: list[str]) -> str:
    """Restores the first of `candidates` that reads back whole into `checkpoint`; returns it.

    A checkpoint whose files are damaged (a truncated data shard) is skipped with a warning.

    Raises:
      CheckpointDirectoryError: none of them could be restored; the message lists why.
    """
    failures = []
    for path in candidates:
        try:
            _restore(checkpoint, path)
        # What TensorFlow raises for damaged files: a truncated shard reads short (IndexError).
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:
            failures.append(f"{path}: {type(error).__name__}: {str(error).splitlines()[0]}")
            tf.get_logger().warning(f"cannot restore {path}, trying an older checkpoint: {error}")
            continue
        return path
    raise CheckpointDirectoryError(
        "no checkpoint could be restored: " + "; ".join(failures) + ". Nothing was deleted"
    )


def _restore(checkpoint: tf.train.Checkpoint, path: str) -> None:
    """Restores `path` into `checkpoint` whole; a checkpoint of per-step variables (tfglow before
    stacking, `tfglow.checkpoint_layout`) is converted in memory, its files left as they are."""
    if checkpoint_layout.holds_stacked_variables(path):
        checkpoint.restore(path).assert_existing_objects_matched()
        return
    checkpoint_layout.restore_per_step(
        path, checkpoint.model, getattr(checkpoint, "optimizer", None)
    )
    tf.get_logger().warning(
        f"{path} holds per-step variables (tfglow before stacking): converted while restoring; "
        f"the file is unchanged, and checkpoints saved from now on are stacked"
    )


def _state_latest(directory: str) -> str | None:
    try:
        state = tf.train.get_checkpoint_state(directory)
    except Exception as error:  # a damaged file raises protobuf's ParseError, among others
        tf.get_logger().warning(f"unreadable {os.path.join(directory, STATE_FILE)}: {error}")
        return None
    if state is None or not state.model_checkpoint_path:
        return None
    path = state.model_checkpoint_path
    return path if os.path.isabs(path) else os.path.join(directory, os.path.basename(path))


def _listing(directory: str) -> list[str]:
    return os.listdir(directory) if os.path.isdir(directory) else []
