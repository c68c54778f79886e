"""Pictures of a trained flow.

    python -m training.visualize --model_dir DIR --what WHAT --out FILE.png


WHAT is one of
  samples      rows: temperatures T (eps ~ N(0, T²·I)); a class-conditional model cycles its labels
               along each row (Glow Fig. 8);
  classes      rows: classes of a class-conditional model, at --temperature (Glow `ycond`);
  interpolate  rows: pairs of test images; columns: the latent path between them (Glow Fig. 5);
  manipulate   rows: test images; columns: amounts along the direction "is class --attribute_class"
               minus "is not" (Glow Fig. 6);
  compress     rows: test images; columns: share of latents kept, the finer levels resampled at
               --temperature (RealNVP appendix D).
The captions of rows and columns go to FILE.json beside the PNG. Library: `tfglow.latent`.
"""

import argparse
import json
import sys

import numpy as np
import tensorflow as tf

from tfglow import data, latent
from tfglow.images import write_grid
from tfglow.recipe import restore_model

WHATS = ("samples", "classes", "interpolate", "manipulate", "compress")


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",") if value.strip()]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1],
    )
    parser.add_argument(
        "--model_dir", required=True, help="training directory (glow_config.json, checkpoints/)"
    )
    parser.add_argument("--what", required=True, choices=WHATS)
    parser.add_argument(
        "--out", required=True, help="the PNG to write; captions go to the .json beside it"
    )
    parser.add_argument("--dataset", default="mnist", help="TFDS dataset of the real images")
    parser.add_argument("--split", default="test")
    parser.add_argument("--rows", type=int, default=4, help="images (or pairs) shown, one per row")
    parser.add_argument(
        "--columns", type=int, default=8, help="samples per row, or interpolation steps"
    )
    parser.add_argument("--temperatures", type=_floats, default=list(latent.TEMPERATURES))
    parser.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="for classes and compress (the resampled levels)",
    )
    parser.add_argument("--method", choices=("linear", "spherical"), default="linear")
    parser.add_argument(
        "--attribute_class",
        type=int,
        default=1,
        help="manipulate: the class whose mean latent minus the rest's is the direction",
    )
    parser.add_argument(
        "--attribute_images",
        type=int,
        default=5000,
        help="manipulate: training images used to estimate the direction",
    )
    parser.add_argument("--amounts", type=_floats, default=[-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="pixel magnification of the PNG")
    parser.add_argument(
        "--raw_weights",
        action="store_true",
        help="load the raw weights instead of the moving averages the run kept",
    )
    return parser.parse_args(argv)


def _real_images(model, name: str, split: str, count: int):
    """The first `count` images of a split and their labels, resized or padded to the model's
    size."""
    native = data.get_builder(name).info.features["image"].shape
    side = model.config.image_shape[0]
    sizing = (
        {}
        if native[0] == side
        else ({"pad_to": side} if native[0] and native[0] < side else {"image_size": side})
    )
    images, labels = data.load_numpy(name, split, limit=count, with_labels=True, **sizing)
    if len(images) < count:
        raise ValueError(
            f"{name} {split} has {len(images)} images, fewer than the {count} asked for"
        )
    return images, labels


def _grid(model, args) -> tuple[np.ndarray, list[str], list[str], str]:
    """(images [rows, columns, H, W, C], row captions, column captions, title) for `args.what`."""
    num_classes = model.config.num_classes
    if args.what == "samples":
        labels = None if num_classes is None else np.arange(args.columns) % num_classes
        grid = latent.sample_at_temperatures(
            model, args.temperatures, args.columns, args.seed, labels
        )
        columns = (
            [f"label {label}" for label in labels]
            if labels is not None
            else [f"sample {index}" for index in range(args.columns)]
        )
        return grid, [f"T = {t:g}" for t in args.temperatures], columns, "samples at temperature T"
    if args.what == "classes":
        grid = latent.sample_classes(model, None, args.columns, args.temperature, args.seed)
        return (
            grid,
            [f"class {label}" for label in range(len(grid))],
            [f"sample {index}" for index in range(args.columns)],
            f"class-conditional samples at T = {args.temperature:g}",
        )
    images, dataset_labels = _real_images(model, args.dataset, args.split, 2 * args.rows)
    labels = dataset_labels if num_classes else None  # a class-conditional model encodes with them
    if args.what == "interpolate":
        pairs_b = None if labels is None else labels[args.rows :]
        pairs_a = None if labels is None else labels[: args.rows]
        grid = latent.interpolate(
            model,
            images[: args.rows],
            images[args.rows :],
            args.columns,
            args.method,
            pairs_a,
            pairs_b,
        )
        return (
            grid,
            [f"{args.split} images {i} → {i + args.rows}" for i in range(args.rows)],
            [f"t = {t:.3g}" for t in latent.interpolation_fractions(args.columns)],
            f"{args.method} interpolation in latent space",
        )
    if args.what == "manipulate":
        train_images, train_labels = _real_images(
            model, args.dataset, "train", args.attribute_images
        )
        conditional_labels = train_labels if num_classes else None
        latents = latent.encode_dataset(model, train_images, conditional_labels)
        direction = latent.attribute_directions(latents, train_labels == args.attribute_class)
        row_labels = None if labels is None else labels[: args.rows]
        grid = latent.manipulate(model, images[: args.rows], direction, args.amounts, row_labels)
        return (
            grid,
            [f"{args.split} image {i}" for i in range(args.rows)],
            [f"α = {amount:g}" for amount in args.amounts],
            f"z + α·(mean z of class {args.attribute_class} − mean z of the other classes)",
        )
    grid, fractions = latent.compress(
        model,
        images[: args.rows],
        None,
        args.temperature,
        args.seed,
        None if labels is None else labels[: args.rows],
    )
    return (
        grid,
        [f"{args.split} image {i}" for i in range(args.rows)],
        [f"{100 * fraction:.3g}% of latents kept" for fraction in fractions],
        f"conceptual compression, finer levels resampled at T = {args.temperature:g}",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    tf.random.set_seed(args.seed)
    model, step = restore_model(args.model_dir, use_ema=not args.raw_weights)
    grid, rows, columns, title = _grid(model, args)
    json_path = write_grid(
        args.out,
        grid,
        rows,
        columns,
        title,
        scale=args.scale,
        metadata={
            "command": "python -m training.visualize "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "model_dir": args.model_dir,
            "checkpoint_step": step,
            "what": args.what,
        },
    )
    print(
        json.dumps(
            {"png": args.out, "captions": json_path, "rows": len(rows), "columns": len(columns)}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
