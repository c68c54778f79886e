"""Training Glow-family flows: the recipe, resumable `fit` runs, checkpoints, evaluation.

```python
from tfglow import GlowConfig, training
config = training.TrainingConfig(GlowConfig.preset("mnist_cpu"), dataset="mnist", steps=2000,
                                 learning_rate=1e-3, warmup_steps=200, ema_momentum=0.999)
result = training.train(config, "runs/mnist")          # resumes if runs/mnist has checkpoints
model, step = training.restore_model("runs/mnist")     # the EMA weights if the run kept them
bits_per_dim, count = training.evaluate_bits_per_dim(model, training.held_out_dataset(config))
```
"""

from tfglow.training.callbacks import (NonFiniteLossError, NonFiniteLossStop, SampleSummary,
                                       StopAfterSeconds, StopAtStep, Throughput)
from tfglow.training.checkpointing import (CheckpointEvery, ModelDirectoryMismatchError,
                                           checkpoint_manager, read_glow_config,
                                           read_training_config, restore_model)
from tfglow.training.config import TrainingConfig
from tfglow.training.evaluation import evaluate_bits_per_dim, held_out_dataset
from tfglow.training.images import image_grid, sample_grids, write_png, write_sample_png
from tfglow.training.optimizers import make_optimizer
from tfglow.training.schedules import LinearWarmup
from tfglow.training.strategy import STRATEGIES, configure_cpu_devices, make_strategy
from tfglow.training.trainer import TrainingResult, steps_per_epoch, train, training_dataset

__all__ = [
    "STRATEGIES", "CheckpointEvery", "LinearWarmup", "ModelDirectoryMismatchError",
    "NonFiniteLossError", "NonFiniteLossStop",
    "SampleSummary", "StopAfterSeconds", "StopAtStep", "Throughput", "TrainingConfig",
    "TrainingResult", "checkpoint_manager", "configure_cpu_devices", "evaluate_bits_per_dim",
    "held_out_dataset", "image_grid", "make_optimizer", "make_strategy", "read_glow_config",
    "read_training_config", "restore_model", "sample_grids", "steps_per_epoch", "train",
    "training_dataset", "write_png", "write_sample_png",
]
