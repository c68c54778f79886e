"""Images per second delivered by tfglow's input pipeline: `python -m benchmarks.data_pipeline`.

Measures the training pipeline for MNIST (batch 64, padded to 32, shuffled, repeated) twice:
  cold: the first epoch, which reads and decodes the TFDS records and fills the in-memory cache;
  warm: the following epochs, served from the cache (what every later epoch of training sees).
Prints one JSON line and writes it to benchmarks/results/data_pipeline.json. A training step of the
models here runs at about 100–200 images/s, so the pipeline must stay far above that.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from tfglow import data

RESULTS_FILE = Path(__file__).resolve().parent / "results" / "data_pipeline.json"


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--split", default="train")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pad-to", type=int, default=32)
    parser.add_argument("--random-flip", action="store_true")
    parser.add_argument(
        "--warm-epochs", type=int, default=3, help="epochs timed after the cold one"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    return parser.parse_args()


def _images_per_second(iterator, num_batches: int) -> tuple[float, int, float]:
    """Pulls `num_batches` batches; returns (images/s, images, seconds)."""
    start = time.perf_counter()
    images = sum(int(next(iterator).shape[0]) for _ in range(num_batches))
    seconds = time.perf_counter() - start
    return images / seconds, images, seconds


def main() -> None:
    arguments = _parse_arguments()
    dataset = data.load_images(
        arguments.dataset,
        arguments.split,
        batch_size=arguments.batch_size,
        pad_to=arguments.pad_to,
        random_flip=arguments.random_flip,
        seed=0,
        repeat=True,
        drop_remainder=True,
    )
    num_examples = data.get_builder(arguments.dataset).info.splits[arguments.split].num_examples
    batches_per_epoch = num_examples // arguments.batch_size
    iterator = iter(dataset)
    cold_rate, _, cold_seconds = _images_per_second(iterator, batches_per_epoch)
    warm_rate, warm_images, warm_seconds = _images_per_second(
        iterator, batches_per_epoch * arguments.warm_epochs
    )
    result = {
        "benchmark": "data_pipeline",
        "dataset": arguments.dataset,
        "split": arguments.split,
        "batch_size": arguments.batch_size,
        "pad_to": arguments.pad_to,
        "random_flip": arguments.random_flip,
        "cold_epoch_images_per_second": round(cold_rate),
        "cold_epoch_seconds": round(cold_seconds, 2),
        "warm_images_per_second": round(warm_rate),
        "warm_images": warm_images,
        "warm_seconds": round(warm_seconds, 2),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(
            os.getloadavg()[0], 2
        ),  # other work on the machine lowers the figures
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    line = json.dumps(result)
    print(line)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(line + "\n")


if __name__ == "__main__":
    main()
