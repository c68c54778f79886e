"""The scale functions of the affine couplings: `h ↦ log s` of the transformed half.

* `"sigmoid"` (Glow): `log s = log(ε + (1 − ε)·sigmoid(h + 2))`, bounded in `(log ε, 0)`
  (`tfglow.bijectors.sigmoid_scale`).
* `"tanh"` (RealNVP's official code): `log s = a · tanh(h)` with one learned factor `a` per layer
  that starts at 0, so every coupling starts with unit scale and `|log s| ≤ |a|`.

A `tanh` scale needs a coupling network whose output is not zero at initialisation: with `a = 0`
and `h = 0` neither receives a gradient (`∂/∂a ∝ tanh(h) = 0`, `∂/∂h ∝ a = 0`), and the scale
would stay 1 for ever. RealNVP's residual network (`coupling_network="resnet"`) starts nonzero;
Glow's network starts at exactly zero, so the couplings refuse that pairing.
"""

import tensorflow as tf

from tfglow.bijectors import sigmoid_scale

AFFINE_SCALES = ("sigmoid", "tanh")


class SigmoidScale(tf.Module):
    """`log s = log(ε + (1 − ε)·sigmoid(h + 2))`, ε = `scale_floor`; no variables."""

    def __init__(self, scale_floor: float, name: str = "sigmoid_scale"):
        super().__init__(name=name)
        self.scale_floor = sigmoid_scale.check_scale_floor(scale_floor)

    def __call__(self, pre_scale: tf.Tensor) -> tf.Tensor:
        return sigmoid_scale.log_scale(pre_scale, self.scale_floor)


class TanhScale(tf.Module):
    """`log s = a · tanh(h)` with the learned scalar `a` (`factor`), zero at creation."""

    def __init__(self, dtype=tf.float32, name: str = "tanh_scale"):
        super().__init__(name=name)
        with self.name_scope:
            self.factor = tf.Variable(tf.zeros([], dtype), name="factor")

    def __call__(self, pre_scale: tf.Tensor) -> tf.Tensor:
        return self.factor * tf.tanh(pre_scale)


def make_scale(kind: str, scale_floor: float, network: str, dtype) -> tf.Module:
    """The scale function `kind` (`AFFINE_SCALES`) of a coupling whose network is `network`.

    Raises:
      ValueError: `kind` is unknown, or `"tanh"` with Glow's zero-initialised network.
    """
    if kind == "sigmoid":
        return SigmoidScale(scale_floor)
    if kind != "tanh":
        raise ValueError(f"affine scale must be one of {AFFINE_SCALES}, got {kind!r}")
    if network == "glow":
        raise ValueError(
            "the 'tanh' scale starts with a zero factor and needs a coupling network whose output "
            "is not zero at initialisation: use coupling_network='resnet' (Glow's network starts "
            "at zero, and neither would ever get a gradient)"
        )
    return TanhScale(dtype)
