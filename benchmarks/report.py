"""Writes the results table of `benchmarks/README.md` from `benchmarks/results/*.json`.

    python -m benchmarks.report

The table sits between the `<!-- results:start -->` and `<!-- results:end -->` markers of the
README; a figure whose JSON is missing shows as "—" (run its command, or `run_all.py`).
"""

from __future__ import annotations

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
README = os.path.join(HERE, "README.md")
START, END = "<!-- results:start -->", "<!-- results:end -->"
MISSING = "—"


def _load(name: str) -> dict | None:
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _cpu(machine: dict) -> str:
    """The CPU model and its widest vector ISA, e.g. "AMD EPYC, AVX-512 BF16"."""
    model = machine.get("cpu_model")
    if not model:
        return "CPU not recorded"
    flags = machine.get("isa_flags", {})
    for flag, name in [
        ("amx_bf16", "AMX"),
        ("avx512_bf16", "AVX-512 BF16"),
        ("avx512f", "AVX-512"),
        ("avx2", "AVX2"),
    ]:
        if flags.get(flag):
            return f"{model}, {name}"
    return model


def _date(record: dict | None) -> str:
    if not record:
        return MISSING
    machine = record.get("machine", {})
    load = machine.get("loadavg_1_5_15", [None])[0]
    day = record.get("date", "")[:16].replace("T", " ")
    when = f"{day} (load {load:.1f})" if load is not None else day
    return f"{when}, {_cpu(machine)}"


def _ratio(ours, peer, digits=2) -> str:
    return f"{ours / peer:.{digits}f}×" if ours and peer else MISSING


def _figure(value, unit="", digits=1) -> str:
    return MISSING if value is None else f"{value:.{digits}f}{unit}"


def _throughput_rows() -> list[list[str]]:
    rows = []
    for size, label in [
        ("mnist", "28×28×1, L=2, K=8, w256, b64"),
        ("cifar", "32×32×3, L=3, K=8, w256, b64"),
    ]:
        record = _load(f"train_throughput_{size}.json")
        results = (record or {}).get("results", {})
        peer = results.get("tfp_glow", {}).get("images_per_second_median")
        command = (record or {}).get(
            "command", f"python -m benchmarks.train_throughput --size {size}"
        )
        for variant, name in [("ours_float32", "float32"), ("ours_bfloat16", "bfloat16 networks")]:
            ours = results.get(variant, {}).get("images_per_second_median")
            rows.append(
                [
                    f"Training img/s, {label}, {name} — vs TFP `tfb.Glow` (same run)",
                    _figure(ours),
                    _figure(peer),
                    _ratio(ours, peer),
                    f"`{command}`",
                    _date(record),
                ]
            )
        suffix = "" if size == "mnist" else "_cifar"
        torch = _load(f"peer_torch_glow_throughput{suffix}.json")
        torch_rate = (torch or {}).get("images_per_second_median")
        ours = results.get("ours_bfloat16", {}).get("images_per_second_median")
        rows.append(
            [
                f"Training img/s, {label}, bfloat16 networks — vs PyTorch Glow (its own run, on "
                "the date at the right: not one run)",
                _figure(ours),
                _figure(torch_rate),
                _ratio(ours, torch_rate),
                f"`{command}`; peer: `torch_glow.py --mode throughput --size {size}`",
                _date(torch),
            ]
        )
    return rows


def _variants_row(
    filename: str, what: str, ours: str, peer: str, ratio_of_peer: bool = False
) -> list[str]:
    """A row comparing two variants of one `train_throughput.py` run by their median img/s; the
    ratio is ours ÷ peer, or peer ÷ ours with `ratio_of_peer` (a step-time ratio)."""
    record = _load(filename)
    results = (record or {}).get("results", {})
    ours_rate = results.get(ours, {}).get("images_per_second_median")
    peer_rate = results.get(peer, {}).get("images_per_second_median")
    return [
        what,
        _figure(ours_rate),
        _figure(peer_rate),
        _ratio(peer_rate, ours_rate) if ratio_of_peer else _ratio(ours_rate, peer_rate),
        f"`{(record or {}).get('command', 'python -m benchmarks.train_throughput')}`",
        _date(record),
    ]


def _narrow_conv_rows() -> list[list[str]]:
    """`narrow_conv`'s gradients against oneDNN's own backward convolutions, same run, with the
    limits of the CPU each ran on (`narrow_conv.AVX512_LIMITS`, `AVX2_LIMITS`)."""
    avx512 = "≤ 4 input or ≤ 8 output channels"
    avx2 = "≤ 24 input or ≤ 48 output channels (AVX2-only CPU's limits)"
    return [
        _variants_row(
            filename,
            f"Training img/s, {label}, b64, float32: 3×3 convolutions with {rule} "
            "back-propagated as matrix products (`narrow_conv`) vs oneDNN's backward convolutions",
            "ours_float32",
            "ours_float32_conv_gradients",
        )
        for filename, label, rule in [
            (
                "train_throughput_mnist_narrow_conv.json",
                "28×28×1, L=2, K=8, w256 (the MNIST size)",
                avx512,
            ),
            (
                "train_throughput_mnist_w64_narrow_conv.json",
                "28×28×1, L=2, K=8, w64 (the main job's)",
                avx512,
            ),
            (
                "train_throughput_mnist_narrow_conv_avx2_2026-12-03.json",
                "28×28×1, L=2, K=8, w256, AVX2-only CPU",
                avx512,
            ),
            (
                "train_throughput_cifar_narrow_conv_avx2_2026-12-03.json",
                "32×32×3, L=3, K=8, w256, AVX2-only CPU",
                avx2,
            ),
            (
                "train_throughput_mnist_forward_product_avx2_2026-12-03.json",
                "28×28×1, L=2, K=8, w256, AVX2-only CPU",
                "≤ 24 input or ≤ 48 output channels (AVX2-only CPU's limits; forward too, into "
                "≤ 8)",
            ),
        ]
    ]


def _avx2_throughput_rows() -> list[list[str]]:
    """The training throughput runs on a CPU without native bfloat16 (AVX2 only), where
    `network_dtype="auto"` picks float32: float32 against TFP, and bfloat16 networks against
    float32."""
    rows = []
    for filename, label in [
        ("train_throughput_mnist_avx2_2026-12-03.json", "28×28×1, L=2, K=8, w256, b64"),
        ("train_throughput_cifar_avx2_2026-12-03.json", "32×32×3, L=3, K=8, w256, b64"),
    ]:
        rows.append(
            _variants_row(
                filename,
                f"Training img/s, {label}, float32 — vs TFP `tfb.Glow` (same run), AVX2-only CPU",
                "ours_float32",
                "tfp_glow",
            )
        )
        rows.append(
            _variants_row(
                filename,
                f"Training img/s, {label}: bfloat16 networks vs float32 (same run), AVX2-only "
                "CPU, where bfloat16 is emulated and `auto` picks float32",
                "ours_bfloat16",
                "ours_float32",
            )
        )
    # The runs after `narrow_conv`'s limits followed the CPU.
    for filename, label, change in [
        (
            "train_throughput_mnist_forward_product_avx2_2026-12-03.json",
            "28×28×1, L=2, K=8",
            "limits and forward product",
        ),
        (
            "train_throughput_cifar_narrow_conv_avx2_2026-12-03.json",
            "32×32×3, L=3, K=8",
            "limits (24 in, 48 out)",
        ),
    ]:
        rows.append(
            _variants_row(
                filename,
                f"Training img/s, {label}, w256, b64, float32, with the AVX2-only CPU's "
                f"`narrow_conv` {change} — vs TFP `tfb.Glow` (same run), AVX2-only CPU",
                "ours_float32",
                "tfp_glow",
            )
        )
    return rows


def _reversible_step_time_rows() -> list[list[str]]:
    """Reversible against standard gradients at K=8 and K=32, alternating windows of one run
    each."""
    return [
        _variants_row(
            filename,
            f"Training img/s, 28×28×1, L=2, K={depth}, w256, b64, float32: reversible vs standard "
            "gradients (step time reversible ÷ standard = the ratio)",
            "ours_float32_reversible",
            "ours_float32",
            ratio_of_peer=True,
        )
        for filename, depth in [
            ("train_throughput_mnist_reversible.json", 8),
            ("train_throughput_mnist_reversible_k32.json", 32),
            ("train_throughput_mnist_reversible_avx2_2026-12-03.json", 8),
            ("train_throughput_mnist_reversible_static_batch_avx2_2026-12-03.json", 8),
            ("train_throughput_mnist_reversible_k32_static_batch_avx2_2026-12-03.json", 32),
            ("train_throughput_mnist_reversible_stacked_avx2_2026-12-04.json", 8),
            ("train_throughput_mnist_reversible_rows_written_avx2_2026-12-04.json", 8),
            ("train_throughput_mnist_reversible_k32_rows_written_avx2_2026-12-04.json", 32),
        ]
    ]


def _ceiling_rows() -> list[list[str]]:
    """Float32 training against this CPU's ceiling (its matrix product's peak over the step's
    FLOPs per image), TFP's `tfb.Glow` in the same run."""
    rows = []
    for name, size, label in [
        ("ceiling_mnist.json", "mnist", "28×28×1, L=2, K=8"),
        ("ceiling_cifar.json", "cifar", "32×32×3, L=3, K=8"),
        ("ceiling_mnist_avx2_2026-12-03.json", "mnist", "28×28×1, L=2, K=8, AVX2-only CPU"),
        ("ceiling_cifar_avx2_2026-12-03.json", "cifar", "32×32×3, L=3, K=8, AVX2-only CPU"),
    ]:
        record = _load(name)
        if not record:
            rows.append(
                _missing_row(
                    f"Float32 ceiling, {label}", f"python -m benchmarks.ceiling --size {size}"
                )
            )
            continue
        flops = record["step_gflop_per_image"]
        rates = record["images_per_second"]
        fraction = record["fraction_of_peak"]
        target = record["target"]
        rows.append(
            [
                f"Float32 training against the CPU's ceiling, {label}, w256, b64: img/s (GFLOP per "
                f"image per step: ours {flops['ours']:.2f}, TFP {flops['tfp_glow']:.2f}; peak "
                f"{record['peak_gflops_alone']['peak']:.0f} GFLOP/s, TF's matrix product alone)",
                f"{rates['ours_float32']:.1f} ({100 * fraction['ours_float32']:.0f} % of peak)",
                f"TFP {rates['tfp_glow']:.1f} ({100 * fraction['tfp_glow']:.0f} % of peak); "
                f"ceiling {record['ceiling_images_per_second']:.1f}",
                f"{record['ratios']['ours_float32_over_tfp_glow']:.2f}×; ceiling "
                f"{record['ratios']['ceiling_over_tfp_glow']:.2f}×; {target['ratio']}× needs "
                f"{100 * target['needs_fraction_of_peak']:.0f} % of peak",
                f"`{record.get('command', f'python -m benchmarks.ceiling --size {size}')}`",
                _date(record),
            ]
        )
    return rows


def _budget_row() -> list[str]:
    ours, torch = _load("likelihood_budget.json"), _load("peer_torch_glow_budget.json")
    ours_bpd = (ours or {}).get("test_bits_per_dim")
    torch_bpd = (torch or {}).get("test_bits_per_dim")
    difference = (
        MISSING if not (ours_bpd and torch_bpd) else f"{ours_bpd - torch_bpd:+.2f} bits/dim"
    )
    return [
        "Held-out MNIST bits/dim after 20 min (lower is better)",
        _figure(ours_bpd, digits=3),
        _figure(torch_bpd, digits=3) + " (PyTorch Glow)",
        difference,
        f"`{(ours or {}).get('command', 'python -m benchmarks.likelihood_budget --minutes 20')}`",
        _date(ours),
    ]


def _exactness_row(filename: str = "exactness.json", network_dtype: str | None = None) -> list[str]:
    """The round trip of `filename` with the networks in `network_dtype` (default: as trained)."""
    record = _load(filename)
    if not record:
        return [
            "Exactness",
            MISSING,
            "target ≤ 1e-4, 100 %",
            MISSING,
            "`python -m benchmarks.exactness`",
            MISSING,
        ]
    trips = record["round_trip_by_network_dtype"]
    trained = record.get("trained_network_dtype") or "float32"
    dtype = network_dtype or trained
    trip = trips.get(dtype, next(iter(trips.values())))
    log_det = max(
        item["max_abs_difference"]
        for item in record["log_det_vs_brute_force_jacobian"]
        if item["dtype"] == "float32"
    )
    in_float64 = record.get("float64_round_trip_of_float32_failures")
    rescued = (
        ""
        if not in_float64
        else f"; the {in_float64['images']} failures in float64: "
        f"{in_float64['identical_uint8']} identical"
    )
    return [
        f"Exactness: max flow error / identical uint8 / log-det vs Jacobian (f32), "
        f"trained with {trained} networks, decoded with {dtype}",
        f"{trip['max_abs_flow_error_of_finite']:.1e} / {100 * trip['share_identical_uint8']:.2f} % "
        f"({trip['non_finite_images']} non-finite{rescued}) / {log_det:.1e}",
        "target ≤ 1e-4 / 100 %",
        MISSING,
        f"`{record['command']}`",
        _date(record),
    ]


def _scale_floor_row() -> list[str]:
    record = _load("scale_floor.json")
    if not record:
        return [
            "Samples at T = 1 decoding to infinity, scale floor ε = 0 vs 0.01 (same weights)",
            MISSING,
            MISSING,
            MISSING,
            "`python -m benchmarks.scale_floor`",
            MISSING,
        ]
    counts = {
        row["scale_floor"]: next(s for s in row["samples"] if s["temperature"] == 1.0)
        for row in record["rows"]
    }
    floored, glow = counts.get(record["trained_scale_floor"]), counts.get(0.0)
    return [
        f"Samples at T = 1 decoding to infinity, {record['checkpoint']}: ε = "
        f"{record['trained_scale_floor']:g} vs Glow's ε = 0 (same weights)",
        f"{floored['non_finite']} / {floored['samples']}",
        f"{glow['non_finite']} / {glow['samples']}",
        MISSING,
        f"`{record['command']}`",
        _date(record),
    ]


def _serving_row() -> list[str]:
    record = _load("serving_latency.json")
    if not record:
        return [
            "Serving latency, worst signature ÷ in-memory",
            MISSING,
            "target ≤ 1.2×",
            MISSING,
            "`python -m benchmarks.serving_latency`",
            MISSING,
        ]
    cells = ", ".join(
        f"{row['signature']}@{row['batch']} {row['saved_model_ms']:.0f} ms"
        for row in record["rows"]
        if row["signature"] != "serving_default"
    )
    return [
        "Serving latency (SavedModel ÷ in-memory `tf.function`), batch 1 and 64",
        cells,
        "target ≤ 1.2×",
        f"worst {record['worst_ratio']:.2f}×",
        f"`{record['command']}`",
        _date(record),
    ]


def _memory_rows(name: str = "memory.json") -> list[list[str]]:
    record = _load(name)
    if not record:
        return [["Training step memory by depth K", MISSING, MISSING, MISSING,
                 "`python -m benchmarks.memory`", MISSING]]  # fmt: skip
    rows = [
        row
        for row in record["rows"]
        if "failed" not in row
        and row.get("eager_kernel_cache", "release") == "release"
        and not row.get("extra_variables")
    ]
    ratios = record.get("ratios", {})
    depths = sorted({row["steps_per_level"] for row in rows})

    def series(mode, key, scale, unit):
        values = {r["steps_per_level"]: r[key] for r in rows if r.get("mode", "standard") == mode}
        return (
            ", ".join(
                f"{values[k] / scale:,.{0 if scale == 1 else 2}f}" if k in values else "failed"
                for k in depths
            )
            + unit
        )

    peers = [
        (label, mode)
        for label, mode in (("TFP `tfb.Glow`", "tfp_glow"), ("PyTorch Glow", "torch_glow"))
        if any(row["mode"] == mode for row in rows)
    ]
    peer_peaks = "".join(
        f"; {label}: " + series(mode, "peak_rss_mb", 1024, " GB") for label, mode in peers
    )
    growth = ", ".join(
        f"{name} {ratios[key]:.2f}×"
        for name, mode in (("reversible", "reversible"), ("standard", "standard"), *peers)
        if (key := f"float32_{mode}_peak_rss_K{depths[-1]}_over_K{depths[0]}") in ratios
    )

    time_ratio = ", ".join(
        f"K{k} {ratios[key]:.2f}×"
        for k in depths
        if (key := f"float32_step_time_reversible_over_standard_K{k}") in ratios
    )
    label = f"K = {', '.join(map(str, depths))}, {record.get('preset', 'mnist_cpu')}, b64"
    counts = {r.get("trainable_variables") for r in rows if r["steps_per_level"] == depths[-1]}
    if len(counts) == 1 and None not in counts:  # per step, or stacked per level
        label += f", {counts.pop():,} trainable variables at K={depths[-1]}"
    return [
        [
            f"Peak tensors of a training step (TF allocator), {label}",
            "reversible: " + series("reversible", "step_peak_tensors_mb", 1, " MB"),
            "standard: " + series("standard", "step_peak_tensors_mb", 1, " MB"),
            f"step time reversible ÷ standard: {time_ratio}",
            f"`{record['command']}`",
            _date(record),
        ],
        [
            f"Peak RSS of the training process, {label}",
            "reversible: " + series("reversible", "peak_rss_mb", 1024, " GB"),
            "standard: " + series("standard", "peak_rss_mb", 1024, " GB") + peer_peaks,
            f"K{depths[-1]} ÷ K{depths[0]}: {growth}" if growth else MISSING,
            f"`{record['command']}`",
            _date(record),
        ],
    ]


def _variable_cost_row(filename: str) -> list[str]:
    """The process peak of the reversible step with one-element variables added, per depth,
    and what each added variable cost."""
    what = "Peak RSS of the training process with N one-element trainable variables added"
    record = _load(filename)
    if not record:
        return _missing_row(what, "python -m benchmarks.memory --extra-variables 0,840,1680")
    rows = [row for row in record["rows"] if "failed" not in row]
    peaks = ", ".join(
        f"K{r['steps_per_level']} +{r['extra_variables']}: {r['peak_rss_mb']:,.0f} MB" for r in rows
    )
    costs = ", ".join(  # `memory.py`'s ratios `..._K<depth>_kb_per_variable_of_<N>_extra`
        f"K{match[1]} +{match[2]}: {value:.0f}"
        for key, value in record["ratios"].items()
        if (match := re.search(r"_K(\d+)_kb_per_variable_of_(\d+)_extra$", key))
    )
    growth = record["ratios"].get("float32_reversible_peak_rss_K64_over_K4")
    return [
        f"{what}, reversible, {record['preset']}, b64",
        peaks,
        f"K64 ÷ K4 without them: {growth:.2f}×" if growth else MISSING,
        f"KB per added variable: {costs}",
        f"`{record['command']}`",
        _date(record),
    ]


def _stack_gradient_ab_row() -> list[str]:
    """The reversible process peak at K=4 and K=64 with a stack's gradient stacked at its
    level's end (6ecbbe8) against its rows written as they come, two alternating rounds."""
    what = "Peak RSS, reversible, a stack's gradient stacked at its level's end vs row by row"
    names = {
        (way, round_): f"memory_rows_ab_{way}_{round_}_avx2_2026-12-04.json"
        for way in ("stacked", "written")
        for round_ in (1, 2)
    }
    records = {key: _load(name) for key, name in names.items()}
    if not all(records.values()):
        return _missing_row(what, "python -m benchmarks.memory --depths 4,64 --modes reversible")

    def peaks(way):
        per_round = []
        for round_ in (1, 2):
            rows = {r["steps_per_level"]: r["peak_rss_mb"] for r in records[way, round_]["rows"]}
            per_round.append(f"{rows[4]:,.0f} → {rows[64]:,.0f} MB ({rows[64] / rows[4]:.2f}×)")
        return ", ".join(per_round)

    return [
        f"{what}, K=4 → K=64, mnist_cpu, b64, rounds 1, 2",
        f"written: {peaks('written')}",
        f"stacked at the end (6ecbbe8): {peaks('stacked')}",
        "target K64 ÷ K4 ≤ 1.25×",
        f"`{records['written', 1]['command'].replace('written_1', '{stacked,written}_{1,2}')}`",
        _date(records["written", 2]),
    ]


def _kernel_cache_row() -> list[str]:
    """The reversible process peak with the eager kernel cache released (as the recipe does)
    against kept, per depth, from one alternating run."""
    record = _load("memory_kernel_cache.json")
    if not record:
        command = "`python -m benchmarks.memory --eager-kernel-cache release keep`"
        return ["Peak RSS, eager kernel cache released vs kept", MISSING, MISSING, MISSING,
                command, MISSING]  # fmt: skip
    peaks = {
        (row["eager_kernel_cache"], row["steps_per_level"]): row["peak_rss_mb"] / 1024
        for row in record["rows"]
        if "failed" not in row and row["mode"] == "reversible"
    }
    depths = sorted({depth for _, depth in peaks})

    def series(cache):
        return ", ".join(f"K{k} {peaks[(cache, k)]:.2f} GB" for k in depths)

    ratios = record["ratios"]
    suffix = f"peak_rss_K{depths[-1]}_over_K{depths[0]}"
    return [
        f"Peak RSS of the reversible training process, {record['preset']}, b64: eager kernel "
        "cache released after the build (as `tfglow.recipe.train`) vs kept",
        "released: " + series("release"),
        "kept: " + series("keep"),
        f"K{depths[-1]} ÷ K{depths[0]}: {ratios[f'float32_reversible_{suffix}']:.2f}× vs "
        f"{ratios[f'float32_reversible_eager_kernels_kept_{suffix}']:.2f}×",
        f"`{record['command']}`",
        _date(record),
    ]


def _drift_row() -> list[str]:
    record = _load("reversible_drift_main_job.json")
    if not record:
        return ["Reversible rebuild drift, main-job model", MISSING, MISSING, MISSING,
                "`python -m benchmarks.decode_error_by_layer`", MISSING]  # fmt: skip
    levels = record["max_rebuild_error_by_level"]
    return [
        f"Largest rebuilt-input error per level, {len(record['images'])} test digits, "
        f"{record['checkpoint']}",
        ", ".join(f"level {level}: {error:.1e}" for level, error in levels.items()),
        MISSING,
        MISSING,
        "`python -m benchmarks.decode_error_by_layer --model-dir runs/mnist --images 0 … 63 "
        "--output reversible_drift_main_job.json`",
        _date(record),
    ]


def _process_setting_row(name: str, what: str, baseline: str, benchmark: str) -> list[str]:
    """A row of an A/B over process settings (`allocator.py`, `threads.py`): each variant's
    median images/s and its ratio to `baseline`'s."""
    record = _load(name)
    if not record:
        return [what, MISSING, MISSING, MISSING, f"`python -m benchmarks.{benchmark}`", MISSING]
    medians = record["median_images_per_second"]
    ratios = record.get(f"ratio_to_{baseline}", {})
    return [
        f"{what}, {record['model']}, median of {record['rounds']} alternating rounds",
        ", ".join(
            f"{variant} {rate:.0f}" for variant, rate in medians.items() if variant != baseline
        ),
        f"{baseline} {medians[baseline]:.0f}",
        ", ".join(
            f"{variant} {ratio:.2f}×" for variant, ratio in ratios.items() if variant != baseline
        ),
        f"`{record['command']}`",
        _date(record),
    ]


def _serving_threads_row() -> list[str]:
    """`serving_threads.py`: the SavedModel's ms per call under each thread-pool setting, and the
    speedup over TensorFlow's default pools (> 1: faster)."""
    command = "python -m benchmarks.serving_threads --rounds 3"
    what = "SavedModel ms per call by thread pools, batch 1 and 64"
    record = _load("serving_threads.json")
    if not record:
        return _missing_row(what, command)
    milliseconds = record["median_milliseconds"]
    speedups = record["speedup_over_default"]
    others = [name for name in milliseconds if name != "default"]
    return [
        f"{what}, {record['model']}, median of {record['rounds']} alternating rounds",
        "; ".join(
            f"{name}: " + ", ".join(f"{cell} {ms:.1f}" for cell, ms in milliseconds[name].items())
            for name in others
        ),
        "default: " + ", ".join(f"{cell} {ms:.1f}" for cell, ms in milliseconds["default"].items()),
        "; ".join(
            f"{name}: " + ", ".join(f"{cell} {x:.2f}×" for cell, x in speedups[name].items())
            for name in others
        ),
        f"`{record['command']}`",
        _date(record),
    ]


def _network_dtypes_row(name: str = "network_dtypes.json") -> list[str]:
    record = _load(name)
    what = "Main job with float32 vs bfloat16 coupling networks, same wall-clock budget"
    if not record:
        return [what, MISSING, MISSING, MISSING,
                "`python -m benchmarks.network_dtypes --minutes 5`", MISSING]  # fmt: skip
    runs = {run["network_dtype"]: run for run in record["runs"]}

    def cell(run: dict) -> str:
        if "test_bits_per_dim" not in run:
            return "failed"
        return (
            f"{run['test_bits_per_dim']:.3f} bits/dim, {run['steps']:,} steps "
            f"({run['steps_per_second']:.2f}/s), {run['exact_round_trips']} exact"
        )

    float32, bfloat16 = runs.get("float32", {}), runs.get("bfloat16", {})
    return [
        f"{what} ({record['minutes']:g} min, [plot](results/{record['plot']}))",
        f"bfloat16: {cell(bfloat16)}",
        f"float32: {cell(float32)}",
        _ratio(bfloat16.get("steps_per_second"), float32.get("steps_per_second")) + " steps/s",
        f"`{record['command']}`",
        _date(record),
    ]


def _architectures_rows() -> list[list[str]]:
    record = _load("architectures.json")
    command = (record or {}).get("command", "python -m benchmarks.architectures --minutes 12")
    if not record:
        return [["NICE vs RealNVP vs Glow, same wall-clock budget", MISSING, MISSING, MISSING,
                 f"`{command}`", MISSING]]  # fmt: skip
    runs = {run["architecture"]: run for run in record["runs"]}
    glow = runs.get("glow", {}).get("test_bits_per_dim")
    rows = []
    for name, run in runs.items():
        difference = (
            MISSING
            if name == "glow" or glow is None
            else f"{run['test_bits_per_dim'] - glow:+.3f} vs glow"
        )
        rows.append(
            [
                f"Held-out MNIST bits/dim after {record['minutes']:g} min, `{name}` "
                f"({run['steps']} steps, {run['steps_per_second']:.2f} steps/s, "
                f"{run['trainable_parameters']:,} parameters, exact round trips "
                f"{run['exact_round_trips']}; [plot](results/{record['plot']}))",
                _figure(run["test_bits_per_dim"], digits=3),
                "same run",
                difference,
                f"`{command}`",
                _date(record),
            ]
        )
    return rows


def _missing_row(what: str, command: str) -> list[str]:
    return [what, MISSING, MISSING, MISSING, f"`{command}`", MISSING]


def _realnvp_parts_row() -> list[str]:
    record = _load("realnvp_parts.json")
    command = (record or {}).get("command", "python -m benchmarks.realnvp_parts --minutes 4")
    what = "Held-out MNIST bits/dim of `realnvp_cpu` without each of its parts, same budget"
    if not record:
        return _missing_row(what, command)
    runs = [r for r in record["runs"] if "failed" not in r]
    full = next((r for r in runs if r["variant"] == "full"), None)
    others = ", ".join(
        f"{r['variant']} {r['test_bits_per_dim']:.3f} ({r['difference_from_full']:+.3f})"
        for r in runs
        if r["variant"] != "full"
    )
    return [
        f"{what} ({record['minutes']:g} min each; [plot](results/{record['plot']}))",
        _figure(full and full["test_bits_per_dim"], digits=3) + " (full)",
        others,
        MISSING,
        f"`{command}`",
        _date(record),
    ]


def _permutations_row() -> list[str]:
    record = _load("permutations.json")
    command = (record or {}).get("command", "python -m benchmarks.permutations --minutes 2.5")
    what = "Glow Fig. 3 at CPU scale: held-out MNIST bits/dim, mean (spread) over seeds"
    if not record:
        return _missing_row(what, command)
    cells = ", ".join(
        f"{r['permutation']}+{r['coupling']} {r['mean_bits_per_dim']:.3f} ({r['spread']:.3f})"
        for r in record["summary"]
        if r["mean_bits_per_dim"] is not None
    )
    verdict = "; ".join(
        f"{coupling}: {' < '.join(v['best_to_worst'])}"
        f" ({'paper order' if v['paper_order_holds'] else 'not the paper order'})"
        for coupling, v in record["ordering"].items()
    )
    return [
        f"{what}, {record['minutes']:g} min per run, seeds {record['seeds']} "
        f"([plot](results/{record['plot']}))",
        cells,
        "paper: 1×1 conv < shuffle < reverse",
        verdict,
        f"`{command}`",
        _date(record),
    ]


def _depth_rows(name: str = "depth.json") -> list[list[str]]:
    record = _load(name)
    command = (record or {}).get("command", "python -m benchmarks.depth")
    if not record:
        return [_missing_row("Held-out MNIST bits/dim and peak RSS by depth K", command)]
    rows = []
    for kind, budget in record["budgets"].items():
        runs = [r for r in record["runs"] if r["budget_kind"] == kind and "failed" not in r]
        cells = ", ".join(
            f"K{r['steps_per_level']}{' rev' if r['reversible'] else ''} "
            f"{r['test_bits_per_dim']:.3f} / {r['peak_rss_gb']:.2f} GB"
            for r in runs
        )
        rows.append(
            [
                f"Held-out MNIST bits/dim / peak RSS by depth, `mnist_cpu` width 64, "
                f"fixed {budget:g} {kind} ([plot](results/{record['plot']}))",
                cells,
                MISSING,
                MISSING,
                f"`{command}`",
                _date(record),
            ]
        )
    return rows


def _inference_rows(name: str = "inference_speed.json") -> list[list[str]]:
    record = _load(name)
    command = (record or {}).get("command", "python -m benchmarks.inference_speed")
    if not record:
        return [_missing_row("Inference images/s against the peers", command)]
    by = {
        (r["variant"], r["operation"], r["batch"]): r["images_per_second"] for r in record["rows"]
    }
    share = {
        (r["variant"], r["operation"], r["batch"]): f", {100 * r['fraction_of_peak']:.0f} % of peak"
        for r in record["rows"]
        if "fraction_of_peak" in r
    }
    rows = []
    for operation in ("sample", "encode", "log_prob"):
        for batch in (1, 64):
            ours = by.get(("tfglow_in_memory", operation, batch))
            saved = by.get(("tfglow_saved_model", operation, batch))
            tfp, torch = (
                by.get(("tfp_glow", operation, batch)),
                by.get(("torch_glow", operation, batch)),
            )
            label = "sample at T = 0.7" if operation == "sample" else operation
            rows.append(
                [
                    f"Inference img/s, {label}, batch {batch}, 28×28×1 L=2 K=8 w256: tfglow "
                    f"in memory (SavedModel) vs TFP `tfb.Glow` / PyTorch Glow",
                    f"{_figure(ours)} ({_figure(saved)})"
                    + share.get(("tfglow_in_memory", operation, batch), ""),
                    f"{_figure(tfp)}{share.get(('tfp_glow', operation, batch), '')} / "
                    f"{_figure(torch)}",
                    f"{_ratio(ours, tfp)} / {_ratio(ours, torch)}",
                    f"`{command}`",
                    _date(record),
                ]
            )
    return rows


def _batch1_kernels_row() -> list[str]:
    return _per_item_row(
        "batch1_kernels.json",
        "One coupling network's kernels at batch 1 (µs each), TensorFlow vs PyTorch",
        "python -m benchmarks.batch1_kernels --rounds 3",
        ("kernel", "tensorflow_us", "torch_us", "tensorflow_over_torch"),
        "{:.0f}",
    )


def _shared_layer_calls_row(filename: str = "shared_layer_calls.json") -> list[str]:
    output = "" if filename == "shared_layer_calls.json" else f" --output {filename}"
    return _per_item_row(
        filename,
        "In-memory inference, reversible flow (shared layer functions) vs standard (inline), "
        "mnist_cpu, ms per call",
        f"python -m benchmarks.shared_layer_calls --rounds 3{output}",
        ("call", "shared_ms", "inline_ms", "shared_over_inline"),
        "{:.1f}",
    )


def _per_item_row(filename: str, what: str, command: str, keys: tuple, number: str) -> list[str]:
    """One row for a record whose `rows` each name an item (`keys[0]`) with our figure, the
    peer's and their ratio (`keys[1:]`), listed item by item in each column."""
    record = _load(filename)
    if not record:
        return _missing_row(what, command)
    item, ours, peer, ratio = keys
    rows = record["rows"]
    return [
        what,
        ", ".join(f"{r[item]} {number.format(r[ours])}" for r in rows),
        ", ".join(number.format(r[peer]) for r in rows),
        ", ".join(f"{r[ratio]:.2f}×" for r in rows),
        f"`{record['command']}`",
        _date(record),
    ]


def _temperature_row() -> list[str]:
    record = _load("temperature.json")
    command = (record or {}).get("command", "python -m benchmarks.temperature --model-dir DIR")
    what = "Samples a digit classifier labels with confidence > 0.9, by temperature"
    if not record:
        return _missing_row(what, command)
    cells = ", ".join(
        f"T {r['temperature']:g}: {100 * r['confident_share']:.1f} %" for r in record["rows"]
    )
    return [
        f"{what}, {record['model']} ([grid](results/{record['grid'].split(':')[0]}))",
        cells,
        f"real test digits: {100 * record['real_test_digits_confident_share']:.1f} %",
        f"classifier accuracy {100 * record['classifier_test_accuracy']:.2f} %",
        f"`{command}`",
        _date(record),
    ]


def table() -> str:
    header = ["benchmark", "ours", "peer", "ratio", "command", "date (UTC, 1-min load), CPU"]
    rows = _throughput_rows() + [
        *_avx2_throughput_rows(),
        *_narrow_conv_rows(),
        *_ceiling_rows(),
        *_reversible_step_time_rows(),
        _budget_row(),
        _exactness_row(),
        _exactness_row("exactness_bf16_trained.json", "float32"),
        _exactness_row("exactness_main_job_avx2_2026-12-03.json"),
        _scale_floor_row(),
        _serving_row(),
        _serving_threads_row(),
        *_memory_rows(),
        _kernel_cache_row(),
        *_memory_rows("memory_cifar10.json"),
        *_memory_rows("memory_avx2_2026-12-03.json"),
        _variable_cost_row("memory_variable_cost_avx2_2026-12-03.json"),
        *_memory_rows("memory_per_step_ab_avx2_2026-12-04.json"),
        *_memory_rows("memory_stacked_final_avx2_2026-12-04.json"),
        *_memory_rows("memory_rows_written_final_avx2_2026-12-04.json"),
        _stack_gradient_ab_row(),
        _drift_row(),
        _process_setting_row("allocator.json", "Training img/s by allocator", "glibc", "allocator"),
        _process_setting_row(
            "allocator_avx2_2026-12-03.json",
            "Training img/s by allocator, AVX2-only CPU",
            "glibc",
            "allocator",
        ),
        *(
            _process_setting_row(name, "Training img/s by thread pools", "default", "threads")
            for name in ("threads.json", "threads_main_job.json")
        ),
        _network_dtypes_row(),
        _network_dtypes_row("network_dtypes_avx2_2026-12-03.json"),
        *_architectures_rows(),
        _realnvp_parts_row(),
        _permutations_row(),
        *_depth_rows(),
        *_depth_rows("depth_minutes_avx2_2026-12-03.json"),
        *_inference_rows(),
        *_inference_rows("inference_speed_avx2_2026-12-03.json"),
        *_inference_rows("inference_speed_avx2_forward_product_2026-12-03.json"),
        _batch1_kernels_row(),
        _shared_layer_calls_row(),
        _shared_layer_calls_row("shared_layer_calls_avx2_2026-12-03.json"),
        _temperature_row(),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    with open(README) as f:
        text = f.read()
    if START not in text or END not in text:
        raise ValueError(f"{README} lacks the {START} … {END} markers")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    with open(README, "w") as f:
        f.write(f"{before}{START}\n{table()}\n{END}{after}")
    print(table())


if __name__ == "__main__":
    main()
