"""The coupling networks' kernels at batch 1 in TensorFlow and in PyTorch: where batch 1 goes.

    python -m benchmarks.batch1_kernels --rounds 3

At batch 1 an MNIST-size encode (L=2, K=8, width 256) runs, in each of its 16 couplings, a 3×3
convolution from the conditioning half to 256 channels, the 1×1 convolution (a 256×256 matrix
product over the pixels) and the 3×3 zero convolution back to the half's width: at 14×14 in the
first level, 7×7 in the second. This times each of those kernels (with bias and ReLU, as the
network runs them) on the same shapes in TensorFlow (one `tf.function` applying it `CHAIN` times,
each call waiting for the one before, so that the function call's own cost is spread) and in
PyTorch (`.venv-torch`, 2 threads, `torch.inference_mode()`, the same chain in Python), a fresh
process each, alternating in `--rounds` rounds. Reports the median microseconds per kernel and
TensorFlow ÷ PyTorch. Writes `benchmarks/results/batch1_kernels.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from benchmarks.peers import bench_common

CHAIN = 32
REPEATS = 60
# (name, kind, rows or spatial size, input channels, output channels)
KERNELS = (
    ("conv3x3 14x14 2->256", "conv", 14, 2, 256),
    ("matmul 196x256 @ 256x256", "matmul", 196, 256, 256),
    ("conv3x3 14x14 256->4", "conv", 14, 256, 4),
    ("conv3x3 7x7 4->256", "conv", 7, 4, 256),
    ("matmul 49x256 @ 256x256", "matmul", 49, 256, 256),
    ("conv3x3 7x7 256->8", "conv", 7, 256, 8),
)


def _median_microseconds(call) -> float:
    for _ in range(5):
        call()
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return round(1e6 * statistics.median(seconds) / CHAIN, 1)


def _tensorflow() -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    def chain(kind, size, cin, cout):
        shape = [1, size, size, cin] if kind == "conv" else [size, cin]
        inputs = [tf.random.normal(shape) for _ in range(CHAIN)]
        weight = tf.Variable(tf.random.normal([3, 3, cin, cout] if kind == "conv" else [cin, cout]))
        bias = tf.Variable(tf.zeros([cout]))

        @tf.function
        def run(inputs):
            carry = tf.zeros([])
            for x in inputs:
                x = x + carry
                y = tf.nn.conv2d(x, weight, 1, "SAME") if kind == "conv" else tf.matmul(x, weight)
                carry = tf.reshape(tf.nn.relu(tf.nn.bias_add(y, bias)), [-1])[0] * 0.0
            return carry

        return lambda: run(inputs)

    return {name: _median_microseconds(chain(*spec)) for name, *spec in KERNELS}


def _torch() -> dict:
    import torch

    torch.set_num_threads(2)

    def chain(kind, size, cin, cout):
        if kind == "conv":
            layer = torch.nn.Conv2d(cin, cout, 3, padding=1)
            inputs = [torch.randn(1, cin, size, size) for _ in range(CHAIN)]
        else:
            layer = torch.nn.Linear(cin, cout)
            inputs = [torch.randn(size, cin) for _ in range(CHAIN)]

        def run():
            with torch.inference_mode():
                carry = torch.zeros([])
                for x in inputs:
                    carry = torch.relu(layer(x + carry)).reshape(-1)[0] * 0.0
            return carry

        return run

    return {name: _median_microseconds(chain(*spec)) for name, *spec in KERNELS}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("tensorflow", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--output", default="batch1_kernels.json")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_tensorflow() if args.child == "tensorflow" else _torch()))
        return
    pythons = {
        "tensorflow": sys.executable,
        "torch": os.path.join(bench_common.ROOT, ".venv-torch", "bin", "python"),
    }
    rounds = {framework: [] for framework in pythons}
    for _ in range(args.rounds):
        for framework, python in pythons.items():
            process = bench_common.run_module(
                "benchmarks.batch1_kernels",
                "--child",
                framework,
                python=python,
                capture_output=True,
                text=True,
                check=True,
            )
            rounds[framework].append(json.loads(process.stdout.strip().splitlines()[-1]))
            print(framework, rounds[framework][-1], flush=True)
    rows = []
    for name, *_ in KERNELS:
        medians = {f: statistics.median(r[name] for r in rounds[f]) for f in pythons}
        rows.append(
            dict(
                kernel=name,
                tensorflow_us=medians["tensorflow"],
                torch_us=medians["torch"],
                tensorflow_over_torch=round(medians["tensorflow"] / medians["torch"], 2),
            )
        )
    record = dict(
        benchmark="batch1_kernels",
        chain=CHAIN,
        repeats=REPEATS,
        rows=rows,
        rounds=rounds,
        command="python -m benchmarks.batch1_kernels " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
