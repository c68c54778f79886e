"""Value and log-determinant in one pass, shared through TFP's bijector cache.

A coupling layer or a conditional prior computes its output and its log-determinant from the same
network evaluation. TFP's `Bijector` asks for them through separate hooks (`_inverse` and
`_inverse_log_det_jacobian`), which would run the network twice. Like TFP's own `FFJORD`, this
mixin computes both together and stores the log-determinant in the bijector cache under `'ildj'`,
the one key TFP reads for both directions of an `x ↔ y` edge
(`Bijector._call_inverse_log_det_jacobian`); the log-det hooks then call the public `inverse` /
`forward` (a cache hit after the first call) and read the stored value.
"""

import tensorflow as tf

from tfglow import stacked_variables


class JointLogDetMixin:
    """Implements TFP's value and log-det hooks from one joint computation per direction.

    Subclasses list the mixin before `tfb.Bijector`
    (`class AffineCoupling(JointLogDetMixin, tfb.Bijector)`) and implement

    * `_inverse_and_log_det(y, **kwargs) -> (x, ildj)`: the inverse (x→z in the papers' terms)
      and the log-det of its Jacobian, unreduced at `inverse_min_event_ndims`;
    * `_forward_and_log_det(x, **kwargs) -> (y, fldj)`: the forward (z→x) and its log-det.

    `inverse(y)` followed by `inverse_log_det_jacobian(y)` on the same tensor `y` then runs the
    network once, as does `forward(x)` followed by `forward_log_det_jacobian(x)`, and also
    `forward(x)` followed by `inverse_log_det_jacobian` of its output.
    """

    def _inverse_and_log_det(self, y: tf.Tensor, **kwargs) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement _inverse_and_log_det")

    def _forward_and_log_det(self, x: tf.Tensor, **kwargs) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement _forward_and_log_det")

    def _inverse(self, y, **kwargs):
        x, ildj = self._inverse_and_log_det(y, **kwargs)
        self._cache.inverse_attributes(y, **kwargs)["ildj"] = ildj
        return x

    def _forward(self, x, **kwargs):
        y, fldj = self._forward_and_log_det(x, **kwargs)
        self._cache.forward_attributes(x, **kwargs)["ildj"] = -fldj
        return y

    def _inverse_log_det_jacobian(self, y, **kwargs):
        self.inverse(y, **kwargs)  # Fills the cache entry unless `inverse(y)` already did.
        attributes = self._cache.inverse_attributes(y, **kwargs)
        if "ildj" not in attributes:  # The edge was created without our hooks (defensive).
            _, attributes["ildj"] = self._inverse_and_log_det(y, **kwargs)
        return attributes["ildj"]

    def _forward_log_det_jacobian(self, x, **kwargs):
        self.forward(x, **kwargs)
        attributes = self._cache.forward_attributes(x, **kwargs)
        if "ildj" not in attributes:
            _, fldj = self._forward_and_log_det(x, **kwargs)
            attributes["ildj"] = -fldj
        return -attributes["ildj"]


def inverse_and_log_det(bijector, x: tf.Tensor, **kwargs) -> tuple[tf.Tensor, tf.Tensor]:
    """One tfglow layer's x→z on `x` `[N, H, W, C]` and its log-det per example, `[N]`.

    Computed afresh from the subclass hooks: TFP's bijector cache is neither read nor written,
    so no input is held for a later lookup (the reversible pass in `tfglow.glow` relies on it).
    """
    if isinstance(bijector, JointLogDetMixin):
        return bijector._inverse_and_log_det(x, **kwargs)
    z = bijector._inverse(x, **kwargs)
    log_det = bijector._inverse_log_det_jacobian(x, **kwargs)
    return z, _per_example(log_det, bijector.inverse_min_event_ndims, x)


def forward_and_log_det(bijector, z: tf.Tensor, **kwargs) -> tuple[tf.Tensor, tf.Tensor]:
    """One tfglow layer's z→x on `z` `[N, H, W, C]` and its log-det per example, outside the
    cache."""
    if isinstance(bijector, JointLogDetMixin):
        return bijector._forward_and_log_det(z, **kwargs)
    x = bijector._forward(z, **kwargs)
    log_det = bijector._forward_log_det_jacobian(z, **kwargs)
    return x, _per_example(log_det, bijector.forward_min_event_ndims, z)


def summing(layer_pass):
    """`layer_pass(bijector, h, **kwargs) -> (h, log_det)` as a pass that adds the layer's
    log-det to a running one: `(bijector, h, log_det, **kwargs) -> (h, log_det + layer's)`."""

    def summed(bijector, h: tf.Tensor, log_det: tf.Tensor, **kwargs):
        h, layer_log_det = layer_pass(bijector, h, **kwargs)
        return h, log_det + layer_log_det

    return summed


def inverse_gradient_from_output(
    bijector, z: tf.Tensor, output_gradient: tf.Tensor, log_det_gradient: tf.Tensor, **kwargs
):
    """Back-propagates through one layer's x→z from its output `z` alone (RevNet's backward step).

    Rebuilds the input `x = forward(z)` (z→x), recomputes `z, log_det = inverse(x)` under a tape
    and takes the vector–Jacobian product with `output_gradient` (`[N, H, W, C]`) and
    `log_det_gradient` (`[N]`). A layer with a cheaper way (a coupling rebuilds and recomputes
    from one network evaluation) defines its own `inverse_gradient_from_output`. Returns the
    rebuilt input, its gradient, and `{key: gradient}` of its trainable parameters (keyed as
    `stacked_variables.trainable_parameters` keys them).
    """
    with stacked_variables.reading():  # one read of each stack, which the tape watches
        if hasattr(bijector, "inverse_gradient_from_output"):
            return bijector.inverse_gradient_from_output(
                z, output_gradient, log_det_gradient, **kwargs
            )
        return _inverse_gradient_from_output(
            bijector, z, output_gradient, log_det_gradient, **kwargs
        )


def _inverse_gradient_from_output(bijector, z, output_gradient, log_det_gradient, **kwargs):
    x = tf.stop_gradient(forward_and_log_det(bijector, z, **kwargs)[0])
    keys, variables = stacked_variables.trainable_parameters(bijector)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        tape.watch(variables)
        z_again, log_det = inverse_and_log_det(bijector, x, **kwargs)
    gradients = tape.gradient(
        [z_again, log_det],
        [x, *variables],
        output_gradients=[output_gradient, log_det_gradient],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    return x, gradients[0], dict(zip(keys, gradients[1:]))


def _per_example(
    log_det: tf.Tensor, min_event_ndims: int, x: tf.Tensor, event_ndims: int = 3
) -> tf.Tensor:
    """A hook's log-det at `min_event_ndims` (broadcastable) summed to one value per example."""
    rank = tf.rank(x)
    log_det = log_det + tf.zeros(tf.shape(x)[: rank - min_event_ndims], log_det.dtype)
    if min_event_ndims == event_ndims:
        return log_det
    return tf.reduce_sum(log_det, axis=tf.range(1, 1 + event_ndims - min_event_ndims))
