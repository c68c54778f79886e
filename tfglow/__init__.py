"""tfglow: Glow-family normalizing flows (NICE, RealNVP, Glow) as TensorFlow Probability bijectors."""

from tfglow import bijectors

__all__ = ["bijectors"]
