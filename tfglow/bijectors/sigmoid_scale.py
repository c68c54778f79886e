"""The bounded scale of the affine couplings: `ε + (1 − ε)·sigmoid(h + 2)`, and its floor ε."""

import math

import tensorflow as tf

# Added to the scale logits so that sigmoid(0 + 2) ≈ 0.88 at initialisation (openai/glow):
# a bounded scale close to, but below, one.
SCALE_LOGIT_OFFSET = 2.0
# The default floor ε. Decoding (z→x) divides by the scale, so 1/ε = 5 bounds what one coupling
# amplifies: the latent of a sample far from the typical set, and the float32 rounding of an
# encoded latent (benchmarks/README.md has the measurements behind the choice).
DEFAULT_SCALE_FLOOR = 0.2


def check_scale_floor(scale_floor: float) -> float:
    """Returns `scale_floor` as a float, or raises `ValueError` unless it is a number in [0, 1)."""
    if not (
        isinstance(scale_floor, (int, float))
        and not isinstance(scale_floor, bool)
        and math.isfinite(scale_floor)
        and 0 <= scale_floor < 1
    ):
        raise ValueError(f"scale_floor must be a number in [0, 1), got {scale_floor!r}")
    return float(scale_floor)


def log_scale(pre_scale: tf.Tensor, scale_floor: float) -> tf.Tensor:
    """`log(ε + (1 − ε)·sigmoid(pre_scale + 2))` elementwise, with ε = `scale_floor`.

    With ε = 0 this is Glow's `log sigmoid(h + 2)`, computed as `log_sigmoid` so that it stays
    finite however negative `h` is.
    """
    if scale_floor == 0:
        return tf.math.log_sigmoid(pre_scale + SCALE_LOGIT_OFFSET)
    return tf.math.log(
        scale_floor + (1.0 - scale_floor) * tf.sigmoid(pre_scale + SCALE_LOGIT_OFFSET)
    )
