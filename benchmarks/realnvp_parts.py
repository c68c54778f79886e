"""Which of RealNVP's parts help: `realnvp_cpu` with each part in turn replaced by Glow's choice.

    python -m benchmarks.realnvp_parts --minutes 4

Trains, each from scratch with the same recipe and wall-clock budget in its own process
(`budget_training.py`): the full `realnvp_cpu`, and `realnvp_cpu` without logit preprocessing,
without batch normalisation (no normalisation layer between couplings), with the sigmoid scale
instead of tanh, and with Glow's coupling network (and its sigmoid scale, which that network needs)
instead of the residual one. Reports held-out bits/dim on all 10,000 test digits per variant and
its difference from the full model. Writes `benchmarks/results/realnvp_parts.json` and
`realnvp_parts.png`.
"""

from __future__ import annotations

import argparse
import os

from benchmarks import budget_training

DEFAULT_WORK_DIR = "/tmp/tfglow_benchmarks/realnvp_parts"
VARIANTS = {
    "full": {},
    "no_logit": {"preprocessing": "none"},
    "no_batch_norm": {"batch_norm": False},
    "sigmoid_scale": {"affine_scale": "sigmoid"},
    "glow_network": {"coupling_network": "glow", "affine_scale": "sigmoid"},
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", default="realnvp_parts.json")
    args = parser.parse_args(argv)
    records = []
    for name, changes in VARIANTS.items():
        record = budget_training.run(
            "realnvp_cpu", changes, os.path.join(args.work_dir, name), minutes=args.minutes
        )
        records.append(dict(variant=name, **record))
        shown = ("variant", "test_bits_per_dim", "steps", "failed")
        print({key: records[-1].get(key) for key in shown}, flush=True)
    full = records[0].get("test_bits_per_dim")
    for record in records:
        bits = record.get("test_bits_per_dim")
        record["difference_from_full"] = (
            None if bits is None or full is None else round(bits - full, 4)
        )
    budget_training.plot_and_emit(
        "realnvp_parts",
        args.output,
        records,
        lambda path: budget_training.plot_curves(
            [r for r in records if "failed" not in r],
            lambda r: f"{r['variant']} ({r['test_bits_per_dim']:.3f})",
            f"realnvp_cpu without each of its parts, MNIST, {args.minutes:g} min per run",
            path,
        ),
        minutes=args.minutes,
    )


if __name__ == "__main__":
    main()
