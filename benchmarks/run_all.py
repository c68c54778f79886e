"""Regenerates every benchmark figure and the results table of `benchmarks/README.md`.

    python benchmarks/run_all.py                 # ≈ 35–45 min on the 2-core machine, quiet
    python benchmarks/run_all.py --budget        # also the two 20-minute likelihood runs (+45 min)
    python benchmarks/run_all.py --papers        # also the papers' comparisons (+≈ 2 h)
    python benchmarks/run_all.py --only table    # rebuild the table from benchmarks/results/*.json

Steps run one after another (never two at once: they would share the two cores):
peer TFP Glow (both tf.function forms), ours vs TFP throughput at both sizes (alternating windows,
one process each), the PyTorch peer's throughput (if its virtualenv exists), the bfloat16 loss
curve check, exactness, serving latency, memory, inference speed against the peers, with
`--budget` the likelihood budget runs (ours, then the PyTorch peer's), and with `--papers` the
papers' comparisons (NICE vs RealNVP vs Glow, RealNVP's parts, temperature, Glow's Fig. 3,
depth). Exactness and serving use the budget run's checkpoint when it exists, so run with
`--budget` first on a fresh machine for the trained-checkpoint figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
TORCH_PYTHON = os.path.join(
    os.path.dirname(HERE), ".venv-torch", "bin", "python"
)  # benchmarks/setup.sh
# The Glow run of architectures.py: the main job's model and recipe, for temperature.py.
GLOW_RUN = "/tmp/tfglow_benchmarks/architectures/glow"


def _steps(args) -> list[tuple[str, list[str], dict]]:
    python = sys.executable
    torch_env = {"OMP_WAIT_POLICY": "PASSIVE"}
    quiet = ["--max-quiet-wait", "5"]
    steps = []
    if args.budget:
        steps += [
            (
                "budget",
                [python, f"{HERE}/likelihood_budget.py", "--minutes", "20", "--clock", args.clock],
                {},
            ),
            (
                "budget_torch",
                [
                    TORCH_PYTHON,
                    f"{PEERS}/torch_glow.py",
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
                f"{PEERS}/tfp_glow.py",
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
        ("throughput_mnist", [python, f"{HERE}/train_throughput.py", "--size", "mnist"], {}),
        (
            "throughput_cifar",
            [python, f"{HERE}/train_throughput.py", "--size", "cifar", "--windows", "5"],
            {},
        ),
        (
            "throughput_torch",
            [
                TORCH_PYTHON,
                f"{PEERS}/torch_glow.py",
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
                f"{PEERS}/torch_glow.py",
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
        ("mixed_precision", [python, f"{HERE}/mixed_precision.py", "--steps", "300"], {}),
        # The budget run's model (bfloat16 networks); the main job's: exactness.py --model-dir
        # runs/mnist
        (
            "exactness",
            [python, f"{HERE}/exactness.py", "--output", "exactness_bf16_trained.json"],
            {},
        ),
        ("serving", [python, f"{HERE}/serving_latency.py"], {}),
        ("memory", [python, f"{HERE}/memory.py"], {}),
        ("inference", [python, f"{HERE}/inference_speed.py"], {}),
    ]
    if args.papers:
        steps += [
            ("architectures", [python, f"{HERE}/architectures.py", "--minutes", "12"], {}),
            ("temperature", [python, f"{HERE}/temperature.py", "--model-dir", GLOW_RUN], {}),
            ("realnvp_parts", [python, f"{HERE}/realnvp_parts.py", "--minutes", "4"], {}),
            ("permutations", [python, f"{HERE}/permutations.py", "--minutes", "2.5"], {}),
            ("depth", [python, f"{HERE}/depth.py", "--steps", "200", "--minutes", "2"], {}),
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
        print(f"== {name}: {' '.join(command)}  (load {os.getloadavg()[0]:.2f})", flush=True)
        start = time.perf_counter()
        status = subprocess.run(command, env={**os.environ, **env}).returncode
        print(f"== {name}: exit {status} after {time.perf_counter() - start:.0f} s", flush=True)
        if status:
            failures.append(name)
    subprocess.run([sys.executable, f"{HERE}/report.py"], check=True)
    if failures:
        sys.exit(f"failed steps: {failures}")


if __name__ == "__main__":
    main()
