"""One training run per model directory: a lock that dies with the process that holds it.

The lock is an advisory `flock` on `model_dir/.tfglow-run.lock`. The kernel releases it when the
holding process exits for any reason, `kill -9` included, so a killed run never leaves the
directory locked. The file itself says who holds it (process id and host), for the message a
second run gets. (`flock` is per host: two hosts sharing the directory over NFS are not excluded.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket

LOCK_FILE = ".tfglow-run.lock"


class ModelDirectoryBusyError(RuntimeError):
    """Another training run holds the model directory."""


@contextlib.contextmanager
def hold(model_dir: str | os.PathLike):
    """Holds the run lock of `model_dir` for the `with` block.

    Raises:
      ModelDirectoryBusyError: another process holds it; the message names it.
    """
    model_dir = os.fspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, LOCK_FILE)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise ModelDirectoryBusyError(
            f"{model_dir} is in use by another training run ({holder}); wait for it to end or "
            f"stop it, or use another model directory"
        ) from None
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.ftruncate(descriptor, 0)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
