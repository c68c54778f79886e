"""Training throughput under each setting of TensorFlow's thread pools, alternated in one run (A/B).

    python -m benchmarks.threads --rounds 3 --steps 40              # width 256 (train_throughput)
    python -m benchmarks.threads --width 64 --output threads_main_job.json  # the main job

TensorFlow runs each op's work on an intra-op pool and independent ops side by side on an inter-op
pool; both default to the number of logical cores. Each round runs every variant once, in turn, as
a fresh process (`timed_fit.py`: `mnist_cpu` at `--width`, batch 64, real MNIST, the recipe's
Adam) that sets the two pools with `tf.config.threading` before any op runs:

* `default`: TensorFlow's choice (0, 0: as many threads as cores in each pool);
* `intraN_interM`: N intra-op and M inter-op threads.

Writes `benchmarks/results/<--output>`.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import timed_fit
from benchmarks.peers import bench_common

VARIANTS = {  # (intra-op threads, inter-op threads); 0 is TensorFlow's default
    "default": (0, 0),
    "intra2_inter1": (2, 1),
    "intra1_inter2": (1, 2),
    "intra1_inter1": (1, 1),
}


def _child(steps: int, width: int, intra: int, inter: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    timed_fit.run(steps, hidden_channels=width)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--width", type=int, default=256, help="the coupling networks' width")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", default="threads.json")
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    record = dict(
        benchmark="threads",
        model=f"mnist_cpu, hidden_channels={args.width}, batch 64, the recipe's Adam",
        steps=args.steps,
        rounds=args.rounds,
        **timed_fit.alternate(
            "benchmarks.threads",
            {
                name: ([str(v) for v in (args.steps, args.width, *VARIANTS[name])], {})
                for name in args.variants.split(",")
            },
            args.rounds,
            baseline="default",
        ),
        command="python -m benchmarks.threads " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
