"""The optimizer of the Glow training recipe: Adam or Adamax, warmup, clipping, Polyak averaging."""

from __future__ import annotations

import tensorflow as tf
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


class _OneOpPerVariable:
    """Applies each dense update with TensorFlow's fused kernel, one op per variable.

    tf_keras writes the update of every variable out of about 25 ops (it recomputes the learning
    rate and the bias corrections for each), which a deep flow's training graph holds for each of
    its thousands of variables. Here the step's scalars are computed once per step, and each
    variable gets one `ResourceApply*` op with the same formula (Adam, Kingma & Ba 2015, Alg. 1
    with the efficient ordering of §2; Adamax, §7.1). The variables and slots are tf_keras's own,
    so checkpoints are unchanged. Sparse gradients and AMSGrad keep tf_keras's update.

    In float64 the result is tf_keras's exactly. In float32 the kernel forms 1 − β in float32,
    where tf_keras rounds the Python value once: 1 − β₂ is 0.001 to within 3e-5 relative, as in
    TensorFlow's own fused Adam.
    """

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        grads_and_vars = list(grads_and_vars)
        dtypes = {variable.dtype.base_dtype for _, variable in grads_and_vars}
        self._step_scalars = {dtype: self._scalars(dtype) for dtype in dtypes}
        try:
            return super()._distributed_apply_gradients_fn(distribution, grads_and_vars, **kwargs)
        finally:
            del self._step_scalars

    def update_step(self, gradient, variable):
        scalars = getattr(self, "_step_scalars", {}).get(variable.dtype.base_dtype)
        if scalars is None or isinstance(gradient, tf.IndexedSlices) or self._keeps_keras_update():
            return super().update_step(gradient, variable)
        first, second = self._slots(variable)
        return self._apply(variable.handle, first.handle, second.handle, gradient, **scalars)

    def _scalars(self, dtype) -> dict:
        def scalar(value):  # a Python float becomes `dtype` exactly, not via float32
            return tf.cast(tf.convert_to_tensor(value, dtype_hint=dtype), dtype)

        step = tf.cast(self.iterations + 1, dtype)
        return dict(
            lr=scalar(self.learning_rate),
            beta1=scalar(self.beta_1),
            beta2=scalar(self.beta_2),
            # tf_keras raises β to the step through `tf.cast`, so a Python β passes float32.
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            epsilon=scalar(self.epsilon),
        )

    def _keeps_keras_update(self) -> bool:
        return False


class Adam(_OneOpPerVariable, _AverageWeightsOnRequest, tf_keras.optimizers.Adam):
    """`tf_keras.optimizers.Adam` whose EMA weights are swapped in only on request, applied with
    one `ResourceApplyAdam` per variable."""

    def _slots(self, variable):
        index = self._index_dict[self._var_key(variable)]
        return self._momentums[index], self._velocities[index]

    def _keeps_keras_update(self) -> bool:
        return self.amsgrad or getattr(self, "adaptive_epsilon", False)

    @staticmethod
    def _apply(var, m, v, grad, lr, beta1, beta2, beta1_power, beta2_power, epsilon):
        # var −= lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε), after m, v take their moving averages.
        return tf.raw_ops.ResourceApplyAdam(
            var=var, m=m, v=v, beta1_power=beta1_power, beta2_power=beta2_power, lr=lr,
            beta1=beta1, beta2=beta2, epsilon=epsilon, grad=grad,
        )  # fmt: skip


class Adamax(_OneOpPerVariable, _AverageWeightsOnRequest, tf_keras.optimizers.Adamax):
    """`tf_keras.optimizers.Adamax` whose EMA weights are swapped in only on request, applied with
    one `ResourceApplyAdaMax` per variable."""

    def _slots(self, variable):
        index = self._index_dict[self._var_key(variable)]
        return self._m[index], self._u[index]

    @staticmethod
    def _apply(var, m, v, grad, lr, beta1, beta2, beta1_power, beta2_power, epsilon):
        # var −= lr/(1−β₁ᵗ) · m / (u + ε), with u = max(β₂·u, |g|).
        del beta2_power
        return tf.raw_ops.ResourceApplyAdaMax(
            var=var, m=m, v=v, beta1_power=beta1_power, lr=lr, beta1=beta1, beta2=beta2,
            epsilon=epsilon, grad=grad,
        )  # fmt: skip


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
