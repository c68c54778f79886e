"""Prints held-out bits/dim of a trained model.

    python -m training.evaluate --model_dir runs/mnist

The model is rebuilt from --model_dir alone (glow_config.json and the latest checkpoint), with its
Polyak (EMA) weights if it was trained with them. The images get the preprocessing of training
(padding, resizing) and seeded uniform dequantisation, so the figure is repeatable.
"""

from __future__ import annotations

import argparse
import math
import sys

from tfglow.allocator import tune_glibc
from tfglow.checks import positive_int_argument


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model_dir", required=True, help="directory written by training.train")
    parser.add_argument(
        "--dataset",
        default=None,
        help="TFDS dataset (default: the one trained on), e.g. mnist, fashion_mnist",
    )
    parser.add_argument("--split", default=None, help="TFDS split (default: the run's test split)")
    parser.add_argument(
        "--limit",
        type=positive_int_argument,
        default=None,
        help="score only the first LIMIT images",
    )
    parser.add_argument(
        "--batch_size",
        type=positive_int_argument,
        default=256,
        help="images per batch (default: %(default)s)",
    )
    parser.add_argument(
        "--checkpoint", default=None, help="a checkpoint prefix (default: the latest)"
    )
    parser.add_argument(
        "--no_ema", action="store_true", help="use the raw weights, not the EMA ones"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the dequantisation noise")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    from tfglow import recipe

    config = recipe.read_training_config(arguments.model_dir)
    if config is None:
        raise SystemExit(
            f"{arguments.model_dir} has no training_config.json: not a training.train directory"
        )
    try:
        model, step = recipe.restore_model(
            arguments.model_dir, use_ema=not arguments.no_ema, checkpoint_path=arguments.checkpoint
        )
    except (
        FileNotFoundError,
        recipe.NonFiniteCheckpointError,
        recipe.CheckpointDirectoryError,
    ) as error:
        raise SystemExit(f"error: {error}") from None
    dataset_name = arguments.dataset or config.dataset
    split = arguments.split or config.test_split
    dataset = recipe.held_out_dataset(
        config,
        split=split,
        batch_size=arguments.batch_size,
        limit=arguments.limit,
        dataset=dataset_name,
    )
    bits_per_dim, count = recipe.evaluate_bits_per_dim(model, dataset, seed=arguments.seed)
    weights = "EMA" if config.ema_momentum is not None and not arguments.no_ema else "raw"
    if not math.isfinite(bits_per_dim):
        raise SystemExit(
            f"error: the model of step {step} ({weights} weights) scores {bits_per_dim} bits/dim "
            f"on {dataset_name} {split}: its weights do not give a finite likelihood"
        )
    print(
        f"{bits_per_dim:.4f} bits/dim on {dataset_name} {split} ({count} images; step {step}, "
        f"{weights} weights)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    tune_glibc()  # the program's choice for its own process (tfglow.allocator)
    sys.exit(main())
