"""`Glow`: the whole multi-scale flow as one `tfb.Bijector` from a flat N(0, I) latent to an
image."""

import contextlib

import tensorflow as tf
from tensorflow.python.eager import (
    record,  # what tf.recompute_grad uses to pause outer tapes
    tape,  # what a variable's read tells the tapes
)
from tensorflow_probability import bijectors as tfb

from tfglow import checks, stacked_variables
from tfglow.architecture import SeedSequence, level_bijectors, preprocessing_bijector
from tfglow.bijectors import ActNorm, BatchNormalization, TopPrior, data_init
from tfglow.bijectors.batch_shapes import fold_batch, unfold_batch
from tfglow.bijectors.joint_log_det import (
    JointLogDetMixin,
    forward_and_log_det,
    inverse_and_log_det,
    summing,
)
from tfglow.config import GlowConfig
from tfglow.layer_functions import LayerFunctions


class Glow(JointLogDetMixin, tfb.Bijector):
    """The multi-scale flow of a `GlowConfig` (Glow, RealNVP or NICE) as one bijector.

    Forward (z→x) maps a flat latent `eps` of shape `[..., D]`, distributed N(0, I), to an image of
    shape `[..., H, W, C]` in the flow's continuous space (pixels in [-0.5, 0.5), see
    `tfglow.GlowModel`); inverse (x→z) encodes. The learned split priors and the top prior are
    affine maps inside the bijector (`eps_i = (z_i − μ_i) / σ_i`), so the base is a plain N(0, I)
    and `log p(x) = log N(inverse(x); 0, I) + inverse_log_det_jacobian(x)`.

    ```
      x [H, W, C]
        │ level 0: squeeze → K steps → split prior ──────────▶ eps_0 [H/2, W/2, 2C]
        │ level 1: squeeze → K steps → split prior ──────────▶ eps_1 [H/4, W/4, 4C]
        │ ...
        │ level L-1: squeeze → K steps → top prior ──────────▶ eps_{L-1}
        ▼
      eps = concat(flatten(eps_0), …, flatten(eps_{L-1}))  [D]
    ```

    With `config.preprocessing="logit"` the x→z pass starts with RealNVP's logit preprocessing,
    whose log-det is part of the flow's.

    With `config.num_classes` set, the top prior is class-conditional: pass `labels` (int, the
    batch shape) as a bijector keyword, e.g. `glow.inverse(x, labels=y)` or
    `distribution.log_prob(x, bijector_kwargs={"labels": y})`.

    With `config.batch_norm` the x→z pass takes the keyword `training` (default `False`):
    `glow.inverse(x, training=True)` or `bijector_kwargs={"training": True}` normalises with, and
    updates, the running averages of every `BatchNormalization` (once per pass); without it they
    are fixed and the flow is one fixed bijection.

    #### Examples

    ```python
    glow = tfglow.Glow(tfglow.GlowConfig.preset("tiny"))
    distribution = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0., 1.), glow.config.event_size), glow)
    log_prob = distribution.log_prob(images_in_flow_space)
    ```

    #### References

    [1]: Diederik P. Kingma, Prafulla Dhariwal. Glow: Generative Flow with Invertible 1x1
         Convolutions. In _NeurIPS_, 2018. https://arxiv.org/abs/1807.03039
    [2]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
         In _ICLR_, 2017. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self, config: GlowConfig, dtype=tf.float32, validate_args: bool = False, name: str = "glow"
    ):
        """Builds every level's bijectors and variables.

        Args:
          config: the `tfglow.GlowConfig` to build.
          dtype: the floating dtype of every variable and computation. Default value: `tf.float32`.
          validate_args: Python `bool`, whether layers check their inputs. Default value: `False`.
          name: Python `str`, the name of the bijector. Default value: `"glow"`.
        """
        parameters = dict(locals())
        if not isinstance(config, GlowConfig):
            raise TypeError(f"config must be a tfglow.GlowConfig, got {type(config).__name__}")
        self.config = config
        self._inline_layers = False
        with tf.name_scope(name) as scope_name:
            seeds = SeedSequence(config.seed)
            self.preprocessing = preprocessing_bijector(config, dtype)
            self.levels = [
                tfb.Chain(
                    level_bijectors(config, level, dtype, seeds),
                    validate_args=validate_args,
                    name=f"level_{level}",
                )
                for level in range(config.num_levels)
            ]
            top_channels = config.level_shapes[-1][-1]
            self.top_prior = (
                TopPrior(
                    top_channels,
                    num_classes=config.num_classes,
                    dtype=dtype,
                    validate_args=validate_args,
                    name="top_prior",
                )
                if config.learn_top_prior or config.num_classes
                else None
            )
        super().__init__(
            forward_min_event_ndims=1,
            inverse_min_event_ndims=3,
            dtype=dtype,
            validate_args=validate_args,
            parameters=parameters,
            name=scope_name,
        )

    @contextlib.contextmanager
    def layers_inline(self):
        """Within the block, passes traced without a gradient tape run their layers inline, as in
        standard mode, even with `config.reversible_gradients`.

        A reversible flow otherwise runs every traced pass through shared layer functions, so that
        its validation, sampling and evaluation graphs stay flat in depth like its training
        graph, at the price of a function call per layer, which shows at batch 1
        (`benchmarks/shared_layer_calls.py`). The serving export (`tfglow.serving.ExportModule`)
        traces in this block.
        """
        previous = self._inline_layers
        self._inline_layers = True
        try:
            yield
        finally:
            self._inline_layers = previous

    @property
    def _shares_layer_functions(self) -> bool:
        """Whether traced passes run their layers through `LayerFunctions` without a tape too."""
        return self.config.reversible_gradients and not self._inline_layers

    @property
    def layout(self):
        """The `tfglow.LatentLayout` of the flat latent: which slice is which level."""
        return self.config.layout

    @property
    def act_norms(self) -> list[ActNorm]:
        """Every `ActNorm` of the flow, the coupling networks' included."""
        return [module for module in self.submodules if isinstance(module, ActNorm)]

    @property
    def batch_norms(self) -> list[BatchNormalization]:
        """Every `BatchNormalization` of the flow (with `config.batch_norm`)."""
        return [module for module in self.submodules if isinstance(module, BatchNormalization)]

    @property
    def data_dependent_layers(self) -> list:
        """The layers that initialise from the first batch: every ActNorm and batch norm."""
        return [*self.act_norms, *self.batch_norms]

    @property
    def is_initialized(self) -> bool:
        """Whether every ActNorm and batch norm has had its data-dependent initialisation."""
        return all(bool(layer.initialized.numpy()) for layer in self.data_dependent_layers)

    @property
    def data_dependent_init(self) -> bool:
        """Whether an uninitialised ActNorm (or batch norm) initialises from the first batch it
        sees (x→z).

        True for a bare `Glow`, as for TFP users of `ActNorm`; a `GlowModel` sets it to False and
        initialises only in `initialize` (and `fit`), so that reading an uninitialised model fails
        instead of initialising it on whatever it was given.
        """
        return all(layer.data_dependent_init for layer in self.data_dependent_layers)

    @data_dependent_init.setter
    def data_dependent_init(self, enabled: bool) -> None:
        for layer in self.data_dependent_layers:
            layer.data_dependent_init = bool(enabled)

    @contextlib.contextmanager
    def initializing(self):
        """Turns `data_dependent_init` on for the `with` block, then back to what it was."""
        layers = self.data_dependent_layers
        previous = [layer.data_dependent_init for layer in layers]
        self.data_dependent_init = True
        try:
            yield
        finally:
            for layer, enabled in zip(layers, previous):
                layer.data_dependent_init = enabled

    def layers(self, labels=None, training: bool = False):
        """The flow's layers in data order (x→z) as `(level, layer, kwargs, factors_out)`.

        `kwargs` are the layer's keyword arguments (the labels of a class-conditional top prior,
        `training` for a batch norm); `factors_out` is true on the last layer of every level but
        the top one, after which `layout.factor_out` splits the finished latent off. The logit
        preprocessing, if any, comes first, at level 0. Walked backwards, with `layout.merge`
        before such a layer, it is the z→x pass.
        """
        return self._layers(self._prior_kwargs(labels), training)

    def _layers(self, prior_kwargs, training=False):
        walk = [] if self.preprocessing is None else [(0, self.preprocessing, {}, False)]
        for level, chain in enumerate(self.levels):
            for index, layer in enumerate(chain.bijectors):
                last_of_level = index == len(chain.bijectors) - 1
                kwargs = {"training": training} if isinstance(layer, BatchNormalization) else {}
                walk.append((level, layer, kwargs, last_of_level and not self.layout.is_top(level)))
        if self.top_prior is not None:
            walk.append((self.config.num_levels - 1, self.top_prior, prior_kwargs, False))
        return walk

    def _inverse_and_log_det(self, x, labels=None, training=False):
        self._check_image_shape(x)
        training = checks.boolean("training", training)
        h, batch_shape = fold_batch(x)
        prior_kwargs = self._prior_kwargs(labels)
        encode = self._encode_reversibly if self.config.reversible_gradients else self._encode
        with self._reading():
            eps, log_det = encode(h, prior_kwargs, training)
        return unfold_batch(eps, batch_shape, event_ndims=1), tf.reshape(log_det, batch_shape)

    def _reading(self):
        """`stacked_variables.reading()`: each stacked variable read once per pass, unless the
        pass initialises (an ActNorm's rows would be read before its initialisation writes
        them)."""
        if any(data_init.initializes(layer) for layer in self.data_dependent_layers):
            return contextlib.nullcontext()
        return stacked_variables.reading()

    def _encode(self, h, prior_kwargs, training=False, layer_pass=None):
        """x→z on folded images `[N, H, W, C]`: flat latents `[N, D]` and the log-det `[N]`.

        `layer_pass(layer, h, log_det, **kwargs)` runs one layer and adds its log-det to the
        running one: through shared functions, or inline (`None`).
        """
        layer_pass = layer_pass or summing(inverse_and_log_det)
        log_det = tf.zeros(tf.shape(h)[:1], h.dtype)
        finished = []
        for _, layer, kwargs, factors_out in self._layers(prior_kwargs, training):
            h, log_det = layer_pass(layer, h, log_det, **kwargs)
            if factors_out:
                h, latent = self.layout.factor_out(h)
                finished.append(latent)
        return self.layout.join([*finished, h]), log_det

    def _encode_reversibly(self, h, prior_kwargs, training=False):
        """`_encode` whose gradient rebuilds each layer's input from its output (RevNet).

        The pass keeps no activations: the backward step walks the layers from last to first,
        rebuilds each input with the layer's z→x map and back-propagates through that layer
        alone. The latents factored out at each level are outputs, so they need no rebuilding.
        A training-mode batch norm updates its averages in this pass only; its backward step
        reads the updated averages it normalised with.

        In a graph both passes run their layers through `LayerFunctions`, so that the K steps of
        a level share one traced body and the graph does not grow with K either; so does the z→x
        pass of a flow with reversible gradients (`_forward_and_log_det`), outside
        `layers_inline`.
        """
        functions = LayerFunctions(
            self.data_dependent_layers, everywhere=self._shares_layer_functions
        )
        with record.stop_recording():
            with tf.control_dependencies(functions.checks):
                images = tf.identity(h)
            eps, log_det = self._encode(
                images, prior_kwargs, training, functions.inverse_and_log_det
            )
        if record.could_possibly_record():
            self._record_reversible_gradient(functions, h, eps, log_det, prior_kwargs, training)
        return eps, log_det

    def _record_reversible_gradient(self, functions, h, eps, log_det, prior_kwargs, training):
        """Records the x→z pass on the gradient tapes as one op from `h` and the variables.

        The variables are the layers' own (the gradients are keyed by them). A variable stands
        in the op by its handle, as in its read; `tf.custom_gradient` would read every variable
        twice and feed a zero tensor back through an IdentityN, three graph nodes per variable
        that the training graph keeps. A mirrored variable has a handle only in a replica
        context; in the cross-replica one its read stands for it.
        """
        variables = self.trainable_variables
        if tf.distribute.in_cross_replica_context():
            inputs = [tf.convert_to_tensor(variable) for variable in variables]
        else:
            for variable in variables:
                tape.variable_accessed(variable)
            inputs = [variable.handle for variable in variables]

        def gradient(eps_gradient, log_det_gradient):
            h_gradient, variable_gradients = self._encode_gradient(
                functions, eps, eps_gradient, log_det_gradient, prior_kwargs, training, variables
            )
            return [h_gradient, *variable_gradients]

        record.record_operation("GlowReversibleEncode", [eps, log_det], [h, *inputs], gradient)

    def _encode_gradient(
        self, functions, eps, eps_gradient, log_det_gradient, prior_kwargs, training, variables
    ):
        stack_gradients = stacked_variables.StackGradients()
        # The backward pass runs after the forward one, initialisation included.
        with stacked_variables.reading():
            h_gradient, gradients = self._walk_gradient(
                functions,
                eps,
                eps_gradient,
                log_det_gradient,
                prior_kwargs,
                training,
                stack_gradients,
            )
        return h_gradient, [
            _variable_gradient(variable, gradients, stack_gradients) for variable in variables
        ]

    def _walk_gradient(
        self,
        functions,
        eps,
        eps_gradient,
        log_det_gradient,
        prior_kwargs,
        training,
        stack_gradients,
    ):
        """The last layer to the first: the image's gradient and `{variable.ref(): gradient}` of
        the layers' own trainable variables; the stacked variables' gradients go to
        `stack_gradients`, row by row."""
        latents, latent_gradients = self.layout.split(eps), self.layout.split(eps_gradient)
        h, h_gradient = latents.pop(), latent_gradients.pop()
        variable_gradients = {}
        for _, layer, kwargs, factors_out in reversed(self._layers(prior_kwargs, training)):
            if factors_out:
                h = self.layout.merge(h, latents.pop())
                h_gradient = self.layout.merge(h_gradient, latent_gradients.pop())
            h, h_gradient, gradients = functions.inverse_gradient_from_output(
                layer, h, h_gradient, log_det_gradient, stack_gradients, **kwargs
            )
            variable_gradients.update(gradients)
        return h_gradient, variable_gradients

    def _forward_and_log_det(self, eps, labels=None, training=False):
        # z→x uses the batch norms' stored averages whatever `training` says (accepted so that
        # one `bijector_kwargs` serves both directions).
        eps = self._check_latent_size(eps)
        eps, batch_shape = fold_batch(eps, event_ndims=1)
        prior_kwargs = self._prior_kwargs(labels)
        with self._reading():
            return self._decode(eps, batch_shape, prior_kwargs)

    def _decode(self, eps, batch_shape, prior_kwargs):
        layer_pass = summing(forward_and_log_det)
        if self._shares_layer_functions:
            functions = LayerFunctions(self.data_dependent_layers, everywhere=True)
            with tf.control_dependencies(functions.checks):
                eps = tf.identity(eps)
            layer_pass = functions.forward_and_log_det
        latents = self.layout.split(eps)
        h = latents.pop()
        log_det = tf.zeros(tf.shape(eps)[:1], eps.dtype)
        for _, layer, kwargs, factors_out in reversed(self._layers(prior_kwargs)):
            if factors_out:
                h = self.layout.merge(h, latents.pop())
            h, log_det = layer_pass(layer, h, log_det, **kwargs)
        return unfold_batch(h, batch_shape), tf.reshape(log_det, batch_shape)

    def _prior_kwargs(self, labels):
        labels = checks.labels(labels, self.config.num_classes)
        return {} if labels is None else {"labels": tf.reshape(labels, [-1])}

    def _check_image_shape(self, x):
        expected = self.config.image_shape
        if x.shape.rank is not None and (
            x.shape.rank < 3 or not x.shape[-3:].is_compatible_with(expected)
        ):
            raise ValueError(
                f"expected images of shape [..., {', '.join(map(str, expected))}], "
                f"got shape {x.shape}"
            )

    def _check_latent_size(self, eps):
        expected = [self.config.event_size]
        if eps.shape.rank is not None and (
            eps.shape.rank < 1 or not eps.shape[-1:].is_compatible_with(expected)
        ):
            raise ValueError(
                f"expected latents of shape [..., {expected[0]}], got shape {eps.shape}"
            )
        return eps

    def _forward_event_shape(self, input_shape):
        return tf.TensorShape(self.config.image_shape)

    def _forward_event_shape_tensor(self, input_shape):
        return tf.constant(self.config.image_shape, tf.int32)

    def _inverse_event_shape(self, output_shape):
        return tf.TensorShape([self.config.event_size])

    def _inverse_event_shape_tensor(self, output_shape):
        return tf.constant([self.config.event_size], tf.int32)


def _variable_gradient(variable, gradients: dict, stack_gradients):
    """A variable's gradient: a stacked variable's from `stack_gradients`, else from
    `{variable.ref(): gradient}`."""
    stack = stacked_variables.stack_of(variable)
    if stack is not None:
        return stack_gradients.gradient(stack)
    gradient = gradients.get(variable.ref())
    return None if gradient is None else tf.convert_to_tensor(gradient)
