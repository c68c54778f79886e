"""Training throughput of `GlowModel.fit` beside TFP's `tfb.Glow`, measured in one run.

    python -m benchmarks.train_throughput --size mnist     # 28×28×1, L=2, K=8, width 256, batch 64
    python -m benchmarks.train_throughput --size cifar     # 32×32×3, L=3, K=8, width 256, batch 64

Every variant is built once, warmed up, then timed in windows that alternate between the variants
(ours float32, ours with bfloat16 coupling networks, TFP; optionally ours with tf_keras's Adam in
place of the recipe's, ours without `narrow_conv`'s gradients, ours with reversible gradients, or
XLA), so that the load of other processes on this shared machine falls on all of them alike; each
figure is the median over its windows.
Ours is timed through `GlowModel.fit` itself (`fit(dataset, steps_per_epoch=window)` per window, on
a cached dataset of real MNIST digits, or uniform noise at the CIFAR shape), from the start of the
window's first step to the end of its last (a callback), since the ≈ 4 s a `fit` call spends
tearing down its input iterator happens once per training run, not once per 10 steps; the whole
calls' rates are kept beside (`whole_call_images_per_second_windows`). TFP's `tfb.Glow` runs in
the compiled `tf.function` step of `benchmarks/peers/tfp_glow.py` (no XLA, its faster form here:
see `peers/tfp_glow.py --jit both`), timed over its loop of steps.
Writes `benchmarks/results/train_throughput_<size>.json`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf_keras

from benchmarks.peers import (
    bench_common,
    mnist_idx,
    tfp_glow,
)
from tfglow import GlowConfig, GlowModel
from tfglow.bijectors import narrow_conv
from tfglow.recipe import make_optimizer

PRESETS = {"mnist": "mnist_cpu", "cifar": "cifar10_cpu"}
VARIANTS = ("ours_float32", "ours_bfloat16", "tfp_glow")
NUM_DATA_BATCHES = 16
LEARNING_RATE = 1e-4


class _StepClock(tf_keras.callbacks.Callback):
    """Wall time from the start of a `fit` call's first step to the end of its last one."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # A callback without tf-logs support makes Keras fetch the logs: the step has finished.
        self.end = time.perf_counter()


def _ours(
    config: GlowConfig,
    images: np.ndarray,
    batch_size: int,
    jit_compile: bool,
    keras_adam: bool = False,
    conv_gradients: bool = False,
):
    """A window runner for `GlowModel.fit`: `run(steps)` trains `steps` steps in one `fit` call.

    The optimizer is the recipe's Adam (`tfglow.recipe.make_optimizer`, one fused update op per
    variable), as `training.train` uses; with `keras_adam`, `tf_keras.optimizers.Adam`, as TFP's
    step uses. With `conv_gradients` the step is traced with every convolution back-propagated by
    its own kernels (`narrow_conv` off), the A/B of `tfglow.bijectors.narrow_conv`.

    Returns `(loss, seconds)` with the seconds of the steps themselves: a `fit` call also spends
    up to ≈ 4 s after its last step tearing down its tf.data iterator (autotuning threads,
    measured), once per call and so once per training run, which a window of 10 steps would
    otherwise count ten-fold against the per-step figure. The whole call is reported beside it.
    """
    model = GlowModel(config)
    optimizer = (
        tf_keras.optimizers.Adam(LEARNING_RATE)
        if keras_adam
        else make_optimizer("adam", LEARNING_RATE)
    )
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True)
    dataset = dataset.cache().repeat()
    clock = _StepClock()

    def run(steps: int) -> tuple[float, float]:
        history = model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
        return history.history["bits_per_dim"][-1], clock.end - clock.start

    if not conv_gradients:
        return run
    traced = False

    def run_traced_with_conv_gradients(steps: int) -> tuple[float, float]:
        nonlocal traced
        if traced:
            return run(steps)
        # The choice is made when the step is traced, which the first call does.
        limits = narrow_conv.limits
        narrow_conv.limits = lambda: narrow_conv.NarrowLimits(input=0, output=0, output_forward=0)
        try:
            return run(steps)
        finally:
            narrow_conv.limits = limits
            traced = True

    return run_traced_with_conv_gradients


def _tfp(size: str, images: np.ndarray, batch_size: int, seed: int, jit_compile: bool):
    """A window runner for TFP's `tfb.Glow` in the peer benchmark's compiled training step."""
    peer_config = bench_common.CONFIGS[size]
    distribution, glow = tfp_glow.build_distribution(peer_config, seed)
    variables = glow.trainable_variables
    step = tfp_glow.make_train_step(
        distribution, variables, tf_keras.optimizers.Adam(LEARNING_RATE), jit_compile=jit_compile
    )
    batches = [
        tf.constant(images[i * batch_size : (i + 1) * batch_size])
        for i in range(len(images) // batch_size)
    ]
    counter = iter(range(10**12))
    num_dims = int(np.prod(peer_config["image_shape"]))

    def run(steps: int) -> tuple[float, float]:
        start = time.perf_counter()
        for _ in range(steps):
            loss = step(batches[next(counter) % len(batches)])
        loss = float(loss.numpy())
        return bench_common.bits_per_dim(loss, num_dims), time.perf_counter() - start

    return run


def measure(
    size: str,
    variants: list[str],
    warmup_steps: int,
    windows: int,
    steps_per_window: int,
    seed: int = 0,
    hidden_channels: int | None = None,
    steps_per_level: int | None = None,
) -> dict:
    """Times every variant in alternating windows; returns the result record.

    `hidden_channels` narrows or widens our coupling networks (the main job's width is 64), and
    `steps_per_level` changes our depth K; TFP's runs at the peer configuration's only, so either
    excludes it.
    """
    config = GlowConfig.preset(PRESETS[size], seed=seed)
    peer_config = bench_common.CONFIGS[size]
    ours_only = {"hidden_channels": hidden_channels, "steps_per_level": steps_per_level}
    ours_only = {field: value for field, value in ours_only.items() if value is not None}
    if ours_only:
        if any(name.startswith("tfp") for name in variants):
            flags = ", ".join("--" + field.replace("_", "-") for field in ours_only)
            raise ValueError(f"{flags} applies to our variants only; drop tfp_glow")
        config = config.replace(**ours_only)
    elif (
        tuple(peer_config["image_shape"]),
        peer_config["num_levels"],
        peer_config["num_steps"],
        peer_config["width"],
    ) != (config.image_shape, config.num_levels, config.steps_per_level, config.hidden_channels):
        raise ValueError(f"preset {PRESETS[size]} and the peer's {size} config differ")
    batch_size = peer_config["batch_size"]
    images, source = mnist_idx.images_for_shape(
        config.image_shape, NUM_DATA_BATCHES * batch_size, seed=seed
    )
    tf.random.set_seed(seed)
    makers = {
        "ours_float32": lambda: _ours(config, images, batch_size, jit_compile=False),
        "ours_bfloat16": lambda: _ours(
            config.replace(network_dtype="bfloat16"), images, batch_size, jit_compile=False
        ),
        "ours_float32_xla": lambda: _ours(config, images, batch_size, jit_compile=True),
        "ours_float32_keras_adam": lambda: _ours(
            config, images, batch_size, jit_compile=False, keras_adam=True
        ),
        "ours_float32_reversible": lambda: _ours(
            config.replace(reversible_gradients=True), images, batch_size, jit_compile=False
        ),
        "ours_float32_conv_gradients": lambda: _ours(
            config, images, batch_size, jit_compile=False, conv_gradients=True
        ),
        "tfp_glow": lambda: _tfp(size, images, batch_size, seed, jit_compile=False),
        "tfp_glow_xla": lambda: _tfp(size, images, batch_size, seed, jit_compile=True),
    }
    runners = {name: makers[name]() for name in variants}
    losses = {name: runners[name](warmup_steps)[0] for name in variants}  # traces, initialises
    records = {name: [] for name in variants}
    for _ in range(windows):
        for name in variants:
            meter = bench_common.OtherLoadMeter().start()
            start = time.perf_counter()
            losses[name], seconds = runners[name](steps_per_window)
            call_seconds = time.perf_counter() - start
            records[name].append(
                dict(
                    images_per_second=round(steps_per_window * batch_size / seconds, 2),
                    call_images_per_second=round(steps_per_window * batch_size / call_seconds, 2),
                    other_processes_cpu_cores=round(meter.cores(), 2),
                )
            )
    results = {}
    for name in variants:
        rates = [w["images_per_second"] for w in records[name]]
        results[name] = dict(
            images_per_second_median=round(statistics.median(rates), 2),
            images_per_second_windows=rates,
            whole_call_images_per_second_windows=[
                w["call_images_per_second"] for w in records[name]
            ],
            other_processes_cpu_cores_windows=[
                w["other_processes_cpu_cores"] for w in records[name]
            ],
            last_train_bits_per_dim=round(float(losses[name]), 4),
        )
    ratios = {}
    if "tfp_glow" in results:
        peer = results["tfp_glow"]["images_per_second_median"]
        for name in variants:
            if name.startswith("ours"):
                ratios[f"{name}_over_tfp_glow"] = round(
                    results[name]["images_per_second_median"] / peer, 3
                )
    # Two of our variants' images/s, divided: reversible gradients' step-time ratio, and what
    # `narrow_conv` gains over oneDNN's own convolution gradients.
    for name, numerator, denominator in [
        (
            "ours_float32_reversible_over_ours_float32_step_time",
            "ours_float32",
            "ours_float32_reversible",
        ),
        (
            "ours_float32_over_ours_float32_conv_gradients",
            "ours_float32",
            "ours_float32_conv_gradients",
        ),
    ]:
        if {numerator, denominator} <= set(results):
            ratios[name] = round(
                results[numerator]["images_per_second_median"]
                / results[denominator]["images_per_second_median"],
                3,
            )
    return dict(
        benchmark="train_throughput",
        size=size,
        config=config.to_json(),
        batch_size=batch_size,
        data=source,
        results=results,
        ratios=ratios,
        timing=dict(
            warmup_steps=warmup_steps,
            windows=windows,
            steps_per_window=steps_per_window,
            order="alternating windows",
        ),
        tensorflow=tf.__version__,
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(PRESETS), default="mnist")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, from {VARIANTS} and ours_float32_xla, ours_float32_keras_adam, "
        "ours_float32_conv_gradients, ours_float32_reversible, tfp_glow_xla",
    )
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--steps-per-window", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hidden-channels",
        type=int,
        default=None,
        help="our coupling networks' width instead of the preset's (our variants only)",
    )
    parser.add_argument(
        "--steps-per-level",
        type=int,
        default=None,
        help="our flows' depth K instead of the preset's (our variants only)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="file name under benchmarks/results/ (default: train_throughput_SIZE.json)",
    )
    args = parser.parse_args(argv)
    result = measure(
        args.size,
        args.variants.split(","),
        args.warmup_steps,
        args.windows,
        args.steps_per_window,
        args.seed,
        args.hidden_channels,
        args.steps_per_level,
    )
    result["command"] = "python -m benchmarks.train_throughput " + " ".join(sys.argv[1:])
    bench_common.emit(result, args.output or f"train_throughput_{args.size}.json")


if __name__ == "__main__":
    main()
