"""Peer benchmark: training throughput of TFP's own `tfp.bijectors.Glow`.

Configured as close to the issue-5 benchmark config as `tfb.Glow` allows:

- `num_glow_blocks` = L levels, `num_steps_per_block` = K steps per level;
- coupling: `tfb.GlowDefaultNetwork(num_hidden=width)` — 3×3 conv + ReLU → 1×1 conv + ReLU →
  zero-init 3×3 conv, affine with scale sigmoid(h + 2). It has no ActNorm inside the network;
- 1×1 conv: TFP's `OneByOneConv` (a `ScaleMatvecLU`, i.e. LU form);
- split prior: `tfb.GlowDefaultExitNetwork` — a zero-init 3×3 conv on the kept half giving an affine
  map (scale exp(h + 2)) of the exiting half, the learned conditional prior written as a bijector;
- top prior: TFP Glow has none (the last latent is a plain N(0, I)).

The flow is wrapped in `tfd.TransformedDistribution` over a standard normal and trained with
tf_keras Adam in a compiled `tf.function` step, with and without `jit_compile=True`; the faster
form is reported. Input: uint8 images, uniformly dequantised and scaled to [-0.5, 0.5).

    .venv/bin/python -m benchmarks.peers.tfp_glow --size mnist
    .venv/bin/python -m benchmarks.peers.tfp_glow --memory-depth 16   # one line of memory.py

With `--memory-depth K` it builds the `--size` model with K steps per level, runs one step
(tracing) and `--memory-steps` more without `jit_compile`, and prints one JSON line of
`benchmarks/memory.py`'s rows (peak RSS, median step time) instead of timing windows.
"""

import argparse
import json
import math
import os

import numpy as np

from benchmarks.peers import bench_common, mnist_idx

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

tfb = tfp.bijectors
tfd = tfp.distributions

LEARNING_RATE = 1e-4
NUM_DATA_BATCHES = 16  # distinct batches cycled through during timing


def build_distribution(config, seed):
    """TFP Glow over a standard normal: z (vector) → image (forward = sampling direction)."""
    width = config["width"]
    glow = tfb.Glow(
        output_shape=config["image_shape"],
        num_glow_blocks=config["num_levels"],
        num_steps_per_block=config["num_steps"],
        coupling_bijector_fn=lambda shape: tfb.GlowDefaultNetwork(shape, num_hidden=width),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
        seed=seed,
    )
    num_dims = int(np.prod(config["image_shape"]))
    base = tfd.Sample(tfd.Normal(0.0, 1.0), [num_dims])
    return tfd.TransformedDistribution(base, glow), glow


def make_train_step(distribution, variables, optimizer, jit_compile):
    """A compiled step: dequantise, mean NLL in nats, Adam update. Returns the loss."""

    @tf.function(jit_compile=jit_compile)
    def train_step(images_uint8):
        pixels = tf.cast(images_uint8, tf.float32)
        noise = tf.random.uniform(tf.shape(pixels))
        y = (pixels + noise) / bench_common.NUM_BINS - 0.5
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(distribution.log_prob(y))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return train_step


def measure(config, images, jit_compile, args):
    """Builds a fresh model and optimizer, returns the timing record of one form."""
    tf.random.set_seed(args.seed)
    distribution, glow = build_distribution(config, args.seed)
    variables = glow.trainable_variables
    optimizer = tf_keras.optimizers.Adam(LEARNING_RATE)
    train_step = make_train_step(distribution, variables, optimizer, jit_compile)
    batch_size = config["batch_size"]
    batches = [
        tf.constant(images[i * batch_size : (i + 1) * batch_size])
        for i in range(len(images) // batch_size)
    ]
    counter = iter(range(10**9))

    def step():
        return train_step(batches[next(counter) % len(batches)])

    load_before = bench_common.machine_info()["loadavg_1_5_15"]
    windows, last_loss = bench_common.time_windows(
        step,
        batch_size,
        args.warmup_steps,
        args.windows,
        args.steps_per_window,
        max_quiet_wait_seconds=args.max_quiet_wait,
        sync=lambda loss: float(loss.numpy()),
    )
    num_dims = int(np.prod(config["image_shape"]))
    return dict(
        jit_compile=jit_compile,
        **bench_common.summarize(windows),
        num_trainable_parameters=int(sum(np.prod(v.shape) for v in variables)),
        last_train_bits_per_dim=round(bench_common.bits_per_dim(last_loss, num_dims), 4)
        if math.isfinite(last_loss)
        else None,
        loadavg_before=load_before,
        loadavg_after=bench_common.machine_info()["loadavg_1_5_15"],
    )


def memory_row(config, images, args) -> dict:
    """One row of `benchmarks/memory.py`: this process's peak RSS around training steps."""
    config = dict(config, num_steps=args.memory_depth)
    tf.random.set_seed(args.seed)
    distribution, glow = build_distribution(config, args.seed)
    variables = glow.trainable_variables
    train_step = make_train_step(
        distribution, variables, tf_keras.optimizers.Adam(LEARNING_RATE), jit_compile=False
    )
    batch = tf.constant(images[: config["batch_size"]])
    figures = bench_common.memory_figures(
        lambda: train_step(batch), args.memory_steps, sync=lambda loss: float(loss.numpy())
    )
    return dict(
        steps_per_level=args.memory_depth,
        network_dtype="float32",
        mode="tfp_glow",
        **figures,
        trainable_parameters=int(sum(np.prod(v.shape) for v in variables)),
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        choices=sorted(bench_common.CONFIGS),
        default="mnist",
        help="benchmark size (default: mnist = 28x28x1, L=2, K=8, width 256, batch 64)",
    )
    parser.add_argument(
        "--jit",
        choices=["both", "on", "off"],
        default="both",
        help="which tf.function forms to time; 'both' reports the faster (default)",
    )
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--steps-per-window", type=int, default=10)
    parser.add_argument(
        "--max-quiet-wait",
        type=float,
        default=120.0,
        help="seconds to wait before each window for other processes to go quiet",
    )
    parser.add_argument(
        "--memory-depth", type=int, default=0, help="print memory.py's row at this K (0: off)"
    )
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--data-dir", default=mnist_idx.DEFAULT_DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        default=None,
        help="file name under benchmarks/results/ (default: peer_tfp_glow[_SIZE].json)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config = bench_common.CONFIGS[args.size]
    images, source = mnist_idx.images_for_shape(
        config["image_shape"], NUM_DATA_BATCHES * config["batch_size"], args.data_dir, args.seed
    )
    if args.memory_depth:
        print(json.dumps(memory_row(config, images, args)), flush=True)
        return
    forms = {"both": [False, True], "on": [True], "off": [False]}[args.jit]
    runs = [measure(config, images, jit, args) for jit in forms]
    # Compare forms on their quiet windows when at least half of every form's windows were quiet,
    # else CPU-normalised: others' load on this shared machine would otherwise decide it.
    keys = {bench_common.headline(run, args.windows)[1] for run in runs}
    chosen_by = keys.pop() if len(keys) == 1 else "images_per_second_cpu_normalised_median"
    fastest = max(runs, key=lambda run: run[chosen_by])
    result = dict(
        peer="tfp.bijectors.Glow",
        size=args.size,
        config=dict(
            config,
            coupling="affine sigmoid(h+2), GlowDefaultNetwork (no ActNorm inside)",
            permutation="OneByOneConv (ScaleMatvecLU)",
            split_prior="GlowDefaultExitNetwork: zero-init 3x3 conv, scale exp(h+2)",
            top_prior="none (standard normal)",
            optimizer=f"tf_keras Adam lr {LEARNING_RATE}",
            data=source,
            dequantisation="uniform, (x+u)/256-0.5",
        ),
        jit_compile=fastest["jit_compile"],
        headline_images_per_second=fastest[chosen_by],
        **{
            key: value
            for key, value in fastest.items()
            if key.startswith(("images_", "other_", "own_", "quiet_"))
        },
        runs=runs,
        timing=dict(
            warmup_steps=args.warmup_steps,
            windows=args.windows,
            steps_per_window=args.steps_per_window,
            intra_op_threads_0_means_all_cores=(
                tf.config.threading.get_intra_op_parallelism_threads()
            ),
            fastest_chosen_by=chosen_by,
        ),
        versions=dict(
            tensorflow=tf.__version__,
            tensorflow_probability=tfp.__version__,
            tf_keras=tf_keras.__version__,
            numpy=np.__version__,
        ),
        machine=bench_common.machine_info(),
        command=bench_common.command_line(),
        date=bench_common.now_iso(),
    )
    default_name = (
        "peer_tfp_glow.json" if args.size == "mnist" else f"peer_tfp_glow_{args.size}.json"
    )
    bench_common.emit(result, args.output or default_name)


if __name__ == "__main__":
    main()
