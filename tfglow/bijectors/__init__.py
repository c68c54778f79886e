"""Flow layers as `tfp.bijectors.Bijector`s. Forward maps z→x (generation), inverse x→z (encoding)."""

from tfglow.bijectors.act_norm import ActNorm

__all__ = ["ActNorm"]

from tfglow.bijectors.additive_coupling import AdditiveCoupling  # noqa: E402
from tfglow.bijectors.affine_coupling import AffineCoupling  # noqa: E402
from tfglow.bijectors.masked_affine_coupling import MaskedAffineCoupling  # noqa: E402
from tfglow.bijectors.split_prior import SplitPrior  # noqa: E402

__all__ += ["AdditiveCoupling", "AffineCoupling", "MaskedAffineCoupling", "SplitPrior"]

from tfglow.bijectors.invertible_conv1x1 import InvertibleConv1x1  # noqa: E402
from tfglow.bijectors.invertible_conv1x1_lu import InvertibleConv1x1LU  # noqa: E402
from tfglow.bijectors.permute_channels import ReverseChannels, ShuffleChannels  # noqa: E402
from tfglow.bijectors.squeeze import Squeeze  # noqa: E402
from tfglow.bijectors.top_prior import TopPrior  # noqa: E402

__all__ += ["InvertibleConv1x1", "InvertibleConv1x1LU", "ReverseChannels", "ShuffleChannels",
            "Squeeze", "TopPrior"]
