"""Which network computes a coupling's parameters: `"glow"` (Glow §3.3) or `"resnet"` (RealNVP
§4.1)."""

from typing import Optional

import tensorflow as tf

from tfglow.bijectors.networks import GlowCouplingNetwork
from tfglow.bijectors.residual_network import ResidualCouplingNetwork

COUPLING_NETWORKS = ("glow", "resnet")
# RealNVP's CIFAR-10 model: 8 residual blocks (§4.1).
DEFAULT_RESIDUAL_BLOCKS = 8


def make_coupling_network(
    kind: str,
    in_channels: int,
    out_channels: int,
    hidden_channels: int,
    residual_blocks: int = DEFAULT_RESIDUAL_BLOCKS,
    dtype=tf.float32,
    seed: Optional[int] = None,
    network_dtype: Optional[tf.dtypes.DType] = None,
) -> tf.Module:
    """The coupling network `kind` from `in_channels` to `out_channels` (`residual_blocks` is
    read by `"resnet"` only)."""
    if kind == "glow":
        return GlowCouplingNetwork(
            in_channels,
            out_channels,
            hidden_channels,
            dtype=dtype,
            seed=seed,
            network_dtype=network_dtype,
        )
    if kind == "resnet":
        return ResidualCouplingNetwork(
            in_channels,
            out_channels,
            hidden_channels,
            residual_blocks,
            dtype=dtype,
            seed=seed,
            network_dtype=network_dtype,
        )
    raise ValueError(f"coupling network must be one of {COUPLING_NETWORKS}, got {kind!r}")
