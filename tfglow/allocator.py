"""Opt-in tuning of glibc's allocator for training processes.

A training step allocates and frees the same large activation buffers every step. By default
glibc returns such buffers to the kernel (`munmap`, heap trimming) and faults them back in on the
next step, which shows as kernel time. Raising the mmap and trim thresholds keeps them in the
heap for reuse (benchmarks/README.md has the A/B measurement).

The library never calls this itself: the allocator is process-global, so it is the programs'
choice (`training.train`, `training.evaluate`, the export CLI and the benchmarks call
`tune_glibc()` first). A user's own script can call it, or start with the same settings in the
environment:

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728 MALLOC_TOP_PAD_=67108864
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's environment names for the settings below, and their values in bytes.
GLIBC_TUNING = {
    "MALLOC_MMAP_THRESHOLD_": 32 * 2**20,
    "MALLOC_TRIM_THRESHOLD_": 128 * 2**20,
    "MALLOC_TOP_PAD_": 64 * 2**20,
}
# mallopt() parameter numbers from glibc's <malloc.h>.
_MALLOPT_PARAMETER = {
    "MALLOC_TRIM_THRESHOLD_": -1,
    "MALLOC_TOP_PAD_": -2,
    "MALLOC_MMAP_THRESHOLD_": -3,
}


def tune_glibc() -> bool:
    """Sets glibc's mmap and trim thresholds and top padding for this process (`GLIBC_TUNING`).

    Returns whether it did: `False` where the C library is not glibc (musl, macOS), where it
    changes nothing.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(
        mallopt(_MALLOPT_PARAMETER[setting], value) == 1 for setting, value in GLIBC_TUNING.items()
    )
