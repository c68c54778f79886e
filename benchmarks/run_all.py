"""Regenerates every benchmark figure and the results table of `benchmarks/README.md`.

    python -m benchmarks.run_all                 # ≈ 45–55 min on the 2-core machine, quiet
    python -m benchmarks.run_all --budget        # also the two 20-minute likelihood runs (+45 min)
    python -m benchmarks.run_all --papers        # also the papers' comparisons (+≈ 2 h)
    python -m benchmarks.run_all --settings      # also the settings A/Bs (+≈ 55 min)
    python -m benchmarks.run_all --only table    # rebuild the table from benchmarks/results/*.json

Steps run one after another (never two at once: they would share the two cores):
peer TFP Glow (both tf.function forms), ours vs TFP throughput at both sizes (alternating windows,
one process each), the same against the CPU's float32 ceiling (`ceiling.py`), the PyTorch peer's
throughput (if its virtualenv exists), the bfloat16 loss curve check, exactness, serving latency,
memory, inference speed against the peers, the batch-1 kernels beside PyTorch's, with `--budget` the
likelihood budget runs (ours, then the PyTorch peer's), with `--papers` the papers' comparisons
(NICE vs RealNVP vs Glow, RealNVP's parts, temperature, Glow's Fig. 3, depth), and with `--settings`
the A/Bs of the allocator, `narrow_conv`'s gradients (widths 256 and 64), the thread pools (training
at widths 256 and 64, the SavedModel's calls) and float32 vs bfloat16 networks on the main job.
Exactness and serving use the budget run's checkpoint when it exists, so run with `--budget` first
on a fresh machine for the trained-checkpoint figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from benchmarks.peers import bench_common

# The PyTorch peer's environment, made by benchmarks/setup.sh.
TORCH_PYTHON = os.path.join(bench_common.ROOT, ".venv-torch", "bin", "python")
# The Glow run of architectures.py: the main job's model and recipe, for temperature.py.
GLOW_RUN = "/tmp/tfglow_benchmarks/architectures/glow"


def _steps(args) -> list[tuple[str, list[str], dict]]:
    """(name, [python, module, *arguments], environment) of every step, in order."""
    python = sys.executable
    torch_env = {"OMP_WAIT_POLICY": "PASSIVE"}
    quiet = ["--max-quiet-wait", "5"]
    steps = []
    if args.budget:
        steps += [
            (
                "budget",
                [
                    python,
                    "benchmarks.likelihood_budget",
                    "--minutes",
                    "20",
                    "--clock",
                    args.clock,
                ],
                {},
            ),
            (
                "budget_torch",
                [
                    TORCH_PYTHON,
                    "benchmarks.peers.torch_glow",
                    "--mode",
                    "budget",
                    "--minutes",
                    "20",
                    "--clock",
                    args.clock,
                ],
                torch_env,
            ),
        ]
    steps += [
        (
            "peer_tfp",
            [
                python,
                "benchmarks.peers.tfp_glow",
                "--size",
                "mnist",
                "--jit",
                "both",
                "--windows",
                "5",
                *quiet,
            ],
            {},
        ),
        ("throughput_mnist", [python, "benchmarks.train_throughput", "--size", "mnist"], {}),
        (
            "throughput_cifar",
            [python, "benchmarks.train_throughput", "--size", "cifar", "--windows", "5"],
            {},
        ),
        ("ceiling_mnist", [python, "benchmarks.ceiling", "--size", "mnist"], {}),
        ("ceiling_cifar", [python, "benchmarks.ceiling", "--size", "cifar", "--windows", "7"], {}),
        (
            "throughput_torch",
            [
                TORCH_PYTHON,
                "benchmarks.peers.torch_glow",
                "--mode",
                "throughput",
                "--size",
                "mnist",
                *quiet,
            ],
            torch_env,
        ),
        (
            "throughput_torch_cifar",
            [
                TORCH_PYTHON,
                "benchmarks.peers.torch_glow",
                "--mode",
                "throughput",
                "--size",
                "cifar",
                "--windows",
                "5",
                *quiet,
            ],
            torch_env,
        ),
        ("mixed_precision", [python, "benchmarks.mixed_precision", "--steps", "300"], {}),
        # The budget run's model (bfloat16 networks); the main job's: exactness.py --model-dir
        # runs/mnist
        (
            "exactness",
            [python, "benchmarks.exactness", "--output", "exactness_bf16_trained.json"],
            {},
        ),
        ("serving", [python, "benchmarks.serving_latency"], {}),
        ("memory", [python, "benchmarks.memory"], {}),
        (
            "memory_kernel_cache",
            [
                python,
                "benchmarks.memory",
                "--depths",
                "4,64",
                "--modes",
                "reversible",
                "--eager-kernel-cache",
                "release",
                "keep",
                "--output",
                "memory_kernel_cache.json",
            ],
            {},
        ),
        ("inference", [python, "benchmarks.inference_speed"], {}),
        ("batch1_kernels", [python, "benchmarks.batch1_kernels"], {}),
        ("shared_layer_calls", [python, "benchmarks.shared_layer_calls"], {}),
    ]
    if args.settings:
        steps += [
            ("allocator", [python, "benchmarks.allocator"], {}),
            (
                "narrow_conv",
                [
                    python,
                    "benchmarks.train_throughput",
                    "--variants",
                    "ours_float32,ours_float32_conv_gradients,tfp_glow",
                    "--windows",
                    "5",
                    "--output",
                    "train_throughput_mnist_narrow_conv.json",
                ],
                {},
            ),
            (
                "narrow_conv_main_job",
                [
                    python,
                    "benchmarks.train_throughput",
                    "--variants",
                    "ours_float32,ours_float32_conv_gradients",
                    "--hidden-channels",
                    "64",
                    "--windows",
                    "5",
                    "--steps-per-window",
                    "40",
                    "--output",
                    "train_throughput_mnist_w64_narrow_conv.json",
                ],
                {},
            ),
            ("threads", [python, "benchmarks.threads"], {}),
            (
                "threads_main_job",
                [
                    python,
                    "benchmarks.threads",
                    "--width",
                    "64",
                    "--steps",
                    "100",
                    "--output",
                    "threads_main_job.json",
                ],
                {},
            ),
            ("serving_threads", [python, "benchmarks.serving_threads", "--rounds", "3"], {}),
            ("network_dtypes", [python, "benchmarks.network_dtypes", "--minutes", "5"], {}),
        ]
    if args.papers:
        steps += [
            ("architectures", [python, "benchmarks.architectures", "--minutes", "12"], {}),
            ("temperature", [python, "benchmarks.temperature", "--model-dir", GLOW_RUN], {}),
            ("realnvp_parts", [python, "benchmarks.realnvp_parts", "--minutes", "4"], {}),
            ("permutations", [python, "benchmarks.permutations", "--minutes", "2.5"], {}),
            ("depth", [python, "benchmarks.depth", "--steps", "600", "--minutes", "3"], {}),
        ]
    return steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", action="store_true", help="also run the 20-minute budget runs")
    parser.add_argument(
        "--papers",
        action="store_true",
        help="also the papers' comparisons: architectures, temperature, permutations, depth",
    )
    parser.add_argument(
        "--settings",
        action="store_true",
        help="also the A/Bs of process settings, narrow_conv's gradients and network dtype: "
        "allocator, narrow_conv, threads, serving_threads, network_dtypes",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="budget clock (cpu: for a machine shared with other jobs)",
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated step names to run (or 'table' for none)"
    )
    args = parser.parse_args(argv)
    only = None if args.only is None else set(args.only.split(","))
    failures = []
    for name, command, env in _steps(args):
        if only is not None and name not in only:
            continue
        if command[0] == TORCH_PYTHON and not os.path.exists(TORCH_PYTHON):
            print(f"== {name}: skipped ({TORCH_PYTHON} missing)", flush=True)
            continue
        python, module, *arguments = command
        shown = " ".join([python, "-m", module, *arguments])
        print(f"== {name}: {shown}  (load {os.getloadavg()[0]:.2f})", flush=True)
        start = time.perf_counter()
        status = bench_common.run_module(
            module, *arguments, python=python, env={**os.environ, **env}
        ).returncode
        print(f"== {name}: exit {status} after {time.perf_counter() - start:.0f} s", flush=True)
        if status:
            failures.append(name)
    bench_common.run_module("benchmarks.report", check=True)
    if failures:
        sys.exit(f"failed steps: {failures}")


if __name__ == "__main__":
    main()
