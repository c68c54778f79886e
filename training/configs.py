"""Named training configurations: `python -m training.train --config NAME`.

The papers' runs (Glow, Kingma & Dhariwal 2018; openai/glow's hyperparameters: Adamax, lr 1e-3 with
a linear warmup over the first epochs, Polyak averaging for evaluation, batch 64) on their datasets,
and small configurations for a 2-core CPU and for tests. Each is a `tfglow.recipe.TrainingConfig`;
command-line flags override any field.
"""

from __future__ import annotations

from tfglow.config import GlowConfig
from tfglow.recipe import TrainingConfig

# openai/glow warms up over 10 epochs of 50,000 images at batch 64.
_PAPER_WARMUP_STEPS = 10 * 50_000 // 64
_PAPER_RECIPE = dict(
    optimizer="adamax",
    learning_rate=1e-3,
    warmup_steps=_PAPER_WARMUP_STEPS,
    ema_momentum=0.999,
    batch_size=64,
    checkpoint_every=5_000,
    validation_steps=50,
)

# The CPU main job's recipe (training/main.sh): Adam at lr 1e-3 after a 200-step warmup, gradient
# norm clipped at 50, a short Polyak average (0.99, ~100 steps) because the run is short: at 0.999
# over ~2,000 steps, 15% of the average would still be the initial weights. XLA (jit_compile) made
# the CPU step slower, so it is off.
_CPU_RECIPE = dict(
    optimizer="adam",
    learning_rate=1e-3,
    warmup_steps=200,
    clip_norm=50.0,
    ema_momentum=0.99,
    batch_size=64,
    steps=20_000,
    steps_per_epoch=250,
    validation_steps=16,
    checkpoint_every=250,
    log_every=25,
)

CONFIGS: dict[str, TrainingConfig] = {
    # Glow paper, Table 2: 3.35 bits/dim.
    "cifar10": TrainingConfig(
        GlowConfig.preset("cifar10"),
        dataset="cifar10",
        random_flip=True,
        steps=1_000_000,
        **_PAPER_RECIPE,
    ),
    # Glow paper, Table 2: 4.09 and 3.81 bits/dim.
    "imagenet32": TrainingConfig(
        GlowConfig.preset("imagenet32"),
        dataset="downsampled_imagenet/32x32",
        steps=1_000_000,
        **_PAPER_RECIPE,
    ),
    "imagenet64": TrainingConfig(
        GlowConfig.preset("imagenet64"),
        dataset="downsampled_imagenet/64x64",
        steps=1_000_000,
        **_PAPER_RECIPE,
    ),
    # Glow paper: CelebA-HQ 256×256 at 5 bits, additive coupling, 1.03 bits/dim. TFDS needs the
    # manually downloaded CelebA-HQ files for `celeb_a_hq/256`.
    "celeba_hq_256": TrainingConfig(
        GlowConfig.preset("celeba_hq_256"),
        dataset="celeb_a_hq/256",
        random_flip=True,
        steps=1_000_000,
        **{**_PAPER_RECIPE, "batch_size": 8, "validation_steps": 100},
    ),
    # MNIST padded to 32×32 so that three levels fit; Glow paper, Table 2: 1.05 bits/dim.
    "mnist": TrainingConfig(
        GlowConfig.preset("mnist"), dataset="mnist", pad_to=32, steps=200_000, **_PAPER_RECIPE
    ),
    # The CPU main job (training/main.sh): the "mnist_cpu" flow (L=2, K=8) with 64-wide coupling
    # networks, which on 2 cores run ~4.5x more steps per minute than 256-wide ones and get lower
    # held-out bits/dim within 15 minutes.
    "mnist_cpu": TrainingConfig(
        GlowConfig.preset("mnist_cpu", hidden_channels=64), dataset="mnist", **_CPU_RECIPE
    ),
    # RealNVP as the paper builds it (residual networks, batch normalisation, tanh scale, logit
    # preprocessing), at the MNIST size, with the main job's recipe for a side-by-side figure, but
    # without the Polyak average, which batch normalisation's running averages do not fit.
    "realnvp_cpu": TrainingConfig(
        GlowConfig.preset("realnvp_cpu"),
        dataset="mnist",
        **{**_CPU_RECIPE, "ema_momentum": None},
    ),
    # Seconds per step: for tests and smoke runs.
    "mnist_tiny": TrainingConfig(
        GlowConfig.preset("mnist_cpu", steps_per_level=1, hidden_channels=16),
        dataset="mnist",
        learning_rate=1e-3,
        warmup_steps=10,
        batch_size=16,
        steps=20,
        steps_per_epoch=10,
        validation_steps=2,
        checkpoint_every=10,
        log_every=5,
        num_samples=4,
    ),
}


def get_config(name: str) -> TrainingConfig:
    """The named configuration `name`."""
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(CONFIGS)}")
    return CONFIGS[name]
