"""What a reversible flow's shared layer functions cost in inference, beside inline layers.

    python -m benchmarks.shared_layer_calls --rounds 3

A flow with `reversible_gradients=True` runs every traced pass through shared layer functions
(`tfglow/layer_functions.py`), so that its validation, sampling and evaluation graphs stay flat in
depth; a standard flow runs its inference inline. This builds the MNIST-size model (`mnist_cpu`:
L=2, K=8, width 256) twice with the same variables, one of each kind, and times in-memory
`tf.function` calls of `encode`, `decode` and `log_prob` at batch 1 and 64, the two models
alternating in each of `--rounds` rounds (median of each round's calls, then the median over
rounds). It also checks that both decode the same latents to the same pixels. Writes
`benchmarks/results/shared_layer_calls.json`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.peers import bench_common

CALLS = {1: 20, 64: 5}


def _median_milliseconds(call, argument, calls: int) -> float:
    call(argument)
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call(argument)
        seconds.append(time.perf_counter() - start)
    return 1e3 * statistics.median(seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="shared_layer_calls.json")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from tfglow import GlowConfig, GlowModel, data

    images = data.load_numpy("mnist", "train", limit=64)
    models = {}
    for kind in ("inline", "shared"):
        config = GlowConfig.preset("mnist_cpu", reversible_gradients=kind == "shared")
        models[kind] = GlowModel(config)
    models["inline"].initialize(images)
    for source, target in zip(models["inline"].variables, models["shared"].variables):
        target.assign(source)
    calls = {
        kind: {name: tf.function(getattr(model, name)) for name in ("encode", "decode", "log_prob")}
        for kind, model in models.items()
    }
    latents = models["inline"].encode(images)
    # Through the traced calls: eagerly, both models would run their layers inline.
    same_pixels = bool(
        np.array_equal(calls["inline"]["decode"](latents), calls["shared"]["decode"](latents))
    )

    rounds = {}
    for _ in range(args.rounds):
        for batch, count in CALLS.items():
            arguments = {
                "encode": images[:batch],
                "decode": latents[:batch],
                "log_prob": images[:batch],
            }
            for kind in calls:
                for name, call in calls[kind].items():
                    milliseconds = _median_milliseconds(call, arguments[name], count)
                    rounds.setdefault(f"{name}@{batch}", {}).setdefault(kind, []).append(
                        round(milliseconds, 3)
                    )
    rows = []
    for key, by_kind in rounds.items():
        inline, shared = (statistics.median(by_kind[kind]) for kind in ("inline", "shared"))
        rows.append(
            dict(
                call=key,
                inline_ms=round(inline, 2),
                shared_ms=round(shared, 2),
                shared_over_inline=round(shared / inline, 3),
            )
        )
    record = dict(
        benchmark="shared_layer_calls",
        rows=rows,
        rounds=rounds,
        same_decoded_pixels=same_pixels,
        command="python -m benchmarks.shared_layer_calls " + " ".join(sys.argv[1:]),
        machine=bench_common.machine_info(),
        date=bench_common.now_iso(),
    )
    bench_common.emit(record, args.output)


if __name__ == "__main__":
    main()
