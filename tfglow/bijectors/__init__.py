"""Flow layers as `tfp.bijectors.Bijector`s. Forward maps z→x (generation), inverse x→z
(encoding)."""

from tfglow.bijectors.act_norm import ActNorm
from tfglow.bijectors.additive_coupling import AdditiveCoupling
from tfglow.bijectors.affine_coupling import AffineCoupling
from tfglow.bijectors.batch_normalization import BatchNormalization
from tfglow.bijectors.invertible_conv1x1 import InvertibleConv1x1
from tfglow.bijectors.invertible_conv1x1_lu import InvertibleConv1x1LU
from tfglow.bijectors.logit_preprocessing import LogitPreprocessing
from tfglow.bijectors.masked_affine_coupling import MaskedAffineCoupling
from tfglow.bijectors.permute_channels import ReverseChannels, ShuffleChannels
from tfglow.bijectors.split_prior import SplitPrior
from tfglow.bijectors.squeeze import Squeeze
from tfglow.bijectors.top_prior import TopPrior

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "BatchNormalization",
    "InvertibleConv1x1",
    "InvertibleConv1x1LU",
    "LogitPreprocessing",
    "MaskedAffineCoupling",
    "ReverseChannels",
    "ShuffleChannels",
    "SplitPrior",
    "Squeeze",
    "TopPrior",
]
