"""Glow's Fig. 3 at CPU scale: reverse vs. shuffle vs. invertible 1×1 convolution, each with
additive and with affine coupling, on real MNIST with the same wall-clock budget.

    python -m benchmarks.permutations --minutes 3 --seeds 0,1

Every combination of {reverse, shuffle, conv1x1_lu} × {additive, affine} is trained from scratch
with the main job's recipe and model (`mnist_cpu`: L=2, K=8, width 64, Adam lr 1e-3, batch 64) for
`--minutes` per run, once per seed (the seed sets the initial weights and the data order), each in
its own process (`budget_training.py`). Nothing is tuned per combination. Reports the final
held-out bits/dim on all 10,000 test digits per run, the mean and spread over seeds per
combination, and whether the paper's ordering (1×1 conv below shuffle below reverse) holds for
each coupling. Writes `benchmarks/results/permutations.json` and `permutations.png`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics

from benchmarks import budget_training
from benchmarks.peers import bench_common

DEFAULT_WORK_DIR = "/tmp/tfglow_benchmarks/permutations"
PERMUTATIONS = ("reverse", "shuffle", "conv1x1_lu")
COUPLINGS = ("additive", "affine")


def summarise(records: list[dict]) -> list[dict]:
    """Mean, spread and seeds of the final figure per (coupling, permutation)."""
    rows = []
    for coupling, permutation in itertools.product(COUPLINGS, PERMUTATIONS):
        figures = [
            r["test_bits_per_dim"]
            for r in records
            if r["coupling"] == coupling and r["permutation"] == permutation and "failed" not in r
        ]
        rows.append(
            dict(
                coupling=coupling,
                permutation=permutation,
                seeds=len(figures),
                mean_bits_per_dim=round(statistics.mean(figures), 4) if figures else None,
                spread=round(max(figures) - min(figures), 4) if figures else None,
                bits_per_dim=figures,
            )
        )
    return rows


def ordering(rows: list[dict]) -> dict:
    """Per coupling: the permutations from best to worst, and whether that is the paper's."""
    verdict = {}
    for coupling in COUPLINGS:
        means = {
            r["permutation"]: r["mean_bits_per_dim"]
            for r in rows
            if r["coupling"] == coupling and r["mean_bits_per_dim"] is not None
        }
        ranked = sorted(means, key=means.get)
        verdict[coupling] = dict(
            best_to_worst=ranked,
            paper_order_holds=ranked == ["conv1x1_lu", "shuffle", "reverse"],
            conv1x1_gain_over_reverse=round(means["reverse"] - means["conv1x1_lu"], 4)
            if {"reverse", "conv1x1_lu"} <= set(means)
            else None,
        )
    return verdict


COLOURS = {"reverse": "tab:red", "shuffle": "tab:orange", "conv1x1_lu": "tab:blue"}


def plot(records: list[dict], minutes: float, path: str) -> None:
    """One colour per permutation, solid for affine and dashed for additive, one curve per seed."""
    budget_training.plot_curves(
        [r for r in records if "failed" not in r],
        lambda r: f"{r['permutation']}, {r['coupling']}, seed {r['seed']}",
        f"Glow Fig. 3 at CPU scale: MNIST, mnist_cpu (K=8, width 64), {minutes:g} min per run",
        path,
        style=lambda r: dict(
            color=COLOURS[r["permutation"]],
            linestyle="-" if r["coupling"] == "affine" else "--",
            alpha=1.0 if r["seed"] == 0 else 0.55,
        ),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", default="permutations.json")
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the plot from the existing JSON"
    )
    args = parser.parse_args(argv)
    png = os.path.splitext(args.output)[0] + ".png"
    if args.plot_only:
        with open(os.path.join(bench_common.RESULTS_DIR, args.output)) as f:
            record = json.load(f)
        plot(record["runs"], record["minutes"], os.path.join(bench_common.RESULTS_DIR, png))
        return
    seeds = [int(seed) for seed in args.seeds.split(",")]
    records = []
    for seed, coupling, permutation in itertools.product(seeds, COUPLINGS, PERMUTATIONS):
        changes = {"coupling": coupling, "permutation": permutation}
        work_dir = os.path.join(args.work_dir, f"{coupling}_{permutation}_seed{seed}")
        record = budget_training.run(
            "mnist_cpu", changes, work_dir, minutes=args.minutes, seed=seed
        )
        records.append(dict(coupling=coupling, permutation=permutation, **record))
        shown = ("coupling", "permutation", "seed", "test_bits_per_dim", "steps")
        print({key: records[-1].get(key) for key in shown}, flush=True)
    rows = summarise(records)
    budget_training.plot_and_emit(
        "permutations",
        args.output,
        records,
        lambda path: plot(records, args.minutes, path),
        minutes=args.minutes,
        seeds=seeds,
        summary=rows,
        ordering=ordering(rows),
    )


if __name__ == "__main__":
    main()
