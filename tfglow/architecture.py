"""Builds the bijectors of one level of a multi-scale flow from a `GlowConfig`.

Every list is in data order (x→z), the order in which `tfb.Chain(list).inverse` applies them:
`tfb.Chain([b1, b2]).inverse(x) == b2.inverse(b1.inverse(x))`.

    Glow level (Glow §3):     squeeze → K × [ActNorm → permutation → coupling] → split prior
    RealNVP level (§3.4-3.6): K × checkerboard coupling → squeeze → K × channel coupling → split
    prior

The last level has no split prior: its whole output is the top latent. With `batch_norm` a
`BatchNormalization` follows every coupling (RealNVP §3.7). The logit preprocessing, when the
config asks for it, comes before level 0 (`preprocessing_bijector`).
"""

import itertools

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfglow import bijectors, stacked_variables
from tfglow.config import GlowConfig
from tfglow.hardware import resolve_network_dtype


class SeedSequence:
    """Hands out a distinct, reproducible seed to every randomly initialised layer."""

    def __init__(self, seed: int):
        self._counter = itertools.count(seed * 1_000_003)

    def __call__(self) -> int:
        return next(self._counter) % (2**31 - 1)


def level_bijectors(
    config: GlowConfig, level: int, dtype=tf.float32, seeds: SeedSequence | None = None
) -> list[tfb.Bijector]:
    """The bijectors of level `level` (0-based), in data order (x→z)."""
    seeds = seeds or SeedSequence(config.seed + level)
    height, width, channels = config.level_shapes[level]
    is_last = level == config.num_levels - 1
    if config.architecture == "glow":
        layers = [bijectors.Squeeze(name="squeeze")]
        stacked = stacked_variables.StackedSteps(name="steps")
        for step in range(config.steps_per_level):
            with stacked.step(step):
                layers += _glow_step(config, channels, step, dtype, seeds)
        stacked.build()
    else:
        layers = []
        checkerboard = stacked_variables.StackedSteps(name="checkerboard_steps")
        for step in range(config.steps_per_level):
            with checkerboard.step(step):
                layers += _masked_step(config, channels // 4, "checkerboard", step, dtype, seeds)
        checkerboard.build()
        layers.append(bijectors.Squeeze(name="squeeze"))
        channel = stacked_variables.StackedSteps(name="channel_steps")
        for step in range(config.steps_per_level):
            with channel.step(step):
                layers += _masked_step(config, channels, "channel", step, dtype, seeds)
        channel.build()
    if not is_last:
        layers.append(bijectors.SplitPrior(channels, dtype=dtype, name="split_prior"))
    return layers


def preprocessing_bijector(config: GlowConfig, dtype=tf.float32) -> tfb.Bijector | None:
    """The map from the pixels' flow space to what level 0 models (x→z), or `None`."""
    if config.preprocessing == "logit":
        return bijectors.LogitPreprocessing(config.logit_alpha, dtype=dtype, name="preprocessing")
    return None


def _coupling_options(config: GlowConfig) -> dict:
    """The keyword arguments every coupling layer takes from `config`."""
    return dict(
        network_dtype=resolve_network_dtype(config.network_dtype),
        coupling_network=config.coupling_network,
        residual_blocks=config.residual_blocks,
    )


def _batch_norm(config, channels, dtype, name) -> list[tfb.Bijector]:
    """`[BatchNormalization]` after a coupling when `config.batch_norm`, else `[]`."""
    if not config.batch_norm:
        return []
    return [
        bijectors.BatchNormalization(
            channels, momentum=config.batch_norm_momentum, dtype=dtype, name=name
        )
    ]


def _glow_step(config, channels, step, dtype, seeds) -> list[tfb.Bijector]:
    """One step of flow: ActNorm → permutation → coupling (→ batch norm) (x→z)."""
    prefix = f"step_{step}"
    layers = []
    if config.actnorm:
        layers.append(bijectors.ActNorm(channels, dtype=dtype, name=f"{prefix}_act_norm"))
    permutation = _permutation(
        config.permutation, channels, dtype, seeds(), f"{prefix}_permutation"
    )
    if permutation is not None:
        layers.append(permutation)
    name = f"{prefix}_coupling"
    if config.coupling == "affine":
        layers.append(
            bijectors.AffineCoupling(
                channels,
                config.hidden_channels,
                dtype=dtype,
                seed=seeds(),
                scale_floor=config.scale_floor,
                scale=config.affine_scale,
                name=name,
                **_coupling_options(config),
            )
        )
    else:
        layers.append(
            bijectors.AdditiveCoupling(
                channels,
                config.hidden_channels,
                dtype=dtype,
                seed=seeds(),
                name=name,
                **_coupling_options(config),
            )
        )
    return layers + _batch_norm(config, channels, dtype, f"{prefix}_batch_norm")


def _masked_step(config, channels, mask, step, dtype, seeds) -> list[tfb.Bijector]:
    """One RealNVP step: (ActNorm →) masked affine coupling (→ batch norm), the mask parity
    alternating (x→z)."""
    prefix = f"{mask}_step_{step}"
    layers = []
    if config.actnorm:
        layers.append(bijectors.ActNorm(channels, dtype=dtype, name=f"{prefix}_act_norm"))
    layers.append(
        bijectors.MaskedAffineCoupling(
            channels,
            config.hidden_channels,
            mask=mask,
            parity=step % 2,
            dtype=dtype,
            seed=seeds(),
            scale_floor=config.scale_floor,
            scale=config.affine_scale,
            name=f"{prefix}_coupling",
            **_coupling_options(config),
        )
    )
    return layers + _batch_norm(config, channels, dtype, f"{prefix}_batch_norm")


def _permutation(kind, channels, dtype, seed, name) -> tfb.Bijector | None:
    if kind == "conv1x1_lu":
        return bijectors.InvertibleConv1x1LU(channels, seed=seed, dtype=dtype, name=name)
    if kind == "conv1x1":
        return bijectors.InvertibleConv1x1(channels, seed=seed, dtype=dtype, name=name)
    if kind == "shuffle":
        return bijectors.ShuffleChannels(channels, seed=seed, name=name)
    if kind == "reverse":
        return bijectors.ReverseChannels(name=name)
    return None
