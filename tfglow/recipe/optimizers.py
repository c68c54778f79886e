"""The optimizer of the Glow training recipe: Adam or Adamax, warmup, clipping, Polyak averaging."""

from __future__ import annotations

import tf_keras

from tfglow.recipe.schedules import LinearWarmup


class _AverageWeightsOnRequest:
    """Leaves the training weights in the model at the end of `fit`.

    A Keras optimizer with `use_ema=True` overwrites the model's weights with their moving
    averages when `fit` ends. Here that happens only through `use_average_weights`, so that
    checkpoints always hold the training weights next to their averages: a resumed run continues
    exactly, and evaluation can use either.
    """

    def finalize_variable_values(self, var_list):
        del var_list

    def use_average_weights(self, var_list) -> None:
        """Overwrites the variables `var_list` with their Polyak averages (nothing without EMA)."""
        super().finalize_variable_values(var_list)


class Adam(_AverageWeightsOnRequest, tf_keras.optimizers.Adam):
    """`tf_keras.optimizers.Adam` whose EMA weights are swapped in only on request."""


class Adamax(_AverageWeightsOnRequest, tf_keras.optimizers.Adamax):
    """`tf_keras.optimizers.Adamax` whose EMA weights are swapped in only on request."""


OPTIMIZERS = {"adam": Adam, "adamax": Adamax}


def make_optimizer(
    name: str = "adam",
    learning_rate: float = 1e-3,
    warmup_steps: int = 0,
    clip_norm: float | None = None,
    ema_momentum: float | None = None,
) -> Adam | Adamax:
    """Returns the optimizer `name` with a `LinearWarmup` learning rate.

    Args:
      name: `"adam"` or `"adamax"` (openai/glow's default). Default value: `"adam"`.
      learning_rate: Python `float`, the peak learning rate. Default value: `1e-3`.
      warmup_steps: Python `int`, steps of linear warmup from ~0 to `learning_rate`. Default value:
        `0`.
      clip_norm: `None`, or clip the gradients to this global norm (all variables together)
        before the update. Default value: `None`.
      ema_momentum: `None`, or keep a Polyak (exponential moving) average of the weights,
        `average ← m·average + (1 − m)·weights` after each step, for evaluation; swap it into the
        model with `optimizer.use_average_weights(model.trainable_variables)` (as
        `tfglow.recipe.train` does after training, and `restore_model` after restoring).
        Default value: `None`.

    Raises:
      ValueError: an unknown `name`, a non-positive `clip_norm`, or `ema_momentum` outside [0, 1).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be None or positive, got {clip_norm}")
    if ema_momentum is not None and not 0 <= ema_momentum < 1:
        raise ValueError(f"ema_momentum must be None or in [0, 1), got {ema_momentum}")
    schedule = LinearWarmup(learning_rate, warmup_steps)
    ema = {} if ema_momentum is None else {"use_ema": True, "ema_momentum": ema_momentum}
    return OPTIMIZERS[name](learning_rate=schedule, global_clipnorm=clip_norm, **ema)
