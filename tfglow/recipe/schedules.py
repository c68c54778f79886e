"""Learning-rate schedules of the Glow training recipe."""

from __future__ import annotations

import tensorflow as tf
import tf_keras


class LinearWarmup(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to a constant learning rate (Glow, openai/glow `lr * min(1, step / warmup)`).

    `learning_rate(step) = peak · min(1, (step + 1) / warmup_steps)`, `step` counting from 0, so the
    first update already moves (at `peak / warmup_steps`) and step `warmup_steps − 1` reaches the
    peak.
    With `warmup_steps = 0` the rate is `peak` throughout.

    #### Examples

    ```python
    optimizer = tf_keras.optimizers.Adam(LinearWarmup(1e-3, warmup_steps=200))
    ```
    """

    def __init__(self, peak_learning_rate: float, warmup_steps: int, name: str = "linear_warmup"):
        """Args:
        peak_learning_rate: Python `float`, the rate after warmup; positive.
        warmup_steps: Python `int`, the number of steps of the linear ramp; `>= 0`.
        name: Python `str`. Default value: `"linear_warmup"`.
        """
        super().__init__()
        if not peak_learning_rate > 0:
            raise ValueError(f"peak_learning_rate must be positive, got {peak_learning_rate}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name):
            step = tf.cast(step, tf.float32)
            ramp = (step + 1.0) / max(self.warmup_steps, 1)
            return self.peak_learning_rate * tf.minimum(1.0, ramp)

    def get_config(self) -> dict:
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "name": self.name,
        }
