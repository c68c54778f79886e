"""NICE vs. RealNVP vs. Glow on real MNIST with the same wall-clock budget, side by side.

    python -m benchmarks.architectures --minutes 12                 # all three, one after another
    python -m benchmarks.architectures --minutes 12 --only glow,realnvp

Each architecture is trained from scratch with the CPU main job's recipe (`training/configs.py`:
Adam at lr 1e-3 after a 200-step warmup, clipping at 50, batch 64, held-out bits/dim on 1,024 test
digits every 250 steps) for `--minutes` of wall-clock time, each in its own process
(`budget_training.py`):

* `glow`: the `mnist_cpu` training config (Glow, L=2, K=8, width 64, Polyak average 0.99);
* `realnvp`: the `realnvp_cpu` training config (RealNVP §3-4: checkerboard and channel masks,
  residual networks, batch normalisation, tanh scale, logit preprocessing; no Polyak average,
  which batch normalisation's running averages do not fit);
* `nice`: `mnist_cpu` with NICE's parts (the `nice` preset: additive couplings, reversed channels,
  no ActNorm).

Reports for each: held-out bits/dim on all 10,000 test digits, steps and steps/s, trainable
parameters, whether decode(encode(x)) gives back every one of 1,000 test digits exactly, and the
held-out curve. Writes `benchmarks/results/architectures.json` and `architectures.png`.
"""

from __future__ import annotations

import argparse

from benchmarks import budget_training

DEFAULT_WORK_DIR = "/tmp/tfglow_benchmarks/architectures"
# (training config, GlowConfig changes) of each architecture.
ARCHITECTURES = {
    "glow": ("mnist_cpu", {}),
    "realnvp": ("realnvp_cpu", {}),
    "nice": ("mnist_cpu", {"coupling": "additive", "permutation": "reverse", "actnorm": False}),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--only", default="glow,realnvp,nice", help="comma-separated subset")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", default="architectures.json")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    unknown = sorted(set(names) - set(ARCHITECTURES))
    if unknown:
        parser.error(f"unknown architectures {unknown}; choose from {sorted(ARCHITECTURES)}")
    budget_training.compare(
        "architectures",
        args.output,
        "architecture",
        {name: ARCHITECTURES[name] for name in names},
        args.work_dir,
        args.minutes,
        "NICE vs RealNVP vs Glow on MNIST, same wall-clock budget",
    )


if __name__ == "__main__":
    main()
