"""float32 vs bfloat16 coupling networks on the main job, with the same wall-clock budget.

    python -m benchmarks.network_dtypes --minutes 5

What `network_dtype` should a user leave as the default? Trains the CPU main job (`mnist_cpu`
training config: Glow, L=2, K=8, width 64, the main job's recipe) from scratch for `--minutes` of
wall-clock time, once with float32 coupling networks and once with bfloat16 ones, each in its own
process (`budget_training.py`), and reports for each: held-out bits/dim on all 10,000 test digits,
steps and steps/s, whether decode(encode(x)) gives back every one of 1,000 test digits exactly, and
the held-out curve. The machine record says whether this CPU computes bfloat16 natively
(`isa_flags`): `network_dtype="auto"` picks bfloat16 exactly there. Writes
`benchmarks/results/network_dtypes.json` and `network_dtypes.png`.
"""

from __future__ import annotations

import argparse
import os

from benchmarks import budget_training

DEFAULT_WORK_DIR = "/tmp/tfglow_benchmarks/network_dtypes"
NETWORK_DTYPES = ("float32", "bfloat16")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", default="network_dtypes.json")
    args = parser.parse_args(argv)
    records = []
    for dtype in NETWORK_DTYPES:
        changes = {} if dtype == "float32" else {"network_dtype": dtype}
        record = budget_training.run(
            "mnist_cpu", changes, os.path.join(args.work_dir, dtype), minutes=args.minutes
        )
        records.append(dict(network_dtype=dtype, **record))
        print(records[-1], flush=True)
    budget_training.plot_and_emit(
        "network_dtypes",
        args.output,
        records,
        lambda path: budget_training.plot_curves(
            records,
            lambda r: f"{r['network_dtype']} ({r.get('test_bits_per_dim', float('nan')):.3f})",
            "The main job with float32 and bfloat16 coupling networks, same wall-clock budget",
            path,
        ),
        minutes=args.minutes,
    )


if __name__ == "__main__":
    main()
