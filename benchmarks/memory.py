"""Peak resident memory of a training step as the depth K grows (4, 8, 16, 32).

    python benchmarks/memory.py

For each K, a fresh subprocess builds the MNIST-size model (28×28×1, L=2, width 256, batch 64) with
K steps per level, runs `--steps` training steps through `GlowModel.fit`, and reports its peak
resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) together with the peak before the
first step (TensorFlow, the data and the model's variables), so the difference is what training
adds. Both coupling-network dtypes are measured. Writes `benchmarks/results/memory.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(HERE, "peers")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bench_common  # noqa: E402

DEPTHS = (4, 8, 16, 32)
BATCH_SIZE = 64


def _peak_megabytes() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _child(depth: int, network_dtype: str | None, steps: int) -> None:
    """Runs in the subprocess: prints one JSON line with the peaks."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    import mnist_idx
    from tfglow import GlowConfig, GlowModel

    images = mnist_idx.load_mnist("train")[:BATCH_SIZE * 4]
    model = GlowModel(GlowConfig.preset("mnist_cpu", steps_per_level=depth,
                                        network_dtype=network_dtype))
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-4))
    model.initialize(images[:BATCH_SIZE])
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH_SIZE).repeat()
    before = _peak_megabytes()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    print(json.dumps(dict(
        steps_per_level=depth, network_dtype=network_dtype or "float32",
        peak_rss_mb=round(_peak_megabytes(), 1), peak_rss_before_training_mb=round(before, 1),
        trainable_parameters=int(sum(np.prod(v.shape) for v in model.trainable_variables)))))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--network-dtypes", default="float32,bfloat16")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("K", "DTYPE", "STEPS"), help=argparse.SUPPRESS)
    parser.add_argument("--output", default="memory.json")
    args = parser.parse_args(argv)
    if args.child:
        depth, network_dtype, steps = args.child
        _child(int(depth), None if network_dtype == "float32" else network_dtype, int(steps))
        return
    rows = []
    for network_dtype in args.network_dtypes.split(","):
        for depth in map(int, args.depths.split(",")):
            output = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child", str(depth), network_dtype,
                 str(args.steps)], check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            rows[-1]["training_adds_mb"] = round(
                rows[-1]["peak_rss_mb"] - rows[-1]["peak_rss_before_training_mb"], 1)
            print(rows[-1], flush=True)
    record = dict(benchmark="memory", batch_size=BATCH_SIZE, image_shape=[28, 28, 1], num_levels=2,
                  hidden_channels=256, rows=rows, measure="ru_maxrss of a fresh process per row",
                  command="python benchmarks/memory.py " + " ".join(sys.argv[1:]),
                  machine=bench_common.machine_info(), date=bench_common.now_iso())
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
