"""Inference speed against the peers: images/s of sample (T = 0.7), encode and log_prob.

    python -m benchmarks.inference_speed [--repeats 20]

At the MNIST size (28×28×1, L=2, K=8, width 256, affine coupling, LU 1×1 conv), batch 1 and 64:

* tfglow in memory: `GlowModel.encode`, `log_prob` and the sampling the SavedModel signature
  runs, each compiled with `tf.function`;
* tfglow's SavedModel: the `encode`, `log_prob` and `sample` signatures of
  `tfglow.serving.export_saved_model`, reloaded with `tf.saved_model.load`;
* TFP's `tfb.Glow` (`peers/tfp_glow.py`'s model) in a `tf.TransformedDistribution`, compiled with
  `tf.function`: `glow.inverse`, `distribution.log_prob`, `glow.forward` of 0.7·N(0, I);
* the PyTorch Glow peer (`peers/torch_glow.py --mode inference`), in its own process after ours,
  under `torch.inference_mode()` with 2 threads.

Every sample is decoded to uint8 pixels, as ours are. Weights are freshly initialised (ActNorm's
data-dependent init on 256 test digits): speed does not depend on them. In each of `--rounds`
rounds the TensorFlow calls go round-robin over every (variant, operation, batch), `--repeats`
calls each after 3 warm-up calls, and then the PyTorch peer's process runs; a row's figure is the
median over the rounds of each round's median, and the JSON keeps every round's.

Each TensorFlow row also carries the FLOPs of its convolutions and matrix products per image
(`benchmarks/ceiling.py`'s count, from the traced call at batch 1; the SavedModel runs the
in-memory graph's) and, from the peak of TensorFlow's own float32 matrix product alone
(2048³, measured before and after the rounds), the share of that peak the call reaches. Writes
`benchmarks/results/inference_speed.json`.
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

import numpy as np
import tensorflow as tf

from benchmarks import ceiling
from benchmarks.peers import (
    bench_common,
    mnist_idx,
    tfp_glow,
)
from tfglow import GlowConfig, GlowModel, pixels
from tfglow.serving import export_saved_model

BATCH_SIZES = (1, 64)
TEMPERATURE = 0.7
OPERATIONS = ("sample", "encode", "log_prob")


def tfglow_calls(model: GlowModel) -> dict:
    size = model.config.event_size

    @tf.function
    def sample(temperature):
        eps = tf.random.normal([tf.shape(temperature)[0], size])
        return model.decode(eps * temperature[:, tf.newaxis])

    return {
        "sample": sample,
        "encode": tf.function(model.encode),
        "log_prob": tf.function(model.log_prob),
    }


def tfp_calls(config: dict) -> dict:
    distribution, glow = tfp_glow.build_distribution(config, seed=0)
    size = int(np.prod(config["image_shape"]))

    @tf.function
    def sample(temperature):
        eps = tf.random.normal([tf.shape(temperature)[0], size])
        return pixels.flow_to_images(glow.forward(eps * temperature[:, tf.newaxis]), 8)

    @tf.function
    def encode(images):
        return glow.inverse(pixels.images_to_flow(images, 8))

    @tf.function
    def log_prob(images):
        return distribution.log_prob(pixels.images_to_flow(images, 8))

    return {"sample": sample, "encode": encode, "log_prob": log_prob}


def _inputs(operation: str, batch: int, images: np.ndarray) -> tuple:
    if operation == "sample":
        return (tf.fill([batch], TEMPERATURE),)
    return (tf.constant(images[:batch]),)


def _seconds(call) -> float:
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy(), call())
    return time.perf_counter() - start


def peer_output(output: str) -> str:
    """The PyTorch peer's own record beside `output`: `inference_speed<tail>.json` →
    `peer_torch_glow_inference<tail>.json`, so that a run with another `--output` keeps the
    default run's peer record."""
    stem = "inference_speed"
    tail = output[len(stem) :] if output.startswith(stem) else f"_{output}"
    return f"peer_torch_glow_inference{tail}"


def torch_rows(repeats: int, output: str) -> tuple[list[dict], str]:
    """The PyTorch peer's rows, from `peers/torch_glow.py --mode inference` in its own process,
    which writes its record to `output`."""
    python = os.path.join(bench_common.ROOT, ".venv-torch", "bin", "python")
    if not os.path.exists(python):
        python = sys.executable
    command = [
        "--mode",
        "inference",
        "--repeats",
        str(repeats),
        "--output",
        output,
    ]
    process = bench_common.run_module(
        "benchmarks.peers.torch_glow", *command, python=python, capture_output=True, text=True
    )
    if process.returncode != 0:
        return [], f"failed: {process.stderr.strip().splitlines()[-1:]}"
    record = json.loads(process.stdout.strip().splitlines()[-1])
    return record["rows"], " ".join(["python -m benchmarks.peers.torch_glow", *command])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="calls per row and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="inference_speed.json")
    args = parser.parse_args(argv)
    images = mnist_idx.load_mnist("test")[:256]
    config = bench_common.CONFIGS["mnist"]
    model = GlowModel(
        GlowConfig.preset("mnist_cpu", hidden_channels=config["width"]),
    )
    model.initialize(images)
    loaded = tf.saved_model.load(
        export_saved_model(model, tempfile.mkdtemp(prefix="tfglow_inference_speed_"))
    )
    saved_model = {
        "sample": lambda temperature: loaded.signatures["sample"](temperature=temperature),
        "encode": lambda images: loaded.signatures["encode"](images=images),
        "log_prob": lambda images: loaded.signatures["log_prob"](images=images),
    }
    variants = {
        "tfglow_in_memory": tfglow_calls(model),
        "tfglow_saved_model": saved_model,
        "tfp_glow": tfp_calls(config),
    }
    cells = {
        (name, operation, batch): (calls[operation], _inputs(operation, batch, images))
        for operation in OPERATIONS
        for batch in BATCH_SIZES
        for name, calls in variants.items()
    }
    gflop_per_image = {
        (name, operation): sum(
            ceiling.forward_flops(
                variants[name][operation]
                .get_concrete_function(*_inputs(operation, 1, images))
                .graph
            ).values()
        )
        / 1e9
        for name in ("tfglow_in_memory", "tfp_glow")
        for operation in OPERATIONS
    }
    for operation in OPERATIONS:  # the SavedModel runs the in-memory graph
        gflop_per_image["tfglow_saved_model", operation] = gflop_per_image[
            "tfglow_in_memory", operation
        ]
    peaks = [ceiling.matmul_gflops(2048, 2048, 2048)]
    for call, inputs in cells.values():  # warm-up: tracing, first-run allocations
        for _ in range(3):
            _seconds(lambda call=call, inputs=inputs: call(*inputs))
    # Each round times every TensorFlow cell round-robin, then runs the PyTorch peer's process, so
    # that a drift of the machine's speed reaches both sides; a row is the median of its rounds.
    round_milliseconds = {cell: [] for cell in cells}
    peer_command = ""
    for round_number in range(1, args.rounds + 1):
        times = {cell: [] for cell in cells}
        for _ in range(args.repeats):
            for cell, (call, inputs) in cells.items():
                times[cell].append(_seconds(lambda call=call, inputs=inputs: call(*inputs)))
        for cell, seconds in times.items():
            round_milliseconds[cell].append(round(1000 * statistics.median(seconds), 3))
        peer_rows, peer_command = torch_rows(args.repeats, peer_output(args.output))
        for row in peer_rows:
            cell = ("torch_glow", row["operation"], row["batch"])
            round_milliseconds.setdefault(cell, []).append(row["milliseconds"])
        print(f"round {round_number} of {args.rounds} done", flush=True)
    peaks.append(ceiling.matmul_gflops(2048, 2048, 2048))
    peak = max(peaks)
    rows = []
    for (name, operation, batch), milliseconds in round_milliseconds.items():
        median = statistics.median(milliseconds)
        rows.append(
            dict(
                variant=name,
                operation=operation,
                batch=batch,
                milliseconds=round(median, 3),
                images_per_second=round(1000 * batch / median, 1),
                rounds_milliseconds=milliseconds,
            )
        )
        flops = gflop_per_image.get((name, operation))
        if flops is not None:
            rows[-1].update(
                gflop_per_image=round(flops, 4),
                fraction_of_peak=round(1000 * batch / median * flops / peak, 3),
            )
        print(rows[-1], flush=True)
    bench_common.emit(
        dict(
            benchmark="inference_speed",
            config=config,
            temperature=TEMPERATURE,
            rows=rows,
            repeats=args.repeats,
            rounds=args.rounds,
            torch_peer=peer_command,
            peak_gflops_alone=dict(
                matmul_2048_cubed=[round(p, 1) for p in peaks], peak=round(peak, 1)
            ),
            command="python -m benchmarks.inference_speed " + " ".join(sys.argv[1:]),
            machine=bench_common.machine_info(),
            date=bench_common.now_iso(),
        ),
        args.output,
    )


if __name__ == "__main__":
    main()
