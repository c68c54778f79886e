"""One side of the multi-worker equivalence test.

    python multi_worker_equivalence.py OUTPUT.npz [reversible]


Trains a small Glow for `STEPS` steps of global batch `GLOBAL_BATCH` with
`MultiWorkerMirroredStrategy`
when `TF_CONFIG` is set (one process per worker), else on one device, and saves the final flow
variables and per-step losses to OUTPUT (worker index appended under a cluster).

Dequantisation noise is off (pixels at their bin centres, also in the ActNorm init): `tf.random`
ops draw independently on each worker, so noisy runs differ from a single process by design.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras

from tfglow import GlowConfig, GlowModel
from tfglow.recipe import multi_worker

STEPS = 3
GLOBAL_BATCH = 8
CONFIG = GlowConfig(image_shape=(28, 28, 1), num_levels=2, steps_per_level=1, hidden_channels=8)


class NoiseFreeGlowModel(GlowModel):
    """Pixels at their bin centres, so every run sees identical inputs."""

    def to_flow(self, images, noise=None):
        return super().to_flow(images, None)


def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    pixels = rng.integers(
        0, 128, size=((STEPS + 1) * GLOBAL_BATCH, *CONFIG.image_shape), dtype=np.uint8
    )
    # A brightness ramp over rows gives every ActNorm distinct statistics.
    return (pixels + np.arange(28, dtype=np.uint8).reshape(1, 28, 1, 1) * 4).astype(np.uint8)


def main(output: str, reversible: bool = False) -> None:
    tf_keras.utils.set_random_seed(0)
    clustered = bool(os.environ.get(multi_worker.TF_CONFIG_VARIABLE))
    strategy = (
        tf.distribute.MultiWorkerMirroredStrategy() if clustered else tf.distribute.get_strategy()
    )
    dataset = multi_worker.shard_by_data(
        tf.data.Dataset.from_tensor_slices(images()).batch(GLOBAL_BATCH)
    )
    with strategy.scope():
        model = NoiseFreeGlowModel(CONFIG.replace(reversible_gradients=reversible))
        # SGD with momentum is linear in the gradients: all-reduce rounding stays at float epsilon.
        model.compile(optimizer=tf_keras.optimizers.SGD(0.05, momentum=0.9))
    # One step per epoch: each epoch's loss is the loss of one global batch.
    losses = model.fit(dataset, epochs=STEPS + 1, steps_per_epoch=1, verbose=0).history[
        "bits_per_dim"
    ]
    task_type, task_id = multi_worker.task_of(strategy)
    if clustered:
        output = f"{output}.{task_type}-{task_id}.npz"
    np.savez(
        output,
        losses=np.asarray(losses, np.float64),
        replicas=strategy.num_replicas_in_sync,
        steps=int(model.optimizer.iterations.numpy()),
        **{
            f"variable_{index}": variable.numpy()
            for index, variable in enumerate(model.bijector.variables)
        },
    )


if __name__ == "__main__":
    main(sys.argv[1], reversible=sys.argv[2:] == ["reversible"])
