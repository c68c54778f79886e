"""Latency of each SavedModel signature against the in-memory model's compiled call.

    python -m benchmarks.serving_latency [--model-dir /tmp/tfglow_benchmarks/likelihood_budget]

Exports the MNIST-size model with `tfglow.serving.export_saved_model` (the trained run of
`likelihood_budget.py` when `--model-dir` has one, else a freshly initialised `mnist_cpu` model:
latency does not depend on the weights), reloads it with `tf.saved_model.load` and times every
signature at batch 1 and 64 beside the same computation on the in-memory `GlowModel` wrapped in
`tf.function`. Calls alternate between the two; each figure is the median over `--repeats` calls
after warm-up. Target (issue 5): every signature within 1.2× the in-memory call.
Writes `benchmarks/results/serving_latency.json`.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from benchmarks.peers import (
    bench_common,
    mnist_idx,
)
from tfglow import GlowConfig, GlowModel, pixels, recipe
from tfglow.serving import SIGNATURE_NAMES, export_saved_model

DEFAULT_MODEL_DIR = "/tmp/tfglow_benchmarks/likelihood_budget"
BATCH_SIZES = (1, 64)


def _model(model_dir: str) -> tuple[GlowModel, str]:
    if tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")) is not None:
        model, step = recipe.restore_model(model_dir)
        # Served in float32: TF Serving's CPU build need not have bfloat16 kernels.
        served = GlowModel(model.config.replace(network_dtype=None))
        served.set_weights(model.get_weights())
        return served, f"{model_dir} (step {step})"
    model = GlowModel(GlowConfig.preset("mnist_cpu"))
    model.initialize(mnist_idx.load_mnist("train")[:256])
    return model, "freshly initialised mnist_cpu (ActNorm data init on 256 digits)"


def _in_memory_calls(model: GlowModel) -> dict:
    """The in-memory counterpart of every signature, compiled with `tf.function`."""
    size = model.config.event_size

    @tf.function
    def log_prob(images):
        log_prob = model.log_prob(images)
        return {
            "log_prob": log_prob,
            "bits_per_dim": pixels.bits_per_dim(log_prob, size, model.config.num_bits),
        }

    @tf.function
    def sample(temperature):
        eps = tf.random.normal([tf.shape(temperature)[0], size])
        return model.decode(eps * temperature[:, tf.newaxis])

    @tf.function
    def sample_seeded(temperature, seed):
        eps = tf.random.stateless_normal([tf.shape(temperature)[0], size], seed=[seed[0], 0])
        return model.decode(eps * temperature[:, tf.newaxis])

    return {
        "serving_default": log_prob,
        "log_prob": log_prob,
        "encode": tf.function(model.encode),
        "decode": tf.function(model.decode),
        "sample": sample,
        "sample_seeded": sample_seeded,
    }


def _inputs(name: str, batch: int, images: np.ndarray, event_size: int) -> dict:
    if name in ("serving_default", "log_prob", "encode"):
        return {"images": tf.constant(images[:batch])}
    if name == "decode":
        return {"z": tf.random.stateless_normal([batch, event_size], seed=[1, 2]) * 0.7}
    temperature = {"temperature": tf.fill([batch], 0.7)}
    if name == "sample_seeded":
        temperature["seed"] = tf.range(batch, dtype=tf.int64)
    return temperature


def _milliseconds(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), call())
        times.append(1000 * (time.perf_counter() - start))
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default="serving_latency.json")
    args = parser.parse_args(argv)
    model, source = _model(args.model_dir)
    images = mnist_idx.load_mnist("test")[: max(BATCH_SIZES)]
    export_dir = tempfile.mkdtemp(prefix="tfglow_serving_latency_")
    path = export_saved_model(model, export_dir)
    loaded = tf.saved_model.load(path)
    in_memory = _in_memory_calls(model)
    rows = []
    for name in SIGNATURE_NAMES:
        for batch in BATCH_SIZES:
            inputs = _inputs(name, batch, images, model.config.event_size)
            serving = functools.partial(loaded.signatures[name], **inputs)
            memory = functools.partial(in_memory[name], *inputs.values())
            for call in (serving, memory):  # warm-up: tracing, first-run allocations
                _milliseconds(call, 3)
            serving_times, memory_times = [], []
            for _ in range(args.repeats):  # alternate single calls so both see the same load
                serving_times += _milliseconds(serving, 1)
                memory_times += _milliseconds(memory, 1)
            serving_ms, memory_ms = (
                statistics.median(serving_times),
                statistics.median(memory_times),
            )
            rows.append(
                dict(
                    signature=name,
                    batch=batch,
                    saved_model_ms=round(serving_ms, 2),
                    in_memory_ms=round(memory_ms, 2),
                    ratio=round(serving_ms / memory_ms, 3),
                )
            )
            print(rows[-1], flush=True)
    record = dict(
        benchmark="serving_latency",
        model=source,
        rows=rows,
        repeats=args.repeats,
        worst_ratio=max(row["ratio"] for row in rows),
        target_ratio=1.2,
        command="python -m benchmarks.serving_latency " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
