"""The bounded scale of the affine couplings: `ε + (1 − ε)·sigmoid(h + 2)`."""

import tensorflow as tf

# Added to the scale logits so that sigmoid(0 + 2) ≈ 0.88 at initialisation (openai/glow):
# a bounded scale close to, but below, one.
SCALE_LOGIT_OFFSET = 2.0


def log_scale(pre_scale: tf.Tensor, scale_floor: float) -> tf.Tensor:
    """`log(ε + (1 − ε)·sigmoid(pre_scale + 2))` elementwise, with ε = `scale_floor`.

    ε bounds each coupling's decoding gain by 1/ε (`tfglow.config.DEFAULT_SCALE_FLOOR` says why).
    With ε = 0 this is Glow's `log sigmoid(h + 2)`, computed as `log_sigmoid` so that it stays
    finite however negative `h` is.
    """
    if scale_floor == 0:
        return tf.math.log_sigmoid(pre_scale + SCALE_LOGIT_OFFSET)
    return tf.math.log(scale_floor + (1.0 - scale_floor) * tf.sigmoid(pre_scale + SCALE_LOGIT_OFFSET))
