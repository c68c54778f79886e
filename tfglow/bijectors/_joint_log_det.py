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
