"""Held-out MNIST bits/dim after a fixed training budget (20 minutes) at the MNIST size.

    python -m benchmarks.likelihood_budget --minutes 20                       # wall clock, quiet
    machine
    python -m benchmarks.likelihood_budget --minutes 20 --clock cpu           # on a shared machine

Trains `mnist_cpu` (28×28×1, L=2, K=8, width 256, affine, LU 1×1 conv) with the training package's
recipe (`tfglow.recipe.train`: Adam lr 1e-3 with a linear warmup, gradient clipping, EMA weights
for evaluation, checkpoints) until the budget is spent, then reports bits/dim on the full 10,000
test digits (uniform dequantisation, seeded). The budget includes everything `train` does in it
(periodic held-out checks on a few batches, checkpoints). `--clock cpu` counts this process's CPU
seconds divided by the cores instead of wall time, as the PyTorch peer's `--clock cpu` does: the
time the run would take with the machine to itself. The peer's figure comes from
`python -m benchmarks.peers.torch_glow --mode budget` (`results/peer_torch_glow_budget.json`).
Writes `benchmarks/results/likelihood_budget.json`; the trained run stays in `--model-dir` for
`exactness.py` and `serving_latency.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras

from benchmarks.peers import bench_common
from tfglow import GlowConfig, recipe

DEFAULT_MODEL_DIR = "/tmp/tfglow_benchmarks/likelihood_budget"


class StopAfterCpuSeconds(tf_keras.callbacks.Callback):
    """Stops `fit` once this process used `budget_seconds × cores` CPU seconds since training
    began."""

    def __init__(self, budget_seconds: float, cores: int):
        super().__init__()
        self.budget_seconds, self.cores = budget_seconds, cores
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = bench_common.own_cpu_seconds()

    def on_train_batch_end(self, batch, logs=None):
        if (bench_common.own_cpu_seconds() - self._start) / self.cores >= self.budget_seconds:
            self.model.stop_training = True


def training_config(network_dtype: str | None, max_steps: int) -> recipe.TrainingConfig:
    """The training package's CPU recipe at the benchmark size, without XLA (slower here)."""
    return recipe.TrainingConfig(
        GlowConfig.preset("mnist_cpu", network_dtype=network_dtype),
        dataset="mnist",
        optimizer="adam",
        learning_rate=1e-3,
        warmup_steps=200,
        clip_norm=50.0,
        ema_momentum=0.999,
        batch_size=64,
        steps=max_steps,
        steps_per_epoch=500,
        validation_steps=4,
        checkpoint_every=500,
        log_every=50,
        num_samples=4,
        jit_compile=False,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument(
        "--network-dtype",
        default="bfloat16",
        choices=["float32", "bfloat16"],
        help="compute dtype of the coupling networks (default: bfloat16)",
    )
    parser.add_argument(
        "--model-dir",
        default=DEFAULT_MODEL_DIR,
        help="run directory; must not hold an earlier run (default: %(default)s)",
    )
    parser.add_argument("--output", default="likelihood_budget.json")
    args = parser.parse_args(argv)
    if tf.io.gfile.exists(args.model_dir) and tf.io.gfile.listdir(args.model_dir):
        raise FileExistsError(
            f"--model-dir {args.model_dir} is not empty; the budget run starts "
            f"from scratch: remove it or pass another directory"
        )
    budget_seconds = 60.0 * args.minutes
    config = training_config(
        None if args.network_dtype == "float32" else args.network_dtype, max_steps=10**7
    )
    cores = os.cpu_count() or 1
    stop = (
        dict(max_seconds=budget_seconds)
        if args.clock == "wall"
        else dict(extra_callbacks=[StopAfterCpuSeconds(budget_seconds, cores)])
    )
    load = bench_common.OtherLoadMeter().start()
    start = time.perf_counter()
    result = recipe.train(config, args.model_dir, verbose=2, **stop)
    train_seconds = time.perf_counter() - start
    other_cores = load.cores()
    bits_per_dim, count = recipe.evaluate_bits_per_dim(
        result.model, recipe.held_out_dataset(config, batch_size=500)
    )
    steps = result.end_step - result.start_step
    record = dict(
        benchmark="likelihood_budget",
        test_bits_per_dim=round(bits_per_dim, 4),
        test_images=count,
        minutes=args.minutes,
        clock=args.clock,
        steps=steps,
        epochs=round(steps * config.batch_size / 60_000, 3),
        train_wall_seconds=round(train_seconds, 1),
        images_per_second_wall_mean=round(steps * config.batch_size / train_seconds, 2),
        other_processes_cpu_cores_mean=round(other_cores, 2),
        network_dtype=args.network_dtype,
        training_config=config.to_json(),
        final_train_bits_per_dim=result.history.get("bits_per_dim", [None])[-1],
        model_dir=args.model_dir,
        command="python -m benchmarks.likelihood_budget " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
