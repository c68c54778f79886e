"""One training run on real MNIST under a budget, measured; shared by the papers' comparisons.

    python -m benchmarks.budget_training --config mnist_cpu --minutes 3 \
        --model '{"permutation": "shuffle"}' --seed 1 --work-dir /tmp/run

Trains the named training config (`training/configs.py`) with the GlowConfig fields of `--model`
changed and `--seed` seeding both the model and the data order, from scratch, for `--minutes` of
wall-clock time or `--steps` steps (whichever ends first), with held-out bits/dim on 1,024 test
digits every `--eval-every` steps. Then reports, as
one JSON line: held-out bits/dim on all 10,000 test digits (dequantised, seeded), steps, steps/s,
trainable parameters, how many of 1,000 test digits decode(encode(x)) gives back exactly, the
held-out curve against steps and minutes, the process's peak RSS and the other processes' load.
`run` starts it in a fresh process, so that peak memory is the run's own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from benchmarks.peers import bench_common

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXACTNESS_IMAGES = 1_000


def run(
    config: str,
    model: dict,
    work_dir: str,
    minutes: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    eval_every: int = 250,
) -> dict:
    """Runs this file in a fresh Python process and returns its record."""
    command = ["--config", config]
    command += ["--model", json.dumps(model), "--work-dir", work_dir, "--seed", str(seed)]
    command += ["--eval-every", str(eval_every)]
    if minutes is not None:
        command += ["--minutes", str(minutes)]
    if steps is not None:
        command += ["--steps", str(steps)]
    process = bench_common.run_module(
        "benchmarks.budget_training", *command, capture_output=True, text=True
    )
    if process.returncode != 0:
        return dict(failed=process.stderr.strip().splitlines()[-3:], model=model, seed=seed)
    return json.loads(process.stdout.strip().splitlines()[-1])


def plot_and_emit(benchmark: str, output: str, runs: list[dict], draw, **fields) -> None:
    """Draws the comparison `draw(path)` to the PNG named after `output` in `results/`, then
    writes `output` there: `fields`, the runs, the plot's name, the command that ran, the
    machine and the date. One ending for every driver of budgeted runs."""
    png = os.path.splitext(output)[0] + ".png"
    draw(os.path.join(bench_common.RESULTS_DIR, png))
    command = f"python -m benchmarks.{benchmark} " + " ".join(sys.argv[1:])
    record = dict(benchmark=benchmark, **fields, runs=runs, plot=os.path.basename(png))
    record.update(command=command, machine=bench_common.machine_info(), date=bench_common.now_iso())
    bench_common.emit(record, output)


def compare(
    benchmark: str, output: str, key: str, runs: dict, work_dir: str, minutes: float, title: str
) -> None:
    """Trains each of `runs` (`{name: (training config, GlowConfig changes)}`) for `minutes` in
    turn, each in its own process under `work_dir/name`, then plots their curves (labelled with
    the name and the final held-out bits/dim) and writes `output`; each record names its run under
    `key`. One driver for the comparisons whose runs differ only in what they train."""
    records = []
    for name, (config, changes) in runs.items():
        record = run(config, changes, os.path.join(work_dir, name), minutes=minutes)
        records.append({key: name, **record})
        print(records[-1], flush=True)
    plot_and_emit(
        benchmark,
        output,
        records,
        lambda path: plot_curves(
            records,
            lambda r: f"{r[key]} ({r.get('test_bits_per_dim', float('nan')):.3f})",
            title,
            path,
        ),
        minutes=minutes,
    )


def plot_curves(records: list[dict], label, title: str, path: str, style=None) -> None:
    """Held-out bits/dim against steps and against minutes, one curve per record.

    `label(record)` names a curve; `style(record)`, if given, returns matplotlib keyword
    arguments (colour, line style) for it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_step, by_minute) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for record in records:
        curve = record.get("curve", [])
        bits = [point["held_out_bits_per_dim"] for point in curve]
        options = dict(marker=".", label=label(record), **(style(record) if style else {}))
        by_step.plot([p["step"] for p in curve], bits, **options)
        by_minute.plot([p["minutes"] for p in curve], bits, **options)
    by_step.set_xlabel("training step")
    by_minute.set_xlabel("wall-clock minutes")
    by_step.set_ylabel("held-out bits/dim (1,024 test digits)")
    by_step.legend(fontsize=8)
    for axes in (by_step, by_minute):
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _measure(args) -> dict:
    import numpy as np
    import tf_keras

    from tfglow import recipe
    from tfglow.data import load_numpy
    from training import configs

    class EpochClock(tf_keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start, self.points = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            self.points.append(((time.perf_counter() - self.start) / 60.0, step))

    base = configs.get_config(args.config)
    config = base.replace(
        model=base.model.replace(**{"seed": args.seed, **json.loads(args.model)}),
        steps=args.steps or 10**7,
        steps_per_epoch=args.eval_every,
        checkpoint_every=args.eval_every,
        seed=args.seed,
    )
    shutil.rmtree(args.work_dir, ignore_errors=True)
    clock, load = EpochClock(), bench_common.OtherLoadMeter().start()
    start = time.perf_counter()
    result = recipe.train(
        config,
        args.work_dir,
        verbose=0,
        max_seconds=None if args.minutes is None else 60.0 * args.minutes,
        extra_callbacks=[clock],
    )
    train_seconds, other_cores = time.perf_counter() - start, load.cores()
    model = result.model
    bits_per_dim, count = recipe.evaluate_bits_per_dim(
        model, recipe.held_out_dataset(config, batch_size=500)
    )
    test = load_numpy("mnist", "test", limit=EXACTNESS_IMAGES)
    exact = sum(
        int(np.sum(np.all(model.decode(model.encode(batch)).numpy() == batch, axis=(1, 2, 3))))
        for batch in np.split(test, 4)
    )
    steps = result.end_step - result.start_step
    return dict(
        config=args.config,
        model_changes=json.loads(args.model),
        seed=args.seed,
        test_bits_per_dim=round(bits_per_dim, 4),
        test_images=count,
        steps=steps,
        steps_per_second=round(steps / train_seconds, 3),
        train_wall_seconds=round(train_seconds, 1),
        budget=dict(minutes=args.minutes, steps=args.steps),
        trainable_parameters=int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        exact_round_trips=f"{exact}/{EXACTNESS_IMAGES}",
        curve=[
            dict(minutes=round(minutes, 2), step=step, held_out_bits_per_dim=round(bits, 4))
            for (minutes, step), bits in zip(
                clock.points, result.history.get("val_bits_per_dim", [])
            )
        ],
        peak_rss_gb=round(bench_common.peak_rss_mb() / 1024, 2),
        other_processes_cpu_cores_mean=round(other_cores, 2),
        ema_momentum=config.ema_momentum,
        glow_config=config.model.to_json(),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="mnist_cpu")
    parser.add_argument("--model", default="{}", help="GlowConfig fields to change, as JSON")
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args(argv)
    if args.minutes is None and args.steps is None:
        parser.error("give a budget: --minutes, --steps or both")
    print(json.dumps(_measure(args)), flush=True)


if __name__ == "__main__":
    main()
