"""`TrainingConfig`: the model, the data and the recipe of one training run."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tfglow import checks
from tfglow.config import GlowConfig, replace_fields
from tfglow.recipe.optimizers import OPTIMIZERS


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs besides its directory and its strategy.

    Attributes:
      model: the `GlowConfig` of the flow.
      dataset: TFDS dataset name, e.g. `"mnist"`, `"cifar10"`, `"downsampled_imagenet/32x32"`.
      train_split, test_split: TFDS splits for training and held-out bits/dim.
      image_size, pad_to, center_crop, random_flip: preprocessing, as in `tfglow.data.load_images`;
        the result must have the model's `image_shape`.
      batch_size: the global batch (split across replicas).
      optimizer: `"adam"` or `"adamax"`.
      learning_rate: peak learning rate, reached after `warmup_steps` of linear warmup.
      clip_norm: `None`, or the global gradient norm to clip to.
      ema_momentum: `None`, or the momentum of the Polyak average used for evaluation. Not with
        a `batch_norm` model: its running averages belong to the training weights, and a
        Polyak-averaged flow normalised with them scores far worse (README, RealNVP).
      steps: total optimizer steps of the run (a resumed run continues up to it).
      steps_per_epoch: steps between held-out evaluations; `None` is one pass over `train_split`.
      validation_steps: test batches per epoch evaluation; `None` is the whole `test_split`.
      checkpoint_every: steps between checkpoints (one is always written at the end).
      keep_checkpoints: how many recent checkpoints to keep.
      log_every: steps between TensorBoard scalars of the training loss.
      sample_temperatures: temperatures of the samples written to TensorBoard and `samples.png`.
      num_samples: samples per temperature.
      seed: seeds the data order and TensorFlow's random ops.
      jit_compile: compile the training step with XLA.
    """

    model: GlowConfig
    dataset: str = "mnist"
    train_split: str = "train"
    test_split: str = "test"
    image_size: int | None = None
    pad_to: int | None = None
    center_crop: bool | int = False
    random_flip: bool = False
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    warmup_steps: int = 0
    clip_norm: float | None = None
    ema_momentum: float | None = None
    steps: int = 1000
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 50
    sample_temperatures: tuple[float, ...] = (0.5, 0.7, 1.0)
    num_samples: int = 16
    seed: int = 0
    jit_compile: bool = False

    def __post_init__(self):
        object.__setattr__(
            self,
            "sample_temperatures",
            tuple(checks.temperature(t, "sample_temperatures") for t in self.sample_temperatures),
        )
        if not isinstance(self.model, GlowConfig):
            raise TypeError(f"model must be a tfglow.GlowConfig, got {type(self.model).__name__}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        for field in (
            "batch_size",
            "steps",
            "checkpoint_every",
            "keep_checkpoints",
            "log_every",
            "num_samples",
        ):
            checks.positive_int(field, getattr(self, field))
        for field in ("steps_per_epoch", "validation_steps"):
            if getattr(self, field) is not None:
                checks.positive_int(field, getattr(self, field))
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.model.batch_norm and self.ema_momentum is not None:
            raise ValueError(
                f"ema_momentum={self.ema_momentum} cannot be used with a batch_norm model: the "
                "batch norms' running averages belong to the training weights, not to their "
                "Polyak average; set ema_momentum to None (--ema none)"
            )

    def replace(self, **changes: Any) -> TrainingConfig:
        """A copy with `changes` applied (validated); use `model=model.replace(...)` for the
        model."""
        return replace_fields(self, changes)

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        fields["model"] = json.loads(self.model.to_json())
        return json.dumps(fields, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingConfig:
        fields = json.loads(text)
        fields["model"] = GlowConfig(**fields["model"])
        return cls(**fields)
