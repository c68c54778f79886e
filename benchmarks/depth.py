"""The effect of depth: `mnist_cpu` at K = 4, 8, 16, 32 (and 64 with reversible gradients) under
a fixed number of steps and under a fixed wall-clock time.

    python -m benchmarks.depth --depths 4,8,16,32 --reversible-depths 64 --steps 300 --minutes 3

Each run trains the main job's model and recipe (L=2, width 64, Adam lr 1e-3, batch 64) with
`steps_per_level = K` from scratch in its own process (`budget_training.py`), once with `--steps`
steps and once with `--minutes` of wall-clock time; the depths in `--reversible-depths` train with
`reversible_gradients=True`; `--steps 0` or `--minutes 0` leaves that budget out. Reports
held-out bits/dim on all 10,000 test digits, steps, steps/s and the process's peak RSS per run,
and plots bits/dim and peak memory against K. Writes `benchmarks/results/<--output>` (default
`depth.json`) and the PNG of the same name.
"""

from __future__ import annotations

import argparse
import os

from benchmarks import budget_training

DEFAULT_WORK_DIR = "/tmp/tfglow_benchmarks/depth"


def plot(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bits, memory) = plt.subplots(1, 2, figsize=(11, 4.5))
    for budget in ("steps", "minutes"):
        for reversible in (False, True):
            runs = [
                r
                for r in records
                if r["budget_kind"] == budget
                and r["reversible"] == reversible
                and "failed" not in r
            ]
            if not runs:
                continue
            depths = [r["steps_per_level"] for r in runs]
            label = f"fixed {budget}" + (", reversible" if reversible else "")
            bits.plot(depths, [r["test_bits_per_dim"] for r in runs], marker="o", label=label)
            memory.plot(depths, [r["peak_rss_gb"] for r in runs], marker="o", label=label)
    labels = ((bits, "held-out bits/dim (10,000 test digits)"), (memory, "peak RSS, GB"))
    for axes, ylabel in labels:
        axes.set_xscale("log", base=2)
        axes.set_xlabel("steps of flow per level, K")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle("Depth on MNIST: mnist_cpu (L=2, width 64)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--depths", default="4,8,16,32")
    parser.add_argument("--reversible-depths", default="64")
    parser.add_argument("--steps", type=int, default=300, help="0: no fixed-steps runs")
    parser.add_argument("--minutes", type=float, default=3.0, help="0: no fixed-time runs")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", default="depth.json")
    args = parser.parse_args(argv)
    if args.steps < 0 or args.minutes < 0:
        parser.error(f"--steps {args.steps} --minutes {args.minutes}: a budget is 0 or more")
    plan = [(int(k), False) for k in args.depths.split(",") if k]
    plan += [(int(k), True) for k in args.reversible_depths.split(",") if k]
    records = []
    budgets = {
        kind: value for kind, value in (("steps", args.steps), ("minutes", args.minutes)) if value
    }
    if not budgets:
        parser.error("--steps 0 and --minutes 0 leave nothing to run")
    for budget_kind, value in budgets.items():
        budget = {budget_kind: value}
        for depth, reversible in plan:
            changes = {"steps_per_level": depth, "reversible_gradients": reversible}
            work_dir = os.path.join(args.work_dir, f"{budget_kind}_K{depth}_{reversible}")
            record = budget_training.run("mnist_cpu", changes, work_dir, eval_every=100, **budget)
            records.append(
                dict(
                    budget_kind=budget_kind, steps_per_level=depth, reversible=reversible, **record
                )
            )
            shown = ("budget_kind", "steps_per_level", "reversible", "test_bits_per_dim", "steps")
            print({key: records[-1].get(key) for key in (*shown, "peak_rss_gb")}, flush=True)
    budget_training.plot_and_emit(
        "depth",
        args.output,
        records,
        lambda path: plot(records, path),
        budgets=budgets,
    )


if __name__ == "__main__":
    main()
