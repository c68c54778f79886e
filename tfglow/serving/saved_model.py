"""`export_saved_model`: a `GlowModel` → a versioned SavedModel in TF Serving's directory layout.

TF Serving watches `export_dir/` and serves the highest integer-named subdirectory
`export_dir/<version>/`. A version is written to a temporary sibling directory first and renamed
into place, so a crash never leaves a half-written version that a server could pick up.
"""

import os
import shutil
import tempfile

import tensorflow as tf

from tfglow.model import GlowModel
from tfglow.serving.module import ExportModule


def export_saved_model(model: GlowModel, export_dir: str, version: int | None = None) -> str:
    """Writes `model` as the SavedModel `export_dir/<version>/` and returns that path.

    Args:
      model: an initialised (trained or restored) `tfglow.GlowModel`.
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
        raise FileExistsError(f"version {version} already exists at {target}; "
                              f"choose another version (next free: {next_version(export_dir)})")
    module = ExportModule(model)
    # The temporary name is not an integer, so TF Serving never mistakes it for a version.
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    try:
        _save(module, staging)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def existing_versions(export_dir: str) -> list[int]:
    """The integer versions under `export_dir`, ascending (non-integer names are ignored)."""
    if not tf.io.gfile.isdir(export_dir):
        return []
    names = [name.rstrip("/") for name in tf.io.gfile.listdir(export_dir)]
    return sorted(int(name) for name in names if name.isdigit())


def next_version(export_dir: str) -> int:
    """One more than the highest version under `export_dir`, or 1 if there is none."""
    versions = existing_versions(export_dir)
    return versions[-1] + 1 if versions else 1


def _save(module: ExportModule, directory: str):
    tf.saved_model.save(module, directory, signatures=module.signatures())
