"""tfglow.allocator: the opt-in glibc tuning the programs apply, and that the library does not."""

import os
import pathlib
import subprocess
import sys

import tfglow

# In a bare process (glibc's dynamic mmap threshold still at its start): a 16 MB malloc is mmapped
# (mallinfo2().hblks counts mmapped chunks) before tuning and comes from the heap after.
PROBE = """
import ctypes, ctypes.util

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p

def mmapped_by_a_16mb_malloc():
    before = libc.mallinfo2().hblks
    pointer = libc.malloc(16 * 2**20)
    after = libc.mallinfo2().hblks
    libc.free(ctypes.c_void_p(pointer))
    return after - before

import importlib.util, sys
spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
print(mmapped_by_a_16mb_malloc(), int(allocator.tune_glibc()), mmapped_by_a_16mb_malloc())
"""
LIBRARY = pathlib.Path(tfglow.__file__).parent


def test_tune_glibc_keeps_large_buffers_in_the_heap():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    process = subprocess.run(
        [sys.executable, "-c", PROBE, str(LIBRARY / "allocator.py")],
        capture_output=True, text=True, timeout=60, env=environment,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip().splitlines()[-1] == "1 1 0"


def test_no_library_module_tunes_the_allocator():
    callers = [
        path.relative_to(LIBRARY).as_posix()
        for path in LIBRARY.rglob("*.py")
        if path.name != "allocator.py"
        and ("tune_glibc(" in path.read_text() or "mallopt" in path.read_text())
    ]
    assert callers == []
