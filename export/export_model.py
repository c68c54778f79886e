"""Exports a trained tfglow model as a TF Serving SavedModel version.

    python -m export.export_model --model_dir runs/mnist --export_dir exports/mnist [--version N]
        [--no-use_ema] [--checkpoint runs/mnist/checkpoints/ckpt-2000] [--network_dtype float32]
    python -m export.export_model --keras_file glow.keras --export_dir exports/mnist

From a training directory (`training.train`) or from a Keras 3 model saved with
`tfglow.keras.GlowModel.save("glow.keras")`.

Restores the latest checkpoint (with the Polyak/EMA weights if the run kept them, unless
`--no-use_ema`) and prints the path of the version written, `exports/mnist/<N>`; see
export/README.md for serving it. The signatures compute the coupling networks in float32 even for a
run trained with bfloat16 networks, which keeps encode and decode exact inverses
(benchmarks/README.md); `--network_dtype as_trained` keeps the run's dtype.
"""

import argparse
import sys

from tfglow.allocator import tune_glibc
from tfglow.recipe.checkpoint_files import CheckpointDirectoryError
from tfglow.recipe.checkpointing import AS_TRAINED, NonFiniteCheckpointError, restore_model
from tfglow.serving import export_saved_model


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model_dir", help="training directory (glow_config.json and checkpoints/)"
    )
    source.add_argument(
        "--keras_file", help="a tfglow.keras.GlowModel saved with model.save('name.keras')"
    )
    parser.add_argument(
        "--export_dir",
        required=True,
        help="base directory served by TF Serving; versions go in <export_dir>/<N>",
    )
    parser.add_argument(
        "--version", type=int, default=None, help="version number (default: the next free one)"
    )
    parser.add_argument(
        "--use_ema",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="export the moving average of the weights if the run kept one",
    )
    parser.add_argument(
        "--checkpoint", default=None, help="a checkpoint prefix to export instead of the latest one"
    )
    parser.add_argument(
        "--network_dtype",
        choices=["float32", "bfloat16", AS_TRAINED],
        default="float32",
        help="dtype of the coupling networks' computation in the signatures "
        "(default float32, exact; as_trained: the run's network_dtype)",
    )
    args = parser.parse_args(argv)
    if args.keras_file:
        path = export_saved_model(_load_keras_file(args.keras_file), args.export_dir, args.version)
        print(f"exported {args.keras_file} to {path}")
        return path
    try:
        model, step = restore_model(
            args.model_dir,
            use_ema=args.use_ema,
            checkpoint_path=args.checkpoint,
            network_dtype=args.network_dtype,
        )
    except (FileNotFoundError, NonFiniteCheckpointError, CheckpointDirectoryError) as error:
        raise SystemExit(f"error: {error}") from None
    path = export_saved_model(model, args.export_dir, version=args.version)
    print(f"exported step {step} of {args.model_dir} to {path}")
    return path


def _load_keras_file(path: str):
    import keras

    import tfglow.keras

    try:
        model = keras.models.load_model(path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: cannot load {path} as a Keras model: {error}") from None
    if not isinstance(model, tfglow.keras.GlowModel):
        raise SystemExit(f"error: {path} holds a {type(model).__name__}, not a tfglow model")
    return model


if __name__ == "__main__":
    tune_glibc()  # the program's choice for its own process (tfglow.allocator)
    main(sys.argv[1:])
