"""Exactness of a trained flow: decode(encode(x)) against x, and log-dets against the Jacobian.

    python -m benchmarks.exactness --model-dir /tmp/tfglow_benchmarks/likelihood_budget

1. For a trained checkpoint (the run of `likelihood_budget.py`, or a short run of `--train-steps`
   steps when `--model-dir` holds none): over the MNIST test digits, the largest
   |y − decode_to_flow(encode(y))| in flow space ([-0.5, 0.5), y at the pixel-bin centres) and the
   share of images that `decode(encode(x))` returns as identical uint8. With the coupling networks
   in float32 and, on the same weights, in bfloat16; and the images float32 fails on, round-tripped
   by the same weights in float64.
2. On a tiny model (8×8×1, L=2, K=2, width 8) with random weights, in float64 and float32: the
   largest difference between the analytic log-det of the whole flow (x→z) and log|det| of its
   brute-force Jacobian from autodiff.
Writes `benchmarks/results/exactness.json`. Targets (issue 5): every test image identical, max flow
error ≤ 1e-4.
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
from tfglow import Glow, GlowConfig, GlowModel, pixels, recipe

DEFAULT_MODEL_DIR = "/tmp/tfglow_benchmarks/likelihood_budget"
SHORT_RUN_DIR = "/tmp/tfglow_benchmarks/exactness_short_run"
BATCH = 500


def trained_model(model_dir: str, train_steps: int) -> tuple[GlowModel, str]:
    """The model of `model_dir`, or of a short `mnist_cpu` run trained here when it has none."""
    if tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")) is None:
        from benchmarks.likelihood_budget import training_config  # the same recipe

        config = training_config(network_dtype="bfloat16", max_steps=train_steps)
        config = config.replace(steps_per_epoch=train_steps, checkpoint_every=train_steps)
        model_dir = SHORT_RUN_DIR
        if tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")) is None:
            recipe.train(config, model_dir, verbose=2)
    model, step = recipe.restore_model(model_dir)
    return model, f"{model_dir} (step {step})"


def round_trip(model: GlowModel, images: np.ndarray) -> dict:
    """Largest flow-space error and share of identical uint8 images of decode(encode(x))."""
    encode = tf.function(model.encode)
    decode_to_flow = tf.function(model.decode_to_flow)
    worst, identical, non_finite, failed = 0.0, 0, 0, []
    for start in range(0, len(images), BATCH):
        batch = images[start : start + BATCH]
        flow = pixels.images_to_flow(batch, model.config.num_bits).numpy()
        decoded = decode_to_flow(encode(batch)).numpy()
        # An overflowing inverse (a coupling scale near 0) decodes to NaN: a failed image, counted.
        finite = np.all(np.isfinite(decoded), axis=(1, 2, 3))
        non_finite += int(np.sum(~finite))
        same = np.zeros(len(batch), bool)
        if finite.any():
            worst = max(worst, float(np.max(np.abs(decoded[finite] - flow[finite]))))
            as_uint8 = pixels.flow_to_images(decoded[finite], model.config.num_bits).numpy()
            same[finite] = np.all(as_uint8 == batch[finite], axis=(1, 2, 3))
        identical += int(np.sum(same))
        failed += [start + int(i) for i in np.flatnonzero(~same)]
    return dict(
        max_abs_flow_error_of_finite=worst,
        non_finite_images=non_finite,
        identical_uint8=identical,
        images=len(images),
        share_identical_uint8=identical / len(images),
        failed_images=failed,
    )


def float64_round_trip(model: GlowModel, images: np.ndarray) -> dict:
    """The same weights, all in float64: max |y − decode_to_flow(encode(y))| over `images`."""
    as_float64 = GlowModel(model.config.replace(network_dtype=None), dtype=tf.float64)
    as_float64.set_weights(
        [w.astype(np.float64) if w.dtype == np.float32 else w for w in model.get_weights()]
    )
    flow = pixels.images_to_flow(images, model.config.num_bits, tf.float64).numpy()
    decoded = as_float64.decode_to_flow(as_float64.encode(images)).numpy()
    return dict(
        images=len(images),
        max_abs_flow_error=float(np.max(np.abs(decoded - flow))),
        identical_uint8=int(
            np.sum(
                np.all(
                    pixels.flow_to_images(decoded, model.config.num_bits).numpy() == images,
                    axis=(1, 2, 3),
                )
            )
        ),
    )


def log_det_against_jacobian(dtype: tf.DType, seed: int = 0) -> dict:
    """Max |analytic ildj − log|det ∂z/∂x|| of a randomised tiny Glow, and the ildj scale."""
    config = GlowConfig(
        image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=8, seed=seed
    )
    glow = Glow(config, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(-0.5, 0.5, size=(4, 8, 8, 1)), dtype)
    # Random weights around the identity initialisation, as the unit tests do. (A data-dependent
    # init on 4 tiny images gives ActNorm scales near 1e6 whose Jacobian float64 slogdet cannot
    # resolve.)
    for variable in glow.trainable_variables:
        variable.assign_add(rng.normal(0.0, 0.1, size=variable.shape).astype(dtype.as_numpy_dtype))
    for variable in glow.variables:
        if variable.dtype == tf.bool:
            variable.assign(True)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = glow.inverse(x)
    jacobian = tf.reshape(tape.batch_jacobian(z, x), [4, config.event_size, config.event_size])
    _, brute_force = tf.linalg.slogdet(tf.cast(jacobian, tf.float64))
    analytic = tf.cast(glow.inverse_log_det_jacobian(tf.identity(x), event_ndims=3), tf.float64)
    return dict(
        dtype=dtype.name,
        max_abs_difference=float(tf.reduce_max(tf.abs(analytic - brute_force))),
        mean_abs_log_det=float(tf.reduce_mean(tf.abs(brute_force))),
        event_size=config.event_size,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR)
    parser.add_argument(
        "--train-steps",
        type=int,
        default=300,
        help="steps of the short run used when --model-dir holds no checkpoint",
    )
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--output", default="exactness.json")
    args = parser.parse_args(argv)
    model, source = trained_model(args.model_dir, args.train_steps)
    images = mnist_idx.load_mnist("test")[: args.test_images]
    round_trips = {}
    for network_dtype in (None, "bfloat16"):
        same_weights = GlowModel(model.config.replace(network_dtype=network_dtype))
        same_weights.set_weights(model.get_weights())
        round_trips[network_dtype or "float32"] = round_trip(same_weights, images)
    failed = round_trips["float32"]["failed_images"]
    round_trips["bfloat16"]["failed_images"] = len(round_trips["bfloat16"]["failed_images"])
    record = dict(
        benchmark="exactness",
        checkpoint=source,
        trained_network_dtype=model.config.network_dtype,
        round_trip_by_network_dtype=round_trips,
        float64_round_trip_of_float32_failures=(
            float64_round_trip(model, images[failed]) if failed else None
        ),
        log_det_vs_brute_force_jacobian=[
            log_det_against_jacobian(tf.float64),
            log_det_against_jacobian(tf.float32),
        ],
        targets=dict(max_abs_flow_error=1e-4, share_identical_uint8=1.0),
        command="python -m benchmarks.exactness " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
