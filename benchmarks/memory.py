"""Peak resident memory and time of a training step as the depth K grows, standard vs reversible.

    python -m benchmarks.memory                                   # K = 4, 8, 16, 32, 64
    python -m benchmarks.memory --depths 8,32 --network-dtypes float32 --steps 6
    python -m benchmarks.memory --preset cifar10 --depths 32 --steps 1   # Glow's CIFAR-10 model
    python -m benchmarks.memory --depths 4,64 --modes reversible --eager-kernel-cache release keep \
        --output memory_kernel_cache.json          # A/B of releasing the eager kernel cache
    python -m benchmarks.memory --depths 4 --modes reversible --extra-variables 0,840,1680 \
        --output memory_variable_cost.json         # what a variable costs, apart from its size

For each K and mode (`standard` backprop, `reversible` gradients; at the MNIST size also the peers
`tfp_glow`, TFP's `tfb.Glow`, and `torch_glow`, the PyTorch Glow, each in a fresh process of its
own interpreter reporting the same peak RSS and step time), a fresh subprocess builds the
MNIST-size model (28×28×1, L=2, width 256, batch 64) with K steps per level and the recipe's Adam
(`tfglow.recipe.make_optimizer`), creates the optimizer's slots and releases the eager kernel cache
(`tfglow.recipe.release_eager_kernel_cache`), as `tfglow.recipe.train` does, or keeps it
(`--eager-kernel-cache keep`). It then runs one training step through `GlowModel.fit` (tracing),
then `--steps` more, and reports its peak resident set size
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`), the peak before the first step (TensorFlow, the data
and the variables), the median time of the timed steps, and the peak of TensorFlow's CPU allocator
during the timed steps above what it held before them (`step_peak_tensors_mb`: activations and
gradients; the children run with `TF_CPU_ALLOCATOR_USE_BFC=true`, which keeps that statistic). The
process peak also counts each graph's kernels, which grow with the number of ops. The modes (and
cache settings) alternate at each depth, so their step-time ratio comes from one run.

`--extra-variables N` gives the model N more trainable variables of one element each, which
the loss reads with weight zero: each gets a gradient and an Adam update, as a layer's variable
does, but adds no parameters worth counting. A K=4 flow with 1,680 of them has the variables of a
K=64 flow and the layers of K=4, which separates what depth costs per variable from what it costs
per layer. Writes `benchmarks/results/memory.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.peers import bench_common
from tfglow.config import GlowConfig

DEPTHS = (4, 8, 16, 32, 64)
OURS = ("standard", "reversible")
MODES = (*OURS, "tfp_glow", "torch_glow")
# The peers' memory rows (`benchmarks/peers/`): module, interpreter, arguments before K.
PEERS = {
    "tfp_glow": ("benchmarks.peers.tfp_glow", sys.executable, ["--memory-depth"]),
    "torch_glow": (
        "benchmarks.peers.torch_glow",
        os.path.join(bench_common.ROOT, ".venv-torch", "bin", "python"),
        ["--mode", "memory", "--steps-per-level"],
    ),
}
EAGER_KERNEL_CACHE = ("release", "keep")
BATCH_SIZE = 64


def _child(
    preset: str,
    depth: int,
    network_dtype: str | None,
    steps: int,
    mode: str,
    eager_kernel_cache: str,
    extra_variables: int,
) -> None:
    """Runs in the subprocess: prints one JSON line with the peaks and the step time."""
    import statistics
    import time

    import numpy as np
    import tensorflow as tf
    import tf_keras

    from tfglow import GlowConfig, GlowModel, data
    from tfglow.recipe import make_optimizer, release_eager_kernel_cache

    class StepTimes(tf_keras.callbacks.Callback):
        """Times each step; after the first (tracing) step, resets the allocator's peak."""

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)
            if batch == 0:
                tf.config.experimental.reset_memory_stats("CPU:0")
                self.held = tf.config.experimental.get_memory_info("CPU:0")["current"]

    config = GlowConfig.preset(preset)
    if config.image_shape == (28, 28, 1):
        images = data.load_numpy("mnist", "train", limit=BATCH_SIZE * 4)
    else:  # memory and time do not depend on the pixels
        images = np.random.default_rng(0).integers(
            0, 256, size=(BATCH_SIZE * 4, *config.image_shape), dtype=np.uint8
        )

    class WithExtraVariables(GlowModel):
        def per_example_loss(self, images, labels=None, training=False):
            loss, bits, classifier_bits = super().per_example_loss(images, labels, training)
            return loss + 0.0 * tf.add_n(self.extra_variables), bits, classifier_bits

    model = (WithExtraVariables if extra_variables else GlowModel)(
        GlowConfig.preset(
            preset,
            steps_per_level=depth,
            network_dtype=network_dtype,
            reversible_gradients=mode == "reversible",
        )
    )
    if extra_variables:
        model.extra_variables = [
            tf.Variable(0.0, name=f"extra_{index}") for index in range(extra_variables)
        ]
    model.compile(optimizer=make_optimizer("adam", 1e-4))
    model.initialize(images[:BATCH_SIZE])
    model.optimizer.build(model.trainable_variables)
    if eager_kernel_cache == "release":
        release_eager_kernel_cache()
    # As `tfglow.recipe.train` batches: the remainder dropped, so the step knows its batch size.
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH_SIZE, drop_remainder=True)
    dataset = dataset.repeat()
    before = bench_common.peak_rss_mb()
    timer = StepTimes()
    timer.seconds = []
    model.fit(dataset, steps_per_epoch=1 + steps, epochs=1, verbose=0, callbacks=[timer])
    parameters = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    print(
        json.dumps(
            dict(
                steps_per_level=depth,
                network_dtype=network_dtype or "float32",
                mode=mode,
                eager_kernel_cache=eager_kernel_cache,
                extra_variables=extra_variables,
                trainable_variables=len(model.trainable_variables),
                peak_rss_mb=round(bench_common.peak_rss_mb(), 1),
                peak_rss_before_training_mb=round(before, 1),
                step_seconds_median=round(statistics.median(timer.seconds[1:]), 4),
                step_peak_tensors_mb=round(
                    (tf.config.experimental.get_memory_info("CPU:0")["peak"] - timer.held) / 2**20,
                    1,
                ),
                trainable_parameters=parameters,
                # float32 weights, Adam's two moments and a gradient: what any layout must hold
                parameter_state_mb=round(4 * 4 * parameters / 2**20, 1),
            )
        )
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="mnist_cpu", help="the GlowConfig preset to deepen")
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--network-dtypes", default="float32")
    parser.add_argument(
        "--modes",
        default=None,
        help=f"comma-separated, of {','.join(MODES)}; default: all at the MNIST size, ours else",
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--eager-kernel-cache",
        choices=EAGER_KERNEL_CACHE,
        nargs="+",
        default=["release"],
        help="release it after the build, as tfglow.recipe.train does, or keep it (A/B: both)",
    )
    parser.add_argument(
        "--extra-variables",
        default="0",
        help="comma-separated counts of one-element trainable variables to add (ours only)",
    )
    parser.add_argument(
        "--child",
        nargs=7,
        metavar=("PRESET", "K", "DTYPE", "STEPS", "MODE", "CACHE", "EXTRA"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--output", default="memory.json")
    args = parser.parse_args(argv)
    mnist_size = args.preset == "mnist_cpu"
    if args.modes is None:  # the peers are built at the MNIST size only
        args.modes = ",".join(MODES if mnist_size else OURS)
    if not mnist_size and set(args.modes.split(",")) & set(PEERS):
        parser.error(f"the peers run at the MNIST size only, not --preset {args.preset}")
    if args.child:
        preset, depth, network_dtype, steps, mode, cache, extra = args.child
        dtype = None if network_dtype == "float32" else network_dtype
        _child(preset, int(depth), dtype, int(steps), mode, cache, int(extra))
        return
    rows = []
    for network_dtype in args.network_dtypes.split(","):
        for depth in map(int, args.depths.split(",")):
            for mode in args.modes.split(","):
                if mode in PEERS:
                    if network_dtype == "float32":
                        rows.append(_run_peer(args, depth, mode))
                        print(rows[-1], flush=True)
                    continue
                for cache in args.eager_kernel_cache:
                    for extra in map(int, args.extra_variables.split(",")):
                        rows.append(_run_child(args, depth, network_dtype, mode, cache, extra))
                        print(rows[-1], flush=True)
    config = GlowConfig.preset(args.preset)
    record = dict(
        benchmark="memory",
        preset=args.preset,
        batch_size=BATCH_SIZE,
        image_shape=list(config.image_shape),
        num_levels=config.num_levels,
        hidden_channels=config.hidden_channels,
        rows=rows,
        ratios=_ratios(rows),
        measure="ru_maxrss of a fresh process per row; median step time after tracing",
        command="python -m benchmarks.memory " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


def _run_child(
    args, depth: int, network_dtype: str, mode: str, cache: str, extra_variables: int
) -> dict:
    """One row of ours from a fresh process."""
    process = bench_common.run_module(
        "benchmarks.memory",
        "--child",
        args.preset,
        str(depth),
        network_dtype,
        str(args.steps),
        mode,
        cache,
        str(extra_variables),
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true"),
    )
    identity = dict(
        steps_per_level=depth,
        network_dtype=network_dtype,
        mode=mode,
        eager_kernel_cache=cache,
        extra_variables=extra_variables,
    )
    return _row(process, identity)


def _run_peer(args, depth: int, mode: str) -> dict:
    """A peer's row at the MNIST size from a fresh process of its own interpreter."""
    module, python, flags = PEERS[mode]
    identity = dict(steps_per_level=depth, network_dtype="float32", mode=mode)
    if not os.path.exists(python):
        return dict(identity, failed=1, error=f"{python} missing (bash benchmarks/setup.sh)")
    process = bench_common.run_module(
        module,
        *flags,
        str(depth),
        "--memory-steps",
        str(args.steps),
        python=python,
        capture_output=True,
        text=True,
    )
    return _row(process, identity)


def _row(process, identity: dict) -> dict:
    """The JSON line a child printed last, with what training added to the peak; a failure (killed
    when out of memory) is recorded under the row's `identity`, and the sweep goes on."""
    if process.returncode:
        return dict(identity, failed=process.returncode, error=process.stderr[-300:])
    row = json.loads(process.stdout.strip().splitlines()[-1])
    row["training_adds_mb"] = round(row["peak_rss_mb"] - row["peak_rss_before_training_mb"], 1)
    return row


def _ratios(rows) -> dict:
    """Reversible ÷ standard step time per depth, and each mode's peak at its largest K ÷
    smallest; rows that kept the eager kernel cache get names of their own. Rows with extra
    variables give the peak each extra variable adds at their depth instead."""
    done = [row for row in rows if "failed" not in row and not row.get("extra_variables")]
    by_key = {_setting(row): row for row in done}
    ratios = _extra_variable_costs(rows, by_key)
    for (dtype, mode, cache, depth), row in by_key.items():
        standard = by_key.get((dtype, "standard", cache, depth))
        if mode == "reversible" and standard:
            name = f"{dtype}{_cache_suffix(cache)}_step_time_reversible_over_standard_K{depth}"
            ratios[name] = round(row["step_seconds_median"] / standard["step_seconds_median"], 3)
    for dtype, mode, cache in {key[:3] for key in by_key}:
        depths = sorted(key[3] for key in by_key if key[:3] == (dtype, mode, cache))
        if len(depths) > 1:
            first = by_key[(dtype, mode, cache, depths[0])]
            last = by_key[(dtype, mode, cache, depths[-1])]
            name = f"{dtype}_{mode}{_cache_suffix(cache)}"
            suffix = f"K{depths[-1]}_over_K{depths[0]}"
            ratios[f"{name}_peak_rss_{suffix}"] = round(
                last["peak_rss_mb"] / first["peak_rss_mb"], 3
            )
            if "step_peak_tensors_mb" in first:  # TensorFlow's allocator: ours only
                ratios[f"{name}_step_tensors_{suffix}"] = round(
                    last["step_peak_tensors_mb"] / first["step_peak_tensors_mb"], 3
                )
    return ratios


def _extra_variable_costs(rows, plain: dict) -> dict:
    """KB of peak RSS per extra variable: each row with extra variables against the row without
    them at the same setting (`plain`, by `_setting`)."""
    costs = {}
    for row in rows:
        if "failed" in row or not row.get("extra_variables") or _setting(row) not in plain:
            continue
        added = row["peak_rss_mb"] - plain[_setting(row)]["peak_rss_mb"]
        dtype, mode, cache, depth = _setting(row)
        extra = row["extra_variables"]
        name = f"{dtype}_{mode}_{cache}_K{depth}_kb_per_variable_of_{extra}_extra"
        costs[name] = round(1024 * added / extra, 1)
    return costs


def _setting(row) -> tuple:
    """`(network dtype, mode, eager kernel cache, K)`: what a row was measured with."""
    return (
        row["network_dtype"],
        row["mode"],
        row.get("eager_kernel_cache", "release"),  # the peers have none
        row["steps_per_level"],
    )


def _cache_suffix(cache: str) -> str:
    return "" if cache == "release" else "_eager_kernels_kept"


if __name__ == "__main__":
    main()
