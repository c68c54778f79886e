"""The SavedModel's latency under each setting of TensorFlow's thread pools, alternated in one run.

    python -m benchmarks.serving_threads --rounds 3

TF Serving sets the two pools with `--tensorflow_intra_op_parallelism` (threads inside one op) and
`--tensorflow_inter_op_parallelism` (ops side by side); both default to the number of logical
cores. The parent exports the MNIST-size model (`mnist_cpu`, width 256, ActNorm initialised on 256
test digits) once with `tfglow.serving.export_saved_model`. Each round then runs every variant in
turn as a fresh process that sets the pools with `tf.config.threading` before any op runs, loads
the SavedModel and times its `sample` (T = 0.7), `encode` and `log_prob` signatures at batch 1 and
64: `--repeats` calls of each after 3 warm-up calls, the cells round-robin, a cell's figure the
median call. A variant's figure is the median over the rounds.

* `default`: TensorFlow's choice (as many threads as cores in each pool);
* `intraN_interM`: N intra-op and M inter-op threads.

Writes `benchmarks/results/<--output>`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.peers import bench_common, mnist_idx

VARIANTS = {  # (intra-op threads, inter-op threads); 0 is TensorFlow's default
    "default": (0, 0),
    "intra1_inter2": (1, 2),
    "intra1_inter1": (1, 1),
}
OPERATIONS = ("sample", "encode", "log_prob")
BATCH_SIZES = (1, 64)
TEMPERATURE = 0.7


def _child(export_dir: str, repeats: int, intra: int, inter: int) -> None:
    """Runs in the subprocess: prints one JSON line, `{"<operation>@<batch>": milliseconds}`."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    signatures = tf.saved_model.load(export_dir).signatures
    images = mnist_idx.load_mnist("test")[: max(BATCH_SIZES)]
    cells = {}
    for operation in OPERATIONS:
        for batch in BATCH_SIZES:
            if operation == "sample":
                inputs = dict(temperature=tf.fill([batch], TEMPERATURE))
            else:
                inputs = dict(images=tf.constant(images[:batch]))
            cells[f"{operation}@{batch}"] = (signatures[operation], inputs)

    def seconds(signature, inputs) -> float:
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), signature(**inputs))
        return time.perf_counter() - start

    for signature, inputs in cells.values():
        for _ in range(3):
            seconds(signature, inputs)
    times = {cell: [] for cell in cells}
    for _ in range(repeats):
        for cell, (signature, inputs) in cells.items():
            times[cell].append(seconds(signature, inputs))
    print(json.dumps({cell: round(1000 * statistics.median(t), 3) for cell, t in times.items()}))


def _export(export_dir: str) -> str:
    from tfglow import GlowConfig, GlowModel
    from tfglow.serving import export_saved_model

    model = GlowModel(GlowConfig.preset("mnist_cpu", hidden_channels=256))
    model.initialize(mnist_idx.load_mnist("test")[:256])
    return export_saved_model(model, export_dir)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20, help="calls per cell and round")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--output", default="serving_threads.json")
    args = parser.parse_args(argv)
    if args.child:
        export_dir, repeats, intra, inter = args.child
        _child(export_dir, int(repeats), int(intra), int(inter))
        return
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    export_dir = _export(tempfile.mkdtemp(prefix="tfglow_serving_threads_"))
    runs = bench_common.alternate_children(
        "benchmarks.serving_threads",
        {name: ([export_dir, str(args.repeats), *map(str, VARIANTS[name])], {}) for name in names},
        args.rounds,
    )
    milliseconds = {
        name: {cell: statistics.median(run[cell] for run in results) for cell in results[0]}
        for name, results in runs.items()
    }
    record = dict(
        benchmark="serving_threads",
        model="mnist_cpu, hidden_channels=256, its SavedModel (tfglow.serving.export_saved_model)",
        temperature=TEMPERATURE,
        repeats=args.repeats,
        rounds=args.rounds,
        threads={name: dict(zip(("intra_op", "inter_op"), VARIANTS[name])) for name in names},
        runs=runs,
        median_milliseconds=milliseconds,
        # > 1: the variant answers faster than TensorFlow's default pools
        speedup_over_default=(
            {
                name: {
                    cell: round(milliseconds["default"][cell] / ms, 3) for cell, ms in cells.items()
                }
                for name, cells in milliseconds.items()
            }
            if "default" in milliseconds
            else {}
        ),
        command="python -m benchmarks.serving_threads " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
