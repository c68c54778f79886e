"""Training across workers with `tf.distribute.MultiWorkerMirroredStrategy`: who writes where.

Every worker runs the same program with its own `TF_CONFIG`, e.g. for worker 1 of 2:

```
TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
            "task": {"type": "worker", "index": 1}}'
```

All workers train the same variables (all-reduced every step) and all must take part in every
checkpoint save, because saving may run collective ops. Only the chief (worker 0, or the task of
type "chief") writes into the model directory; the others write their copies into a temporary
directory of their own, deleted when training ends, as TensorFlow's multi-worker Keras guide
prescribes:

```
model_dir/                       the chief's: configs, checkpoints/, logs/, samples.png
model_dir/.worker-worker-1/      a non-chief worker's throwaway copy (removed after training)
```

Each worker reads the input pipeline whole and keeps its share of every global batch
(`tf.data.experimental.AutoShardPolicy.DATA`, see `shard_by_data`): the `batch_size` of a run is
the global batch, split evenly over all replicas of all workers.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

TF_CONFIG_VARIABLE = "TF_CONFIG"
WORKER_DIRECTORY_PREFIX = ".worker-"


def task_of(strategy: tf.distribute.Strategy | None = None) -> tuple[str | None, int]:
    """`(task_type, task_id)` of this process: from `strategy`'s cluster resolver, or from
    `TF_CONFIG` when no strategy is given.

    `(None, 0)` when there is no cluster (one process), also when a `TF_CONFIG` is set but
    `strategy` does not span workers.
    """
    if strategy is not None:
        resolver = getattr(strategy, "cluster_resolver", None)
        if resolver is None or resolver.task_type is None:
            return None, 0
        return resolver.task_type, int(resolver.task_id or 0)
    text = os.environ.get(TF_CONFIG_VARIABLE)
    if not text:
        return None, 0
    task = json.loads(text).get("task", {})
    return task.get("type"), int(task.get("index", 0))


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run's files: a single process, the "chief" task, or worker 0
    of a cluster without a chief task."""
    task_type, task_id = task_of(strategy)
    if task_type is None or task_type == "chief":
        return True
    if task_type == "worker" and task_id == 0:
        cluster = json.loads(os.environ.get(TF_CONFIG_VARIABLE) or "{}").get("cluster", {})
        return "chief" not in cluster
    return False


def write_directory(
    model_dir: str | os.PathLike, strategy: tf.distribute.Strategy | None = None
) -> str:
    """Where this process writes: `model_dir` on the chief, `model_dir/.worker-<type>-<index>`
    elsewhere."""
    model_dir = os.fspath(model_dir)
    if is_chief(strategy):
        return model_dir
    task_type, task_id = task_of(strategy)
    return os.path.join(model_dir, f"{WORKER_DIRECTORY_PREFIX}{task_type}-{task_id}")


def remove_write_directory(model_dir: str | os.PathLike, write_dir: str | os.PathLike) -> None:
    """Deletes a non-chief worker's temporary `write_dir`; never the chief's `model_dir` itself."""
    model_dir, write_dir = (
        os.path.abspath(os.fspath(model_dir)),
        os.path.abspath(os.fspath(write_dir)),
    )
    if write_dir != model_dir and tf.io.gfile.exists(write_dir):
        tf.io.gfile.rmtree(write_dir)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with the DATA auto-shard policy: each worker keeps its slice of every global batch.

    The FILE policy (TensorFlow's default guess) would give each worker whole TFDS files; MNIST has
    one training file, fewer than the workers, and the pipeline shuffles and caches in memory, so
    sharding by element is the policy that keeps the global batch of step t the same for any
    number of workers.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
