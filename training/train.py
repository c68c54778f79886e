"""Trains a Glow-family flow: `python -m training.train --config mnist_cpu --model_dir runs/mnist`.

Running the same command again resumes from the last checkpoint in --model_dir (step, optimizer
state, data position). Every GlowConfig field has a flag (e.g. --steps_per_level 4,
--hidden_channels 128, --num_classes 10) and so has every training option; unset flags keep the
values of --config. Exit status 1 when the loss became non-finite (the last good checkpoint is
kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import typing

from tfglow.allocator import tune_glibc
from training import configs

# Flags of TrainingConfig fields, with their help; each overrides the named config.
_TRAINING_FLAGS = {
    "dataset": (
        str,
        "TFDS dataset name, e.g. mnist, fashion_mnist, cifar10, downsampled_imagenet/32x32",
    ),
    "train_split": (str, "TFDS split to train on"),
    "test_split": (str, "TFDS split for held-out bits/dim"),
    "image_size": (int, "resize images to this square side"),
    "pad_to": (int, "zero-pad images to this square side (MNIST 28 -> 32 for three levels)"),
    "batch_size": (int, "global batch size, split across replicas"),
    "optimizer": (str, "adam or adamax"),
    "learning_rate": (float, "peak learning rate, reached after the warmup"),
    "warmup_steps": (int, "steps of linear learning-rate warmup"),
    "clip_norm": (float, "clip gradients to this global norm (0: no clipping)"),
    "steps": (int, "total optimizer steps of the run (a resumed run continues up to it)"),
    "steps_per_epoch": (
        int,
        "steps between held-out evaluations (default: one pass over the data)",
    ),
    "validation_steps": (int, "test batches evaluated at each epoch end"),
    "checkpoint_every": (int, "steps between checkpoints"),
    "keep_checkpoints": (int, "number of recent checkpoints kept"),
    "log_every": (int, "steps between TensorBoard training scalars"),
    "num_samples": (int, "samples per temperature in TensorBoard and samples.png"),
    "seed": (int, "seed of the data order and of TensorFlow's random ops"),
}


def _parse_value(text: str, kind):
    return None if text.lower() == "none" else kind(text)


def _add_glow_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per GlowConfig field, named after it (`seed` becomes --model_seed)."""
    from tfglow.config import GlowConfig

    group = parser.add_argument_group("model (GlowConfig fields; default: those of --config)")
    hints = typing.get_type_hints(GlowConfig)
    for field in dataclasses.fields(GlowConfig):
        flag = "--model_seed" if field.name == "seed" else f"--{field.name}"
        hint = hints[field.name]
        if hint is bool:
            group.add_argument(
                flag,
                dest=f"model.{field.name}",
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"GlowConfig.{field.name}",
            )
        elif field.name == "image_shape":
            group.add_argument(
                flag,
                dest=f"model.{field.name}",
                default=None,
                metavar="H,W,C",
                type=lambda text: tuple(int(part) for part in text.split(",")),
                help="image shape, e.g. 28,28,1",
            )
        else:
            kind = next((kind for kind in (int, float) if hint in (kind, kind | None)), str)
            group.add_argument(
                flag,
                dest=f"model.{field.name}",
                default=None,
                metavar=field.name.upper(),
                type=lambda text, kind=kind: _parse_value(text, kind),
                help=f"GlowConfig.{field.name} ({'none or ' if 'None' in str(hint) else ''}"
                f"{kind.__name__})",
            )


def build_parser() -> argparse.ArgumentParser:
    from tfglow.recipe.strategy import STRATEGIES

    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default="mnist_cpu",
        choices=sorted(configs.CONFIGS),
        help="named configuration (default: %(default)s)",
    )
    parser.add_argument(
        "--model_dir", required=True, help="directory for configs, checkpoints, logs"
    )
    parser.add_argument(
        "--strategy",
        default="default",
        choices=STRATEGIES,
        help="default: one device; mirrored: all GPUs, else all logical CPUs; "
        "multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG",
    )
    parser.add_argument(
        "--cpu_devices",
        type=int,
        default=None,
        help="split the CPU into this many logical devices (test mirrored on a CPU)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="train epochs × steps_per_epoch steps (instead of --steps)",
    )
    parser.add_argument(
        "--ema",
        type=lambda text: _parse_value(text, float),
        default=argparse.SUPPRESS,
        help="Polyak (EMA) momentum of the evaluation weights, e.g. 0.999; none: off",
    )
    parser.add_argument(
        "--jit_compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile the training step with XLA",
    )
    parser.add_argument(
        "--random_flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random left-right flips of training images",
    )
    parser.add_argument(
        "--temperatures",
        default=None,
        type=lambda text: tuple(map(float, text.split(","))),
        help="sample temperatures, e.g. 0.5,0.7,1.0",
    )
    parser.add_argument(
        "--max_minutes",
        type=_positive_minutes,
        default=None,
        help="stop after this many minutes of training (checkpointed; rerun to continue); "
        "not with --strategy multi_worker",
    )
    parser.add_argument(
        "--final_eval_examples",
        type=int,
        default=None,
        help="test images scored after training (default: the whole test split; 0: skip)",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=(0, 1, 2),
        help="Keras progress output: 1 progress bar, 2 one line per epoch",
    )
    for name, (kind, help_text) in _TRAINING_FLAGS.items():
        parser.add_argument(
            f"--{name}",
            type=lambda text, kind=kind: _parse_value(text, kind),
            default=None,
            help=help_text,
        )
    _add_glow_flags(parser)
    return parser


def config_from_arguments(arguments: argparse.Namespace):
    """The named config with every flag that was given applied."""
    model_changes = {
        key.removeprefix("model."): value
        for key, value in vars(arguments).items()
        if key.startswith("model.") and value is not None
    }
    changes = {
        name: getattr(arguments, name)
        for name in [*_TRAINING_FLAGS, "jit_compile", "random_flip"]
        if getattr(arguments, name) is not None
    }
    if changes.get("clip_norm") == 0:
        changes["clip_norm"] = None
    if hasattr(arguments, "ema"):
        changes["ema_momentum"] = arguments.ema
    if arguments.temperatures is not None:
        changes["sample_temperatures"] = arguments.temperatures
    config = configs.get_config(arguments.config)
    config = dataclasses.replace(config, model=config.model.replace(**model_changes), **changes)
    if arguments.epochs is not None:
        from tfglow.recipe import steps_per_epoch

        config = dataclasses.replace(config, steps=arguments.epochs * steps_per_epoch(config))
    return config


def _positive_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        minutes = float("nan")
    if not math.isfinite(minutes) or minutes <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {text!r}")
    return minutes


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.max_minutes is not None and arguments.strategy == "multi_worker":
        parser.error(
            "--max_minutes cannot be used with --strategy multi_worker: each worker would "
            "stop on its own clock, at a different step, and the others would wait for it "
            "forever; use --steps"
        )
    from tfglow import recipe

    if arguments.cpu_devices:
        recipe.configure_cpu_devices(arguments.cpu_devices)
    try:
        config = config_from_arguments(arguments)
    except (ValueError, TypeError) as error:  # a bad flag value: a usage error before any setup
        parser.error(str(error))
    strategy = recipe.make_strategy(arguments.strategy)
    print(
        f"Training {arguments.config} on {config.dataset} into {arguments.model_dir} "
        f"({strategy.num_replicas_in_sync} replica(s)); model: {config.model}",
        flush=True,
    )
    max_seconds = None if arguments.max_minutes is None else 60 * arguments.max_minutes
    try:
        result = recipe.train(
            config,
            arguments.model_dir,
            strategy,
            verbose=arguments.verbose,
            max_seconds=max_seconds,
        )
    except recipe.NonFiniteLossError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    except (
        recipe.ModelDirectoryMismatchError,
        recipe.ModelDirectoryBusyError,
        recipe.CheckpointDirectoryError,
    ) as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 2
    steps_per_second = (result.end_step - result.start_step) / max(result.seconds, 1e-9)
    print(
        f"Trained steps {result.start_step} -> {result.end_step} in {result.seconds / 60:.1f} min "
        f"({steps_per_second:.2f} steps/s, {steps_per_second * config.batch_size:.0f} images/s, "
        f"setup and evaluation included); checkpoint {result.checkpoint}",
        flush=True,
    )
    print(f"Samples: {os.path.join(arguments.model_dir, recipe.trainer.SAMPLES_FILE)}", flush=True)
    if arguments.final_eval_examples != 0:
        dataset = recipe.held_out_dataset(
            config, limit=arguments.final_eval_examples, batch_size=256
        )
        bits_per_dim, count = recipe.evaluate_bits_per_dim(result.model, dataset, seed=config.seed)
        weights = "EMA weights" if config.ema_momentum is not None else "weights"
        print(
            f"Held-out bits/dim: {bits_per_dim:.4f} ({config.dataset} {config.test_split}, "
            f"{count} images, {weights} of step {result.end_step})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    tune_glibc()  # the program's choice for its own process (tfglow.allocator)
    sys.exit(main())
