"""What the affine couplings' scale floor ε changes, on the same trained weights.

    python -m benchmarks.scale_floor --model-dir runs/mnist

The scale of an affine coupling is `ε + (1 − ε)·sigmoid(h + 2)`; ε = 0 is Glow's. Decoding (z→x)
divides by it. For the checkpoint of `--model-dir`, rebuilt once per ε with the same weights:
the share of samples at each temperature whose decoded flow-space image is not finite (the
overflow that `decode` and the `sample` signature report as an error), the median and 99th
percentile over the finite samples of their largest |value| (pixels span [-0.5, 0.5)), and the
held-out bits/dim of the test digits at the bin centres (how much the floor changes the model's
density). Writes
`benchmarks/results/scale_floor.json`.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from benchmarks.peers import (
    bench_common,
    mnist_idx,
)
from tfglow import GlowModel, recipe

BATCH = 512


def sample_overflow(model: GlowModel, temperature: float, samples: int) -> dict:
    """Non-finite decodes of `samples` latents at `temperature`, and how large the finite ones
    get."""
    decode_to_flow = tf.function(model.decode_to_flow)
    largest = []
    for start in range(0, samples, BATCH):
        latents = temperature * tf.random.stateless_normal(
            [min(BATCH, samples - start), model.config.event_size], seed=[start, 0]
        )
        flat = decode_to_flow(latents).numpy().reshape(len(latents), -1)
        largest.append(np.max(np.abs(flat), axis=1))
    largest = np.concatenate(largest)
    finite = largest[np.isfinite(largest)]
    return dict(
        temperature=temperature,
        samples=samples,
        non_finite=int(samples - len(finite)),
        max_abs_value_median=float(np.median(finite)) if len(finite) else None,
        max_abs_value_p99=float(np.percentile(finite, 99)) if len(finite) else None,
    )


def held_out_bits_per_dim(model: GlowModel, images: np.ndarray) -> float:
    bits_per_dim = tf.function(lambda x: model.bits_per_dim(x, dequantize=False))
    return float(
        np.mean(
            np.concatenate(
                [
                    bits_per_dim(images[start : start + BATCH]).numpy()
                    for start in range(0, len(images), BATCH)
                ]
            )
        )
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="runs/mnist")
    parser.add_argument(
        "--floors",
        type=float,
        nargs="+",
        default=None,
        help="the floors to compare (default: 0 and the model's own)",
    )
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.7, 1.0])
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--output", default="scale_floor.json")
    args = parser.parse_args(argv)
    trained, step = recipe.restore_model(args.model_dir)
    images = mnist_idx.load_mnist("test")[: args.test_images]
    rows = []
    for floor in args.floors or [0.0, trained.config.scale_floor]:
        model = GlowModel(trained.config.replace(scale_floor=floor))
        model.set_weights(trained.get_weights())
        rows.append(
            dict(
                scale_floor=floor,
                held_out_bits_per_dim_at_bin_centres=held_out_bits_per_dim(model, images),
                samples=[sample_overflow(model, t, args.samples) for t in args.temperatures],
            )
        )
    record = dict(
        benchmark="scale_floor",
        checkpoint=f"{args.model_dir} (step {step})",
        trained_scale_floor=trained.config.scale_floor,
        test_images=len(images),
        rows=rows,
        command="python -m benchmarks.scale_floor " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
