"""Does training with bfloat16 coupling networks follow the float32 loss curve?

    python -m benchmarks.mixed_precision --steps 300

Trains the MNIST-size model (`mnist_cpu`: 28×28×1, L=2, K=8, width 256, batch 64) twice from the
same initial weights on the same batches, once with `network_dtype=None` (float32) and once with
`network_dtype="bfloat16"`, with Adam (lr 1e-3 after a 50-step linear warmup, clip norm 50).
Records the training
bits/dim curves, the held-out bits/dim of both final models on test digits evaluated in float32 and
in bfloat16, and the exactness of the bfloat16 model (max |y − decode(encode(y))| in flow space and
the share of test images reconstructed to identical uint8). The steps of the two runs alternate in
blocks, so that both see the same machine load. Writes `benchmarks/results/mixed_precision.json`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf_keras

from benchmarks.peers import (
    bench_common,
    mnist_idx,
)
from tfglow import GlowConfig, GlowModel, pixels

BATCH_SIZE = 64
LEARNING_RATE = 1e-3
WARMUP_STEPS = 50
CLIP_NORM = 50.0  # the training package's CPU recipe; without it both runs spike now and then
BLOCK_STEPS = 25  # steps of one run before switching to the other


class _Warmup(tf_keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return LEARNING_RATE * tf.minimum(1.0, tf.cast(step + 1, tf.float32) / WARMUP_STEPS)


def _model(config: GlowConfig, first_batch: np.ndarray) -> GlowModel:
    tf.random.set_seed(0)
    model = GlowModel(config)
    model.compile(optimizer=tf_keras.optimizers.Adam(_Warmup(), global_clipnorm=CLIP_NORM))
    model.initialize(first_batch)
    return model


def _held_out_bits_per_dim(model: GlowModel, images: np.ndarray) -> float:
    values = [
        model.bits_per_dim(images[i : i + 500], seed=i).numpy() for i in range(0, len(images), 500)
    ]
    return float(np.mean(np.concatenate(values)))


def _exactness(model: GlowModel, images: np.ndarray) -> dict:
    flow = pixels.images_to_flow(images, model.config.num_bits)
    # A numpy copy: decoding the very tensor `encode` returned would hit TFP's bijector cache and
    # hand back the input unchanged.
    eps = model.encode(images).numpy()
    error = float(tf.reduce_max(tf.abs(model.decode_to_flow(eps) - flow)))
    identical = np.all(model.decode(eps).numpy() == images, axis=(1, 2, 3))
    return dict(max_abs_flow_error=error, share_identical_uint8=float(identical.mean()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--output", default="mixed_precision.json")
    args = parser.parse_args(argv)

    train = mnist_idx.load_mnist("train")
    test = mnist_idx.load_mnist("test")[: args.test_images]
    order = np.random.default_rng(0).permutation(len(train))[: args.steps * BATCH_SIZE]
    config = GlowConfig.preset("mnist_cpu")
    runs = {
        "float32": _model(config, train[order[:BATCH_SIZE]]),
        "bfloat16": _model(config.replace(network_dtype="bfloat16"), train[order[:BATCH_SIZE]]),
    }
    runs["bfloat16"].set_weights(runs["float32"].get_weights())
    curves = {name: [] for name in runs}
    seconds = {name: 0.0 for name in runs}
    for first in range(0, args.steps, BLOCK_STEPS):
        block = tf.data.Dataset.from_tensor_slices(
            train[order[first * BATCH_SIZE : (first + BLOCK_STEPS) * BATCH_SIZE]]
        ).batch(BATCH_SIZE)
        for name, model in runs.items():
            start = time.perf_counter()
            model.fit(block, epochs=1, verbose=0, callbacks=[_PerStep(curves[name])])
            seconds[name] += time.perf_counter() - start
        print(
            f"step {first + BLOCK_STEPS}: "
            + ", ".join(f"{name} {curves[name][-1]:.3f}" for name in runs),
            flush=True,
        )
    evaluation = {}
    for name, model in runs.items():
        as_float32 = GlowModel(config)
        as_float32.set_weights(model.get_weights())
        as_bfloat16 = GlowModel(config.replace(network_dtype="bfloat16"))
        as_bfloat16.set_weights(model.get_weights())
        evaluation[f"trained_{name}"] = dict(
            held_out_bits_per_dim_evaluated_float32=round(
                _held_out_bits_per_dim(as_float32, test), 4
            ),
            held_out_bits_per_dim_evaluated_bfloat16=round(
                _held_out_bits_per_dim(as_bfloat16, test), 4
            ),
        )
    evaluation["exactness_bfloat16_model"] = _exactness(runs["bfloat16"], test)
    evaluation["exactness_float32_model"] = _exactness(runs["float32"], test)
    window = 25
    result = dict(
        benchmark="mixed_precision",
        steps=args.steps,
        batch_size=BATCH_SIZE,
        recipe=(
            f"Adam lr {LEARNING_RATE}, linear warmup {WARMUP_STEPS} steps, global clip norm "
            f"{CLIP_NORM}, same init and batches"
        ),
        train_bits_per_dim_every_25_steps={
            name: [
                round(float(np.mean(curve[i : i + window])), 4)
                for i in range(0, len(curve), window)
            ]
            for name, curve in curves.items()
        },
        mean_abs_curve_difference_last_100_steps=round(
            float(
                np.mean(
                    np.abs(np.array(curves["float32"][-100:]) - np.array(curves["bfloat16"][-100:]))
                )
            ),
            4,
        ),
        training_seconds=seconds,
        evaluation=evaluation,
        test_images=len(test),
        command="python -m benchmarks.mixed_precision " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(result, args.output)


class _PerStep(tf_keras.callbacks.Callback):
    """Appends each step's bits/dim, recovered from the epoch's running mean that Keras logs."""

    def __init__(self, curve: list):
        super().__init__()
        self.curve = curve
        self._previous_mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["bits_per_dim"])
        self.curve.append(mean * (batch + 1) - self._previous_mean * batch)
        self._previous_mean = mean


if __name__ == "__main__":
    main()
