"""The training run the process-setting A/B benchmarks time: one `GlowModel.fit` in this process.

`allocator.py` and `threads.py` start this in a fresh process per variant (`alternate`), since
what they vary (the allocator, TensorFlow's thread pools) is fixed when a process starts. `run`
trains `mnist_cpu`
(real MNIST, batch 64) with the recipe's Adam (`tfglow.recipe.make_optimizer`, as
`training.train` uses) for one warm-up step and then `steps` timed steps, and prints one JSON line:
images/s over the timed steps and the process's user and kernel CPU seconds during `fit`.
"""

from __future__ import annotations

import json
import resource
import statistics
import time

from benchmarks.peers import bench_common

BATCH_SIZE = 64


def alternate(module: str, variants: dict, rounds: int, baseline: str) -> dict:
    """`bench_common.alternate_children(module, variants, rounds)`, with the fields every such
    A/B records: `runs` (each variant's JSON lines), `median_images_per_second`, and
    `ratio_to_<baseline>` (empty if `baseline` did not run).
    """
    runs = bench_common.alternate_children(module, variants, rounds)
    medians = {
        name: statistics.median(run["images_per_second"] for run in results)
        for name, results in runs.items()
    }
    ratios = (
        {name: round(value / medians[baseline], 3) for name, value in medians.items()}
        if baseline in medians
        else {}
    )
    return {"runs": runs, "median_images_per_second": medians, f"ratio_to_{baseline}": ratios}


def run(steps: int, hidden_channels: int) -> None:
    import tensorflow as tf
    import tf_keras

    from tfglow import GlowConfig, GlowModel, data
    from tfglow.recipe import make_optimizer

    class StepTimes(tf_keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    images = data.load_numpy("mnist", "train", limit=BATCH_SIZE * (steps + 1))
    model = GlowModel(GlowConfig.preset("mnist_cpu", hidden_channels=hidden_channels))
    model.compile(optimizer=make_optimizer("adam", 1e-3))
    model.initialize(images[:BATCH_SIZE])
    timer = StepTimes()
    timer.seconds = []
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH_SIZE)
    before = resource.getrusage(resource.RUSAGE_SELF)
    model.fit(dataset, epochs=1, verbose=0, callbacks=[timer])
    after = resource.getrusage(resource.RUSAGE_SELF)
    timed = timer.seconds[1:]
    print(
        json.dumps(
            dict(
                images_per_second=round(BATCH_SIZE * len(timed) / sum(timed), 1),
                user_seconds=round(after.ru_utime - before.ru_utime, 1),
                kernel_seconds=round(after.ru_stime - before.ru_stime, 1),
                steps=len(timed),
                intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
            )
        )
    )
