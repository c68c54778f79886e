"""Training throughput under each memory allocator, alternated in one run (A/B).

    python -m benchmarks.allocator --rounds 3 --steps 150

Each round runs every variant once, in turn, as a fresh process that trains the main job's model
(`mnist_cpu` with 64-wide coupling networks, batch 64, real MNIST, `timed_fit.py`) for one warm-up
step and then `--steps` timed steps, and reports images/s and the process's user and kernel CPU
seconds:

* `glibc`: the C library's allocator as it comes;
* `glibc_tuned`: glibc with large mmap and trim thresholds and top padding (`MALLOC_*_`), so that
  activation buffers are reused instead of returned to the kernel and faulted in again each step;
* `glibc_mallopt`: the same thresholds set at start by `tfglow.allocator.tune_glibc()` (what the
  programs do, for commands started without the environment);
* `tcmalloc`, `jemalloc`: preloaded (Debian `libtcmalloc-minimal4`, `libjemalloc2`), where
  installed.

Writes `benchmarks/results/<--output>`.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import timed_fit
from benchmarks.peers import bench_common
from tfglow.allocator import GLIBC_TUNING

LIBRARIES = "/usr/lib/x86_64-linux-gnu"
VARIANTS = {
    "glibc": {},
    "glibc_tuned": {name: str(value) for name, value in GLIBC_TUNING.items()},
    "glibc_mallopt": {"TFGLOW_BENCH_MALLOPT": "1"},
    "tcmalloc": {"LD_PRELOAD": f"{LIBRARIES}/libtcmalloc_minimal.so.4"},
    "jemalloc": {"LD_PRELOAD": f"{LIBRARIES}/libjemalloc.so.2"},
}
MAIN_JOB_WIDTH = 64  # the coupling networks' width in `training/main.sh`


def _child(steps: int) -> None:
    if os.environ.get("TFGLOW_BENCH_MALLOPT"):
        from tfglow.allocator import tune_glibc

        tune_glibc()
    timed_fit.run(steps, hidden_channels=MAIN_JOB_WIDTH)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", default="allocator.json")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    variants = [
        name
        for name in args.variants.split(",")
        if not VARIANTS[name].get("LD_PRELOAD") or os.path.exists(VARIANTS[name]["LD_PRELOAD"])
    ]
    record = dict(
        benchmark="allocator",
        model="mnist_cpu, hidden_channels=64, batch 64 (the main job's)",
        steps=args.steps,
        rounds=args.rounds,
        **timed_fit.alternate(
            "benchmarks.allocator",
            {name: ([str(args.steps)], VARIANTS[name]) for name in variants},
            args.rounds,
            baseline="glibc",
        ),
        command="python -m benchmarks.allocator " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
