"""Flow layers as `tfp.bijectors.Bijector`s. Forward maps z→x (generation), inverse x→z (encoding)."""

from tfglow.bijectors.act_norm import ActNorm

__all__ = ["ActNorm"]
