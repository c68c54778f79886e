"""Temperature: a sample grid at T = 0.5 … 1.0, and how many samples a digit classifier recognises.

    python -m benchmarks.temperature --model-dir runs/mnist

For the trained model of `--model-dir` (the main job's, `bash training/main.sh`): a PNG grid with
one row of samples per temperature T ∈ {0.5, 0.6, 0.7, 0.8, 0.9, 1.0} (the same latent directions
in every row), and, at each T, the fraction of `--samples` samples that a small convolutional
MNIST classifier labels with confidence above 0.9. The classifier is trained here, on the 60,000
real training digits, and its accuracy and the same fraction on the real test digits are reported
beside it: a cheap, honest proxy for how usable the samples are, which held-out bits/dim does not
measure. Writes `benchmarks/results/temperature.json` and `temperature_grid.png`.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf_keras

from benchmarks.peers import bench_common
from tfglow import images as image_grids
from tfglow import recipe
from tfglow.data import load_numpy

TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CONFIDENT = 0.9


def digit_classifier(seed: int = 0) -> tuple[tf_keras.Model, float]:
    """A small CNN trained on the real training digits, and its test accuracy."""
    tf_keras.utils.set_random_seed(seed)
    train_x, train_y = load_numpy("mnist", "train", with_labels=True)
    test_x, test_y = load_numpy("mnist", "test", with_labels=True)
    model = tf_keras.Sequential(
        [
            tf_keras.layers.Rescaling(1 / 255.0, input_shape=(28, 28, 1)),
            tf_keras.layers.Conv2D(32, 3, activation="relu"),
            tf_keras.layers.MaxPooling2D(),
            tf_keras.layers.Conv2D(64, 3, activation="relu"),
            tf_keras.layers.MaxPooling2D(),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(128, activation="relu"),
            tf_keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=tf_keras.optimizers.Adam(1e-3),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train_x, train_y, batch_size=128, epochs=2, verbose=0)
    return model, float(model.evaluate(test_x, test_y, batch_size=1000, verbose=0)[1])


def confident_share(classifier: tf_keras.Model, images: np.ndarray) -> float:
    probabilities = tf.nn.softmax(classifier.predict(images, batch_size=500, verbose=0))
    return float(np.mean(np.max(probabilities, axis=1) > CONFIDENT))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="runs/mnist")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--grid-columns", type=int, default=12)
    parser.add_argument("--output", default="temperature.json")
    args = parser.parse_args(argv)
    model, step = recipe.restore_model(args.model_dir)
    classifier, accuracy = digit_classifier()
    rows, grid = [], []
    for temperature in TEMPERATURES:
        samples = np.concatenate(
            [
                model.sample(min(500, args.samples - start), temperature, seed=start).numpy()
                for start in range(0, args.samples, 500)
            ]
        )
        grid.append(samples[: args.grid_columns])
        rows.append(
            dict(
                temperature=temperature,
                confident_share=round(confident_share(classifier, samples), 4),
            )
        )
        print(rows[-1], flush=True)
    png = os.path.splitext(args.output)[0] + "_grid.png"  # its captions: the sidecar _grid.json
    image_grids.write_grid(
        os.path.join(bench_common.RESULTS_DIR, png),
        np.stack(grid),
        row_captions=[f"T = {t}" for t in TEMPERATURES],
        title=f"samples of {args.model_dir} (step {step}), one row per temperature",
        scale=2,
    )
    real = load_numpy("mnist", "test")
    bench_common.emit(
        dict(
            benchmark="temperature",
            model=f"{args.model_dir} (step {step})",
            samples_per_temperature=args.samples,
            confidence_threshold=CONFIDENT,
            rows=rows,
            classifier_test_accuracy=round(accuracy, 4),
            real_test_digits_confident_share=round(confident_share(classifier, real), 4),
            grid=f"{png}: one row per temperature, {', '.join(map(str, TEMPERATURES))}, top to "
            f"bottom; column j uses the same latent direction (seed) in every row",
            command="python -m benchmarks.temperature " + " ".join(sys.argv[1:]),
            machine=bench_common.machine_info(),
            date=bench_common.now_iso(),
        ),
        args.output,
    )


if __name__ == "__main__":
    main()
