"""`GlowConfig`: the typed description of a multi-scale flow, and the papers' configurations."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from tfglow import checks
from tfglow.bijectors.batch_normalization import check_momentum
from tfglow.bijectors.coupling_networks import COUPLING_NETWORKS, DEFAULT_RESIDUAL_BLOCKS
from tfglow.bijectors.logit_preprocessing import DEFAULT_ALPHA, check_alpha
from tfglow.bijectors.scales import AFFINE_SCALES
from tfglow.bijectors.sigmoid_scale import DEFAULT_SCALE_FLOOR, check_scale_floor
from tfglow.latent_layout import LatentLayout

COUPLINGS = ("affine", "additive")
PERMUTATIONS = ("conv1x1_lu", "conv1x1", "shuffle", "reverse", "none")
ARCHITECTURES = ("glow", "realnvp")
NETWORK_DTYPES = (None, "float32", "float64", "bfloat16", "auto")
PREPROCESSINGS = ("none", "logit")

# The floor a GlowConfig saved without the field (before it existed) is read with: those models
# were trained with ε = 0, and 0.01 keeps their samples finite (benchmarks/README.md).
LEGACY_SCALE_FLOOR = 0.01


def replace_fields(config: Any, changes: dict[str, Any]) -> Any:
    """A copy of the dataclass `config` with `changes` applied; unknown field names raise."""
    unknown = set(changes) - {field.name for field in dataclasses.fields(config)}
    if unknown:
        raise ValueError(f"unknown {type(config).__name__} fields {sorted(unknown)}")
    return dataclasses.replace(config, **changes)


@dataclasses.dataclass(frozen=True)
class GlowConfig:
    """The architecture of a multi-scale flow (Glow §3, RealNVP §3.6).

    The flow has `num_levels` levels; each level squeezes (2×2 space-to-depth), runs
    `steps_per_level` steps of flow and, on all levels but the last, factors out half of its
    channels under a learned conditional prior. With `architecture="glow"` a step is
    ActNorm → permutation → coupling (channel split). With `architecture="realnvp"` each level runs
    `steps_per_level` checkerboard-masked affine couplings before the squeeze and as many
    channel-masked ones after it (RealNVP §3.4), alternating the mask parity. The `realnvp` preset
    adds the rest of RealNVP's model (§3.7, §4.1): batch normalisation after every coupling,
    residual coupling networks, the tanh scale and logit preprocessing.

    Attributes:
      image_shape: `(height, width, channels)` of the images; height and width must be divisible by
        `2 ** num_levels`.
      num_levels: L, the number of levels (scales).
      steps_per_level: K, the steps of flow per level.
      hidden_channels: the width of every coupling network.
      coupling: `"affine"` (RealNVP/Glow, scale `ε + (1 − ε)·sigmoid(h + 2)`) or `"additive"`
        (NICE).
      permutation: how a Glow step mixes channels: `"conv1x1_lu"` (Glow, LU-parametrised),
        `"conv1x1"` (Glow, plain), `"shuffle"` (RealNVP, fixed random), `"reverse"` (NICE), or
        `"none"`.
      learn_top_prior: whether the last level's latent has a learned per-channel mean and scale.
      num_bits: bits per pixel the model sees (8, or 5 for CelebA-HQ); images are reduced to it.
      num_classes: `None`, or the number of classes of a class-conditional top prior.
      architecture: `"glow"` or `"realnvp"` (masked couplings), see above.
      actnorm: whether each step starts with an ActNorm layer.
      seed: seeds the random initialisation (rotations of 1×1 convs, shuffles, conv kernels).
      network_dtype: the dtype the coupling networks' convolutions compute in: `None` (the flow's
        dtype), `"bfloat16"` for mixed precision (faster only on hardware that computes
        bfloat16 natively: CPUs with AVX512_BF16 or AMX, GPUs from Ampere on; emulated and
        several times slower elsewhere), or `"auto"`: bfloat16 where it is native, the flow's
        dtype elsewhere (`tfglow.hardware`), logged when the flow is built. Variables, the affine
        maps, every log-determinant and the latents stay in the flow's dtype, and encode/decode
        stay exact inverses.
      classifier_weight: `weight_y` of Glow's `ycond`: with `num_classes` set and a weight above 0,
        a zero-initialised linear classifier on the mean-pooled top latent is trained with the
        loss `bits/dim + classifier_weight · cross-entropy in bits` per image. Default 0 (none).
      scale_floor: ε, the lower bound of the affine couplings' scale, in [0, 1). 0 is Glow's
        `sigmoid(h + 2)`; the default 0.2 bounds each coupling's decoding gain by 5, which keeps
        samples at temperature 1 finite and decoding exact in float32 (see
        `tfglow.bijectors.AffineCoupling`). A config saved without this field reads as 0.01.
      reversible_gradients: back-propagate through the x→z pass by rebuilding each layer's input
        from its output instead of storing it (RevNet), so gradient memory stays flat in depth.
        Same gradients up to float rounding. Default `False`.
      coupling_network: the network of every coupling: `"glow"` (Glow §3.3: 3×3 conv, ActNorm,
        ReLU, 1×1 conv, ActNorm, ReLU, zero 3×3 conv) or `"resnet"` (RealNVP §4.1: residual
        blocks of weight-normalised 3×3 convolutions, `hidden_channels` feature maps).
      residual_blocks: the blocks of a `"resnet"` coupling network (8 in RealNVP's CIFAR-10
        model); unused by `"glow"`.
      affine_scale: the scale of the affine couplings: `"sigmoid"` (Glow, with `scale_floor`) or
        `"tanh"` (RealNVP's official code: `log s = a·tanh(h)`, a learned per-layer `a` starting
        at 0; needs `coupling_network="resnet"`).
      batch_norm: whether a `tfglow.bijectors.BatchNormalization` follows every coupling
        (RealNVP §3.7), with running averages updated in training.
      batch_norm_momentum: ρ of those running averages, in [0, 1).
      preprocessing: `"none"`, or `"logit"` (RealNVP §4.1): the flow models
        `logit(α + (1 − 2α)·y')` of the dequantised pixels `y' ∈ [0, 1)`; bits/dim, encode,
        decode and sampling stay in pixel space (`tfglow.bijectors.LogitPreprocessing`).
      logit_alpha: α of the logit preprocessing, in (0, 0.5).
    """

    image_shape: tuple[int, int, int] = (32, 32, 3)
    num_levels: int = 3
    steps_per_level: int = 32
    hidden_channels: int = 512
    coupling: str = "affine"
    permutation: str = "conv1x1_lu"
    learn_top_prior: bool = True
    num_bits: int = 8
    num_classes: int | None = None
    architecture: str = "glow"
    actnorm: bool = True
    seed: int = 0
    network_dtype: str | None = None
    classifier_weight: float = 0.0
    scale_floor: float = DEFAULT_SCALE_FLOOR
    reversible_gradients: bool = False
    coupling_network: str = "glow"
    residual_blocks: int = DEFAULT_RESIDUAL_BLOCKS
    affine_scale: str = "sigmoid"
    batch_norm: bool = False
    batch_norm_momentum: float = 0.9
    preprocessing: str = "none"
    logit_alpha: float = DEFAULT_ALPHA

    def __post_init__(self):
        shape = self.image_shape
        if (
            isinstance(shape, (str, bytes))
            or not hasattr(shape, "__len__")
            or len(shape) != 3
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in shape)
            or min(shape) < 1
        ):
            raise ValueError(
                "image_shape must be (height, width, channels), three positive integers, got "
                f"{shape!r}"
            )
        object.__setattr__(self, "image_shape", tuple(int(s) for s in shape))
        self._validate()

    def _validate(self):
        checks.positive_int("num_levels", self.num_levels)
        checks.positive_int("steps_per_level", self.steps_per_level)
        checks.positive_int("hidden_channels", self.hidden_channels)
        checks.choice("coupling", self.coupling, COUPLINGS)
        checks.choice("permutation", self.permutation, PERMUTATIONS)
        checks.choice("architecture", self.architecture, ARCHITECTURES)
        checks.choice("network_dtype", self.network_dtype, NETWORK_DTYPES)
        checks.choice("coupling_network", self.coupling_network, COUPLING_NETWORKS)
        checks.positive_int("residual_blocks", self.residual_blocks)
        checks.choice("affine_scale", self.affine_scale, AFFINE_SCALES)
        checks.choice("preprocessing", self.preprocessing, PREPROCESSINGS)
        for field in ("learn_top_prior", "actnorm", "reversible_gradients", "batch_norm"):
            checks.boolean(field, getattr(self, field))
        check_momentum(self.batch_norm_momentum)
        check_alpha(self.logit_alpha)
        if self.affine_scale == "tanh" and self.coupling_network == "glow":
            raise ValueError(
                "affine_scale='tanh' needs coupling_network='resnet': its factor starts at 0, and "
                "Glow's network starts at exactly zero, so neither would ever get a gradient"
            )
        if (
            self.affine_scale == "tanh"
            and self.architecture == "glow"
            and (self.coupling == "additive")
        ):
            raise ValueError("affine_scale='tanh' needs affine couplings, got coupling='additive'")
        if checks.positive_int("num_bits", self.num_bits) > 8:
            raise ValueError(f"num_bits must be in 1..8, got {self.num_bits}")
        if (
            self.num_classes is not None
            and checks.positive_int("num_classes", self.num_classes) < 2
        ):
            raise ValueError(f"num_classes must be None or at least 2, got {self.num_classes}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not (
            isinstance(self.classifier_weight, (int, float))
            and not isinstance(self.classifier_weight, bool)
            and math.isfinite(self.classifier_weight)
            and self.classifier_weight >= 0
        ):
            raise ValueError(
                f"classifier_weight must be a finite number >= 0, got {self.classifier_weight!r}"
            )
        check_scale_floor(self.scale_floor)
        if self.classifier_weight > 0 and self.num_classes is None:
            raise ValueError(
                f"classifier_weight={self.classifier_weight} needs a class-conditional "
                f"model: set num_classes"
            )
        height, width, _ = self.image_shape
        factor = 2**self.num_levels
        for field, side in (("height", height), ("width", width)):
            if side % factor:
                raise ValueError(
                    f"image_shape {field} {side} is not divisible by 2**num_levels = {factor} "
                    f"(num_levels={self.num_levels}); pad the images or use fewer levels"
                )

    @property
    def layout(self) -> LatentLayout:
        """How the flat latent is cut into levels (`tfglow.LatentLayout`)."""
        return LatentLayout(self.image_shape, self.num_levels)

    @property
    def event_size(self) -> int:
        """D = H·W·C, the number of dimensions of an image and of its latent."""
        return self.layout.event_size

    @property
    def level_shapes(self) -> list[tuple[int, int, int]]:
        """The shape `(H, W, C)` each level's steps of flow act on, after its squeeze."""
        return self.layout.level_shapes

    @property
    def latent_shapes(self) -> list[tuple[int, int, int]]:
        """The shape of each level's finished latent z_i, in the order they appear in the flat z."""
        return self.layout.latent_shapes

    def replace(self, **changes: Any) -> GlowConfig:
        """A copy with `changes` applied (validated)."""
        return replace_fields(self, changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GlowConfig:
        fields = json.loads(text)
        fields.setdefault("scale_floor", LEGACY_SCALE_FLOOR)
        return cls(**fields)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GlowConfig:
        """The configuration named `name` (see `PRESETS`), with `overrides` applied."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


# RealNVP's parts (Dinh et al. 2017): masked couplings in its multi-scale layout (§3.4-3.6), batch
# normalisation after every coupling instead of ActNorm (§3.7), residual coupling networks (§4.1),
# the tanh scale of its official code, logit preprocessing with α = 0.05 (§4.1).
_REALNVP_PARTS = dict(
    architecture="realnvp",
    permutation="none",
    actnorm=False,
    coupling_network="resnet",
    affine_scale="tanh",
    batch_norm=True,
    preprocessing="logit",
    logit_alpha=0.05,
)

PRESETS: dict[str, dict[str, Any]] = {
    # The Glow paper's configurations (Kingma & Dhariwal 2018, Table 4 / openai/glow
    # hyperparameters).
    "cifar10": dict(image_shape=(32, 32, 3), num_levels=3, steps_per_level=32, hidden_channels=512),
    "imagenet32": dict(
        image_shape=(32, 32, 3), num_levels=3, steps_per_level=48, hidden_channels=512
    ),
    "imagenet64": dict(
        image_shape=(64, 64, 3), num_levels=4, steps_per_level=48, hidden_channels=512
    ),
    "celeba_hq_256": dict(
        image_shape=(256, 256, 3),
        num_levels=6,
        steps_per_level=32,
        hidden_channels=512,
        coupling="additive",
        num_bits=5,
    ),
    "mnist": dict(image_shape=(32, 32, 1), num_levels=3, steps_per_level=32, hidden_channels=512),
    # Sized for a 2-core CPU: the benchmark and main-job configuration (28×28 MNIST, L=2, K=8).
    "mnist_cpu": dict(
        image_shape=(28, 28, 1), num_levels=2, steps_per_level=8, hidden_channels=256
    ),
    "cifar10_cpu": dict(
        image_shape=(32, 32, 3), num_levels=3, steps_per_level=8, hidden_channels=256
    ),
    # RealNVP's model at the MNIST size, sized for a 2-core CPU: one residual block of 32 feature
    # maps per network (the checkerboard couplings run at full resolution).
    "realnvp_cpu": dict(
        image_shape=(28, 28, 1),
        num_levels=2,
        steps_per_level=3,
        hidden_channels=32,
        residual_blocks=1,
        **_REALNVP_PARTS,
    ),
    # Tiny, for tests and demos.
    "tiny": dict(image_shape=(8, 8, 1), num_levels=2, steps_per_level=2, hidden_channels=16),
    # RealNVP's CIFAR-10 model: per scale 3 checkerboard couplings, squeeze, 3 channel couplings,
    # factor out half; residual coupling networks of 8 blocks × 64 feature maps.
    "realnvp": dict(
        image_shape=(32, 32, 3),
        num_levels=3,
        steps_per_level=3,
        hidden_channels=64,
        residual_blocks=8,
        **_REALNVP_PARTS,
    ),
    "nice": dict(
        image_shape=(32, 32, 3),
        num_levels=3,
        steps_per_level=8,
        hidden_channels=256,
        coupling="additive",
        permutation="reverse",
        actnorm=False,
    ),
}
