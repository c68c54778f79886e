"""The float32 ceiling of a training step on this CPU, beside TFP's `tfb.Glow`, in one run.

    python -m benchmarks.ceiling --size mnist     # 28×28×1, L=2, K=8, width 256, batch 64
    python -m benchmarks.ceiling --size cifar     # 32×32×3, L=3, K=8, width 256, batch 64

A Glow training step is nearly all convolutions and matrix products. Their arithmetic is counted
from each flow's own traced x→z pass at batch 1 (`tfglow.Glow` and TFP's `tfb.Glow` as
`benchmarks/peers/tfp_glow.py` builds it): `2·k_h·k_w·C_in` per output element of a convolution,
`2·m·k·n` for a product. A step is three times that per image: the forward pass, then for every
convolution the gradient of its input and of its kernel, each as many multiply-adds as the
forward.

The CPU's float32 peak is what TensorFlow's own matrix product reaches alone on this machine
(`tf.linalg.matmul` in a `tf.function`, at the step's largest 1×1-convolution shape and at
2048³), measured before and after the training windows; the larger is the peak. Dividing it by
a step's FLOPs per image gives the images/s no float32 implementation of the same network can
exceed here, and so the largest ratio over TFP's images/s of the same run that float32 can reach.
The training figures are `benchmarks/train_throughput.py`'s alternating windows (`GlowModel.fit`
and TFP's compiled step). Writes `benchmarks/results/ceiling_<size>.json`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from benchmarks import train_throughput
from benchmarks.peers import bench_common, tfp_glow
from tfglow import Glow, GlowConfig

TARGET_RATIO = 2.5
PEAK_REPEATS = 30
# Convolution ops and the input whose shape is the kernel: `2·k_h·k_w·C_in` FLOPs per output
# element (a depthwise kernel's `C_in` is 1 per output channel).
_CONVOLUTIONS = {"Conv2D": "full", "DepthwiseConv2dNative": "depthwise"}
_PRODUCTS = ("MatMul", "BatchMatMulV2")


def forward_flops(graph: tf.Graph) -> dict:
    """FLOPs of the convolutions and matrix products of `graph`, by op type.

    Shapes must be static (trace at a fixed batch size). Ops inside nested functions are not
    counted; the flows here trace their layers inline.
    """
    flops = {}
    for op in graph.get_operations():
        if op.type in _CONVOLUTIONS:
            output = op.outputs[0].shape
            kernel = op.inputs[1].shape
            per_output = 2 * kernel[0] * kernel[1]
            if _CONVOLUTIONS[op.type] == "full":
                per_output *= kernel[2]
            count = per_output * output.num_elements()
        elif op.type in _PRODUCTS:
            a, b = op.inputs[0].shape, op.inputs[1].shape
            transpose_a = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            transpose_b = op.get_attr("transpose_b" if op.type == "MatMul" else "adj_y")
            m, k = (a[-1], a[-2]) if transpose_a else (a[-2], a[-1])
            n = b[-2] if transpose_b else b[-1]
            batch = a[:-2].num_elements() if a.rank > 2 else 1
            count = 2 * batch * m * k * n
        else:
            continue
        flops[op.type] = flops.get(op.type, 0) + int(count)
    return flops


def _ours_forward_flops(config: GlowConfig) -> dict:
    glow = Glow(config)
    glow.data_dependent_init = False
    encode = tf.function(lambda x: glow.inverse(x), autograph=False)
    return forward_flops(
        encode.get_concrete_function(tf.TensorSpec([1, *config.image_shape])).graph
    )


def _tfp_forward_flops(size: str) -> dict:
    distribution, _ = tfp_glow.build_distribution(bench_common.CONFIGS[size], seed=0)
    image_shape = bench_common.CONFIGS[size]["image_shape"]
    log_prob = tf.function(distribution.log_prob, autograph=False)
    return forward_flops(log_prob.get_concrete_function(tf.TensorSpec([1, *image_shape])).graph)


def matmul_gflops(m: int, k: int, n: int, repeats: int = PEAK_REPEATS) -> float:
    """Median GFLOP/s of one float32 `[m, k] @ [k, n]` in a `tf.function`, alone."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal([m, k]), tf.float32)
    b = tf.constant(rng.standard_normal([k, n]), tf.float32)
    product = tf.function(tf.linalg.matmul)
    product(a, b).numpy()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        seconds.append(time.perf_counter() - start)
    return 2 * m * k * n / statistics.median(seconds) / 1e9


def _peak_gflops(config: GlowConfig, batch_size: int) -> dict:
    height, width, _ = config.image_shape
    rows = batch_size * (height // 2) * (width // 2)
    width_channels = config.hidden_channels
    return {
        f"matmul {rows}x{width_channels} @ {width_channels}x{width_channels}": round(
            matmul_gflops(rows, width_channels, width_channels), 1
        ),
        "matmul 2048x2048 @ 2048x2048": round(matmul_gflops(2048, 2048, 2048), 1),
    }


def measure(size: str, windows: int, steps_per_window: int, warmup_steps: int) -> dict:
    """Counts both flows' FLOPs, times ours against TFP between two peak measurements, and
    returns the result record."""
    config = GlowConfig.preset(train_throughput.PRESETS[size], seed=0)
    batch_size = bench_common.CONFIGS[size]["batch_size"]
    ours_flops = _ours_forward_flops(config)
    tfp_flops = _tfp_forward_flops(size)
    peaks_before = _peak_gflops(config, batch_size)
    throughput = train_throughput.measure(
        size, ["ours_float32", "tfp_glow"], warmup_steps, windows, steps_per_window
    )
    peaks_after = _peak_gflops(config, batch_size)
    peak = max([*peaks_before.values(), *peaks_after.values()])
    ours_step_gflop = 3 * sum(ours_flops.values()) / 1e9
    tfp_step_gflop = 3 * sum(tfp_flops.values()) / 1e9
    ours_rate = throughput["results"]["ours_float32"]["images_per_second_median"]
    tfp_rate = throughput["results"]["tfp_glow"]["images_per_second_median"]
    ceiling_rate = peak / ours_step_gflop
    return dict(
        benchmark="ceiling",
        size=size,
        config=config.to_json(),
        batch_size=batch_size,
        flops_convention=(
            "convolutions and matrix products of the x→z pass at batch 1, counted from each "
            "flow's traced graph; a training step per image is 3× that (forward, input "
            "gradient, kernel gradient)"
        ),
        forward_gflop_per_image=dict(
            ours={key: round(value / 1e9, 4) for key, value in ours_flops.items()},
            tfp_glow={key: round(value / 1e9, 4) for key, value in tfp_flops.items()},
        ),
        step_gflop_per_image=dict(
            ours=round(ours_step_gflop, 4), tfp_glow=round(tfp_step_gflop, 4)
        ),
        peak_gflops_alone=dict(before=peaks_before, after=peaks_after, peak=peak),
        images_per_second=dict(ours_float32=ours_rate, tfp_glow=tfp_rate),
        achieved_gflops=dict(
            ours_float32=round(ours_rate * ours_step_gflop, 1),
            tfp_glow=round(tfp_rate * tfp_step_gflop, 1),
        ),
        fraction_of_peak=dict(
            ours_float32=round(ours_rate * ours_step_gflop / peak, 3),
            tfp_glow=round(tfp_rate * tfp_step_gflop / peak, 3),
        ),
        ceiling_images_per_second=round(ceiling_rate, 1),
        ratios=dict(
            ours_float32_over_tfp_glow=round(ours_rate / tfp_rate, 3),
            ceiling_over_tfp_glow=round(ceiling_rate / tfp_rate, 3),
        ),
        target=dict(
            ratio=TARGET_RATIO,
            needs_gflops=round(TARGET_RATIO * tfp_rate * ours_step_gflop, 1),
            needs_fraction_of_peak=round(TARGET_RATIO * tfp_rate * ours_step_gflop / peak, 3),
        ),
        throughput=throughput,
        tensorflow=tf.__version__,
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(train_throughput.PRESETS), default="mnist")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps-per-window", type=int, default=10)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument(
        "--output",
        default=None,
        help="file name under benchmarks/results/ (default: ceiling_SIZE.json)",
    )
    args = parser.parse_args(argv)
    result = measure(args.size, args.windows, args.steps_per_window, args.warmup_steps)
    result["command"] = "python -m benchmarks.ceiling " + " ".join(sys.argv[1:])
    bench_common.emit(result, args.output or f"ceiling_{args.size}.json")


if __name__ == "__main__":
    main()
