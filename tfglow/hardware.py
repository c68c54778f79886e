"""What the machine computes natively, for `GlowConfig(network_dtype="auto")`.

bfloat16 is fast only where the hardware computes it: CPUs with AVX512_BF16 or AMX, and GPUs of
compute capability 8.0 and above (Ampere on). Elsewhere TensorFlow emulates it, several times
slower than float32, so `"auto"` picks float32 there.

The CPU's flags also decide which convolutions `tfglow.bijectors.narrow_conv` computes as matrix
products (`narrow_conv.limits`).
"""

from __future__ import annotations

import functools

import tensorflow as tf

# CPU flags (Linux /proc/cpuinfo) that mean native bfloat16 arithmetic.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# The first GPU generation with bfloat16 tensor cores (Ampere).
BFLOAT16_GPU_CAPABILITY = (8, 0)


def cpu_flags() -> set[str]:
    """The CPU's feature flags, from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return set(value.split())
    except OSError:
        pass
    return set()


@functools.cache
def native_bfloat16() -> bool:
    """Whether the devices TensorFlow computes on here have bfloat16 arithmetic in hardware.

    With GPUs, all of them must (compute capability 8.0 or above); without, the CPU must have
    AVX512_BF16 or AMX.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capabilities = [
            tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
            for gpu in gpus
        ]
        return all(tuple(c) >= BFLOAT16_GPU_CAPABILITY for c in capabilities)
    return any(flag in cpu_flags() for flag in BFLOAT16_CPU_FLAGS)


def resolve_network_dtype(network_dtype: str | None) -> str | None:
    """`network_dtype`, with `"auto"` resolved to `"bfloat16"` or `None` (the flow's dtype).

    The choice is logged once per process.
    """
    if network_dtype != "auto":
        return network_dtype
    native = native_bfloat16()
    _log_choice(native)
    return "bfloat16" if native else None


@functools.cache
def _log_choice(native: bool) -> None:
    tf.get_logger().info(
        "network_dtype='auto': "
        + (
            "bfloat16 coupling networks (this machine computes bfloat16 natively)"
            if native
            else "float32 coupling networks (no native bfloat16 here: it would be emulated)"
        )
    )
