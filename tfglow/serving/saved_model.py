"""`export_saved_model`: a `GlowModel` → a versioned SavedModel in TF Serving's directory layout.

TF Serving watches `export_dir/` and serves the highest integer-named subdirectory
`export_dir/<version>/`. A version is written to a temporary sibling directory first and renamed
into place, so a crash never leaves a half-written version that a server could pick up. The
temporary directory's name carries the writing process's id; a later export removes those whose
process is gone (killed mid-export), and never one of a live process.
"""

import os
import re
import shutil
import tempfile

import tensorflow as tf

from tfglow.pixel_flow import PixelFlow
from tfglow.serving.module import ExportModule


def export_saved_model(model: PixelFlow, export_dir: str, version: int | None = None) -> str:
    """Writes `model` as the SavedModel `export_dir/<version>/` and returns that path.

    Args:
      model: an initialised (trained or restored) `tfglow.GlowModel` or
        `tfglow.keras.GlowModel`.
      export_dir: the model's base directory, as given to TF Serving (`--model_base_path`);
        created if missing.
      version: Python `int` >= 1, or `None` for the next free version (one more than the highest
        existing version, 1 in an empty directory). Default value: `None`.

    Raises:
      FileExistsError: if `export_dir/<version>` already exists; versions are never overwritten.
      ValueError: if `version` is not a positive integer.
    """
    tf.io.gfile.makedirs(export_dir)
    if version is None:
        version = next_version(export_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    target = os.path.join(export_dir, str(version))
    if tf.io.gfile.exists(target):
        raise FileExistsError(
            f"version {version} already exists at {target}; "
            f"choose another version (next free: {next_version(export_dir)})"
        )
    module = ExportModule(model)
    remove_abandoned_staging(export_dir)
    # The temporary name is not an integer, so TF Serving never mistakes it for a version.
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-pid{os.getpid()}-", dir=export_dir)
    try:
        _save(module, staging)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


_VERSION = re.compile(r"[0-9]+")
_STAGING = re.compile(r"\.tmp-[0-9]+-pid([0-9]+)-.*")


def existing_versions(export_dir: str) -> list[int]:
    """The versions under `export_dir`, ascending: subdirectories named by ASCII digits only.

    Anything else (files, `v2`, `²`, a staging directory) is not a version, as for TF Serving.
    """
    if not tf.io.gfile.isdir(export_dir):
        return []
    names = [name.rstrip("/") for name in tf.io.gfile.listdir(export_dir)]
    return sorted(
        int(name)
        for name in names
        if _VERSION.fullmatch(name) and tf.io.gfile.isdir(os.path.join(export_dir, name))
    )


def remove_abandoned_staging(export_dir: str) -> list[str]:
    """Removes the staging directories of exports whose process no longer runs; returns them."""
    removed = []
    for name in os.listdir(export_dir) if os.path.isdir(export_dir) else []:
        match = _STAGING.fullmatch(name)
        if match and not _process_is_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(export_dir, name), ignore_errors=True)
            removed.append(os.path.join(export_dir, name))
    return removed


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def next_version(export_dir: str) -> int:
    """One more than the highest version under `export_dir`, or 1 if there is none."""
    versions = existing_versions(export_dir)
    return versions[-1] + 1 if versions else 1


def _save(module: ExportModule, directory: str):
    tf.saved_model.save(module, directory, signatures=module.signatures())
