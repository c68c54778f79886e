"""Likelihood scores for out-of-distribution checks: per-image bits/dim and the AUROC of two
datasets.

A model trained on one dataset should give images of another dataset more bits/dim. How well the
score separates them is the AUROC: the probability that a random out-of-distribution image scores
higher than a random in-distribution one (0.5: no separation, 1: perfect), computed from ranks as
the Mann–Whitney statistic `U / (n_in · n_out)`. (Flows can fail this test in one direction:
Nalisnick et al. 2019, "Do deep generative models know what they don't know?".)
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from tfglow import pixels
from tfglow.latent.batches import DEFAULT_BATCH_SIZE, as_labels, map_batches


def score_bits_per_dim(
    model,
    images,
    labels=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dequantize: bool = False,
    seed: int | None = None,
) -> np.ndarray:
    """Bits/dim of every image, float64 `[N]`, computed in batches (x→z).

    With `dequantize=False` (default) pixels sit at their bin centres and the scores are
    deterministic. A class-conditional model scores `p(x | labels)` when labels are given, and
    otherwise the marginal `p(x) = (1/K) Σ_y p(x | y)` over its K classes (uniform class prior).
    """
    images = np.asarray(images)
    labels = as_labels(model, labels, len(images))
    conditional = model.config.num_classes is not None
    bits = tf.function(
        lambda x, y: model.bits_per_dim(x, y, dequantize=dequantize, seed=seed), autograph=False
    )
    if labels is not None or not conditional:
        return map_batches(bits, (images, labels), batch_size).astype(np.float64)
    num_classes = model.config.num_classes
    per_class = np.stack(
        [
            map_batches(bits, (images, np.full([len(images)], label, np.int32)), batch_size)
            for label in range(num_classes)
        ],
        axis=-1,
    ).astype(np.float64)
    # bits/dim is an affine function of log p(x | y): average the densities, not the bits.
    dims = model.config.event_size
    log_prob = -(per_class - model.config.num_bits) * dims * math.log(2.0)
    log_marginal = _log_mean_exp(log_prob, axis=-1)
    return np.asarray(pixels.bits_per_dim(log_marginal, dims, model.config.num_bits))


def average_ranks(values) -> np.ndarray:
    """Ranks 1…N of `values`, tied values sharing the mean of their ranks."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))
    ends = np.append(starts[1:], len(values))
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 … ends
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auroc(in_scores, out_scores) -> float:
    """P(out > in) + ½·P(out = in): the area under the ROC curve of "score above a threshold → out".

    Mann–Whitney: with `R` the sum of the ranks of `out_scores` among all scores,
    `U = R − n_out·(n_out + 1)/2` and AUROC `= U / (n_in · n_out)`.
    """
    in_scores = np.asarray(in_scores, np.float64).ravel()
    out_scores = np.asarray(out_scores, np.float64).ravel()
    if not in_scores.size or not out_scores.size:
        raise ValueError(
            f"auroc needs scores on both sides, got {in_scores.size} in-distribution "
            f"and {out_scores.size} out-of-distribution scores"
        )
    if not (np.all(np.isfinite(in_scores)) and np.all(np.isfinite(out_scores))):
        raise ValueError("auroc got NaN or infinite scores")
    ranks = average_ranks(np.concatenate([in_scores, out_scores]))
    rank_sum = ranks[in_scores.size :].sum()
    u_statistic = rank_sum - out_scores.size * (out_scores.size + 1) / 2.0
    return float(u_statistic / (in_scores.size * out_scores.size))


@dataclasses.dataclass(frozen=True)
class ScoreComparison:
    """Bits/dim of an in-distribution and an out-of-distribution dataset, and their AUROC."""

    in_bits_per_dim: np.ndarray
    out_bits_per_dim: np.ndarray
    auroc: float

    def summary(self) -> str:
        return (
            f"in-distribution {np.mean(self.in_bits_per_dim):.3f} bits/dim, "
            f"out-of-distribution {np.mean(self.out_bits_per_dim):.3f} bits/dim, "
            f"AUROC {self.auroc:.4f}"
        )


def compare_datasets(
    model,
    in_images,
    out_images,
    batch_size: int = DEFAULT_BATCH_SIZE,
    in_labels=None,
    out_labels=None,
) -> ScoreComparison:
    """Scores both datasets with `score_bits_per_dim` and separates them by `auroc` (higher =
    out)."""
    in_bits = score_bits_per_dim(model, in_images, in_labels, batch_size)
    out_bits = score_bits_per_dim(model, out_images, out_labels, batch_size)
    return ScoreComparison(in_bits, out_bits, auroc(in_bits, out_bits))


def _log_mean_exp(values: np.ndarray, axis: int) -> np.ndarray:
    peak = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.mean(np.exp(values - peak), axis=axis))
