"""Where a float32 decode loses an image: the error after each layer of decode(encode(x)).

    python -m benchmarks.decode_error_by_layer --model-dir runs/mnist --images 141 482 2836 4200 0

For each chosen MNIST test digit, the flow is walked level by level: every layer's input is
recorded while encoding (x→z, float32), then the top latent is decoded layer by layer (z→x) and
each decoded input is compared with the recorded one. Every tensor handed to a layer is a fresh
copy: TFP caches each bijector call by tensor identity, and `forward` given the very tensor
`inverse` returned would hand back the recorded input without computing anything. For affine
couplings the smallest scale on that image is printed too: decoding divides by it, so couplings
with scales near the floor ε are where errors grow. Writes `benchmarks/results/<--output>`.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from benchmarks.peers import bench_common
from tfglow import data, pixels, recipe
from tfglow.bijectors import AffineCoupling
from tfglow.bijectors.channel_coupling import split_index
from tfglow.bijectors.joint_log_det import forward_and_log_det, inverse_and_log_det


def _fresh(tensor: tf.Tensor) -> tf.Tensor:
    return tf.constant(tensor.numpy())


def _per_image_max(tensor: np.ndarray) -> list[float]:
    return [float(v) for v in np.max(np.abs(tensor), axis=tuple(range(1, tensor.ndim)))]


def walk(model, images: np.ndarray) -> list[dict]:
    """Per layer, in decoding order: the largest |decoded input − encoded input| of each image.

    Decoding rebuilds each layer's input from its output, as the reversible backward pass does, so
    these are also the drift of `GlowConfig(reversible_gradients=True)`'s rebuilt activations.
    """
    glow = model.bijector
    h = pixels.images_to_flow(images, model.config.num_bits, model.flow_dtype)
    encoded, finished = [], []
    for level, layer, kwargs, factors_out in glow.layers():
        encoded.append((level, layer, kwargs, factors_out, h))
        h = _fresh(inverse_and_log_det(layer, h, **kwargs)[0])
        if factors_out:
            h, latent = glow.layout.factor_out(h)
            h, latent = _fresh(h), _fresh(latent)
            finished.append(latent)
    rows = []
    for level, layer, kwargs, factors_out, layer_input in reversed(encoded):
        if factors_out:
            h = glow.layout.merge(h, finished.pop())
        h = _fresh(forward_and_log_det(layer, h, **kwargs)[0])
        row = dict(
            level=level,
            layer=layer.name,
            max_abs_error=_per_image_max(h.numpy() - layer_input.numpy()),
        )
        if isinstance(layer, AffineCoupling):
            conditioning = layer_input[..., : split_index(layer_input.shape[-1])]
            _, log_scale = layer.shift_and_log_scale(conditioning)
            row["min_scale"] = [float(v) for v in np.min(np.exp(log_scale.numpy()), axis=(1, 2, 3))]
        rows.append(row)
    return rows


def max_error_by_level(rows: list[dict]) -> dict[int, float]:
    """The largest rebuild error of any layer and image in each level."""
    by_level: dict[int, float] = {}
    for row in rows:
        by_level[row["level"]] = max(by_level.get(row["level"], 0.0), max(row["max_abs_error"]))
    return dict(sorted(by_level.items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="runs/mnist")
    parser.add_argument(
        "--images", type=int, nargs="+", default=[0, 1, 2, 3], help="indices of MNIST test digits"
    )
    parser.add_argument("--output", default="decode_error_by_layer.json")
    args = parser.parse_args(argv)
    model, step = recipe.restore_model(args.model_dir)
    images = data.load_numpy("mnist", "test")[args.images]
    rows = walk(model, images)
    for row in rows:
        scales = f"  min scale {np.round(row['min_scale'], 3)}" if "min_scale" in row else ""
        print(
            f"level {row['level']} {row['layer']:24s} error "
            f"{np.array(row['max_abs_error'])}{scales}"
        )
    bench_common.emit(
        dict(
            benchmark="decode_error_by_layer",
            checkpoint=f"{args.model_dir} (step {step})",
            scale_floor=model.config.scale_floor,
            images=args.images,
            max_rebuild_error_by_level=max_error_by_level(rows),
            layers_in_decoding_order=rows,
            command="python -m benchmarks.decode_error_by_layer " + " ".join(sys.argv[1:]),
            machine=bench_common.machine_info(),
            date=bench_common.now_iso(),
        ),
        args.output,
    )


if __name__ == "__main__":
    main()
