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
    budget_training.compare(
        "network_dtypes",
        args.output,
        "network_dtype",
        {
            dtype: ("mnist_cpu", {} if dtype == "float32" else {"network_dtype": dtype})
            for dtype in NETWORK_DTYPES
        },
        args.work_dir,
        args.minutes,
        "The main job with float32 and bfloat16 coupling networks, same wall-clock budget",
    )


if __name__ == "__main__":
    main()
