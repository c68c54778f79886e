"""Training Glow-family flows: the recipe, resumable `fit` runs, checkpoints, evaluation.

```python
from tfglow import GlowConfig, recipe
config = recipe.TrainingConfig(GlowConfig.preset("mnist_cpu"), dataset="mnist", steps=2000,
                                 learning_rate=1e-3, warmup_steps=200, ema_momentum=0.999)
result = recipe.train(config, "runs/mnist")          # resumes if runs/mnist has checkpoints
model, step = recipe.restore_model("runs/mnist")     # the EMA weights if the run kept them
bits_per_dim, count = recipe.evaluate_bits_per_dim(model, recipe.held_out_dataset(config))
```
"""

from tfglow.recipe.callbacks import (
    NonFiniteLossError,
    NonFiniteLossStop,
    SampleSummary,
    StopAfterSeconds,
    StopAtStep,
    Throughput,
)
from tfglow.recipe.checkpoint_files import CheckpointDirectoryError
from tfglow.recipe.checkpointing import (
    CheckpointEvery,
    ModelDirectoryMismatchError,
    NonFiniteCheckpointError,
    checkpoint_manager,
    read_glow_config,
    read_training_config,
    restore_model,
)
from tfglow.recipe.config import TrainingConfig
from tfglow.recipe.eager_kernels import release_eager_kernel_cache
from tfglow.recipe.evaluation import evaluate_bits_per_dim, held_out_dataset
from tfglow.recipe.optimizers import make_optimizer
from tfglow.recipe.run_lock import ModelDirectoryBusyError
from tfglow.recipe.sample_pictures import image_grid, sample_grids, write_sample_png
from tfglow.recipe.schedules import LinearWarmup
from tfglow.recipe.strategy import STRATEGIES, configure_cpu_devices, make_strategy
from tfglow.recipe.trainer import TrainingResult, steps_per_epoch, train, training_dataset

__all__ = [
    "STRATEGIES",
    "CheckpointDirectoryError",
    "CheckpointEvery",
    "LinearWarmup",
    "ModelDirectoryBusyError",
    "ModelDirectoryMismatchError",
    "NonFiniteCheckpointError",
    "NonFiniteLossError",
    "NonFiniteLossStop",
    "SampleSummary",
    "StopAfterSeconds",
    "StopAtStep",
    "Throughput",
    "TrainingConfig",
    "TrainingResult",
    "checkpoint_manager",
    "configure_cpu_devices",
    "evaluate_bits_per_dim",
    "held_out_dataset",
    "image_grid",
    "make_optimizer",
    "make_strategy",
    "read_glow_config",
    "read_training_config",
    "release_eager_kernel_cache",
    "restore_model",
    "sample_grids",
    "steps_per_epoch",
    "train",
    "training_dataset",
    "write_sample_png",
]
