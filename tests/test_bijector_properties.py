"""The properties every tfglow bijector shares, checked on one table of all of them.

In the manner of TFP's bijector properties test and zuko's table-driven transform test: each row is
a randomised layer (so that it is not the identity it starts as) with its event shape, and every
test runs on every row. The per-layer test files keep what is particular to each layer.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests import flow_testing
from tfglow import Glow, GlowConfig
from tfglow import bijectors as tfglow_bijectors

tfd = tfp.distributions
LABELS = np.int32([0, 2])


@dataclasses.dataclass(frozen=True)
class Case:
    make: Callable[[tf.dtypes.DType], object]
    event_shape: tuple[int, ...]
    trainable_variables: int
    labels: bool = False
    any_height_and_width: bool = True
    # Maps standard normal draws into the layer's domain (pixels in [-0.5, 0.5) for the logit).
    domain: Callable[[tf.Tensor], tf.Tensor] = tf.identity

    def build(self, dtype=tf.float32):
        bijector = self.make(dtype)
        flow_testing.randomize_variables(bijector, seed=3, stddev=0.1)
        return bijector

    def images(self, shape, dtype=tf.float32, seed=0):
        return self.domain(tf.constant(np.random.default_rng(seed).normal(size=shape), dtype))

    def kwargs(self, batch_shape=(2,)):
        if not self.labels:
            return {}
        return {"labels": np.resize(LABELS, batch_shape).astype(np.int32)}


def _pixel_range(x):
    return 0.45 * tf.tanh(x)


def _batch_normalization(dtype):
    batch_norm = tfglow_bijectors.BatchNormalization(4, dtype=dtype)
    batch_norm.moving_mean.assign([0.3, -0.2, 0.0, 1.0])
    batch_norm.moving_variance.assign([0.5, 2.0, 1.0, 3.0])
    return batch_norm


# RealNVP's parts (§3.7, §4.1): residual networks, tanh scale, batch norm, logit preprocessing.
REALNVP_PARTS = dict(
    architecture="realnvp",
    permutation="none",
    actnorm=False,
    coupling_network="resnet",
    residual_blocks=1,
    affine_scale="tanh",
    batch_norm=True,
    preprocessing="logit",
)
# A residual network with one block: input conv 3, block 10 (2 ActNorms, 2 convs), output
# ActNorm 2 and conv 3.
RESNET_VARIABLES = 18

CASES = {
    "act_norm": Case(lambda dtype: tfglow_bijectors.ActNorm(4, dtype=dtype), (4, 4, 4), 2),
    "conv1x1": Case(
        lambda dtype: tfglow_bijectors.InvertibleConv1x1(4, seed=0, dtype=dtype), (4, 4, 4), 1
    ),
    "conv1x1_lu": Case(
        lambda dtype: tfglow_bijectors.InvertibleConv1x1LU(4, seed=0, dtype=dtype), (4, 4, 4), 3
    ),
    "affine_coupling": Case(
        lambda dtype: tfglow_bijectors.AffineCoupling(4, 8, dtype=dtype, seed=0), (4, 4, 4), 9
    ),
    "affine_coupling_odd_channels": Case(
        lambda dtype: tfglow_bijectors.AffineCoupling(5, 8, dtype=dtype, seed=0), (4, 4, 5), 9
    ),
    "additive_coupling": Case(
        lambda dtype: tfglow_bijectors.AdditiveCoupling(4, 8, dtype=dtype, seed=0), (4, 4, 4), 9
    ),
    "masked_checkerboard": Case(
        lambda dtype: tfglow_bijectors.MaskedAffineCoupling(
            3, 8, mask="checkerboard", parity=1, dtype=dtype, seed=0
        ),
        (4, 4, 3),
        9,
    ),
    "masked_channel": Case(
        lambda dtype: tfglow_bijectors.MaskedAffineCoupling(
            3, 8, mask="channel", parity=1, dtype=dtype, seed=0
        ),
        (4, 4, 3),
        9,
    ),
    "reverse_channels": Case(lambda dtype: tfglow_bijectors.ReverseChannels(), (4, 4, 4), 0),
    "shuffle_channels": Case(
        lambda dtype: tfglow_bijectors.ShuffleChannels(4, seed=0), (4, 4, 4), 0
    ),
    "squeeze": Case(lambda dtype: tfglow_bijectors.Squeeze(), (4, 4, 2), 0),
    "split_prior": Case(lambda dtype: tfglow_bijectors.SplitPrior(4, dtype=dtype), (4, 4, 4), 3),
    "top_prior": Case(lambda dtype: tfglow_bijectors.TopPrior(4, dtype=dtype), (2, 2, 4), 1),
    "top_prior_conditional": Case(
        lambda dtype: tfglow_bijectors.TopPrior(4, num_classes=3, dtype=dtype),
        (2, 2, 4),
        2,
        labels=True,
    ),
    "affine_coupling_resnet_tanh": Case(
        lambda dtype: tfglow_bijectors.AffineCoupling(
            4, 8, dtype=dtype, seed=0, coupling_network="resnet", residual_blocks=1, scale="tanh"
        ),
        (4, 4, 4),
        RESNET_VARIABLES + 1,
    ),
    "additive_coupling_resnet": Case(
        lambda dtype: tfglow_bijectors.AdditiveCoupling(
            4, 8, dtype=dtype, seed=0, coupling_network="resnet", residual_blocks=1
        ),
        (4, 4, 4),
        RESNET_VARIABLES,
    ),
    "masked_checkerboard_resnet_tanh": Case(
        lambda dtype: tfglow_bijectors.MaskedAffineCoupling(
            3,
            8,
            mask="checkerboard",
            parity=0,
            dtype=dtype,
            seed=0,
            coupling_network="resnet",
            residual_blocks=1,
            scale="tanh",
        ),
        (4, 4, 3),
        RESNET_VARIABLES + 1,
    ),  # fmt: skip
    "batch_normalization": Case(_batch_normalization, (4, 4, 4), 0),
    "logit_preprocessing": Case(
        lambda dtype: tfglow_bijectors.LogitPreprocessing(0.05, dtype=dtype),
        (4, 4, 2),
        0,
        domain=_pixel_range,
    ),
    "glow": Case(
        lambda dtype: Glow(
            GlowConfig(image_shape=(4, 4, 2), num_levels=2, steps_per_level=1, hidden_channels=4),
            dtype=dtype,
        ),
        (4, 4, 2),
        # Per level: ActNorm 2, LU 3, coupling 9; a split prior 3; the top prior 1.
        2 * (2 + 3 + 9) + 3 + 1,
        any_height_and_width=False,
    ),
    "realnvp_as_the_paper": Case(
        lambda dtype: Glow(
            GlowConfig(
                image_shape=(4, 4, 2),
                num_levels=2,
                steps_per_level=1,
                hidden_channels=4,
                **REALNVP_PARTS,
            ),
            dtype=dtype,
        ),
        (4, 4, 2),
        # Four masked couplings (resnet and tanh factor), a split prior 3, the top prior 1.
        4 * (RESNET_VARIABLES + 1) + 3 + 1,
        any_height_and_width=False,
        domain=_pixel_range,
    ),
}


def _event_ndims(bijector):
    return bijector.inverse_min_event_ndims if isinstance(bijector, Glow) else 3


def _inverse_log_det(bijector, x, **kwargs):
    return bijector.inverse_log_det_jacobian(x, event_ndims=_event_ndims(bijector), **kwargs)


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]


def test_round_trip_and_forward_log_det_is_minus_inverse_log_det(case):
    bijector = case.build()
    x = case.images((2, *case.event_shape))
    kwargs = case.kwargs()
    flow_testing.assert_round_trip(bijector, x, atol=1e-4, **kwargs)
    z = flow_testing.fresh(bijector.inverse(x, **kwargs))
    forward_log_det = bijector.forward_log_det_jacobian(
        z, event_ndims=bijector.forward_min_event_ndims if isinstance(bijector, Glow) else 3,
        **kwargs,
    )  # fmt: skip
    np.testing.assert_allclose(forward_log_det, -_inverse_log_det(bijector, x, **kwargs),
                               rtol=1e-4, atol=1e-4)  # fmt: skip


def test_log_det_matches_the_brute_force_jacobian_in_float64(case):
    bijector = case.build(tf.float64)
    x = case.images((2, *case.event_shape), tf.float64, seed=1)
    kwargs = case.kwargs()
    if isinstance(bijector, Glow):
        expected = flow_testing.brute_force_inverse_log_det(bijector, x)
    else:
        expected = flow_testing.brute_force_inverse_log_det(bijector, x, **kwargs)
    np.testing.assert_allclose(_inverse_log_det(bijector, x, **kwargs), expected, rtol=1e-6,
                               atol=1e-8)  # fmt: skip


def test_inside_tf_function_with_unknown_batch_size_both_ways(case):
    bijector = case.build()
    height, width, channels = case.event_shape
    spatial = [None, None] if case.any_height_and_width else [height, width]
    spec = tf.TensorSpec([None, *spatial, channels], tf.float32)
    label_spec = [tf.TensorSpec([None], tf.int32)] if case.labels else []

    @tf.function(input_signature=[spec, *label_spec])
    def inverse_and_log_det(x, *labels):
        kwargs = {"labels": labels[0]} if labels else {}
        return bijector.inverse(x, **kwargs), _inverse_log_det(bijector, x, **kwargs)

    shapes = [(3, *case.event_shape)]
    if case.any_height_and_width:
        shapes.append((1, height + 2, width + 2, channels))
    for shape in shapes:
        x = case.images(shape)
        kwargs = case.kwargs((shape[0],))
        z, log_det = inverse_and_log_det(x, *kwargs.values())
        np.testing.assert_allclose(z, bijector.inverse(x, **kwargs), atol=1e-5)
        np.testing.assert_allclose(log_det, _inverse_log_det(bijector, x, **kwargs), rtol=1e-5,
                                   atol=1e-5)  # fmt: skip

    z = flow_testing.fresh(bijector.inverse(case.images(shapes[0]), **case.kwargs((3,))))

    @tf.function(input_signature=[tf.TensorSpec([None, *z.shape[1:]], tf.float32), *label_spec])
    def forward(z, *labels):
        return bijector.forward(z, **({"labels": labels[0]} if labels else {}))

    np.testing.assert_allclose(
        forward(z, *case.kwargs((3,)).values()), case.images(shapes[0]), atol=1e-4
    )


def test_two_leading_batch_dimensions_equal_the_flattened_batch(case):
    bijector = case.build()
    x = case.images((2, 3, *case.event_shape))
    kwargs, flat_kwargs = case.kwargs((2, 3)), case.kwargs((6,))
    z = bijector.inverse(x, **kwargs)
    # A constant-Jacobian layer may return its log-det unbroadcast (TFP's convention).
    log_det = np.broadcast_to(_inverse_log_det(bijector, x, **kwargs), (2, 3))
    assert z.shape[:2] == (2, 3)
    flat = tf.reshape(x, [6, *case.event_shape])
    np.testing.assert_allclose(
        z, tf.reshape(bijector.inverse(flat, **flat_kwargs), z.shape), atol=1e-5
    )
    np.testing.assert_allclose(
        log_det,
        np.broadcast_to(_inverse_log_det(bijector, flat, **flat_kwargs), (6,)).reshape(2, 3),
        rtol=1e-5,
        atol=1e-5,
    )  # fmt: skip
    flow_testing.assert_round_trip(bijector, x, atol=1e-4, **kwargs)


def test_every_trainable_variable_gets_a_gradient(case):
    bijector = case.build()
    x = case.images((2, *case.event_shape))
    kwargs = case.kwargs()
    with tf.GradientTape() as tape:
        z = bijector.inverse(x, **kwargs)
        loss = tf.reduce_sum(z * tf.reshape(x, tf.shape(z))) + tf.reduce_sum(
            _inverse_log_det(bijector, x, **kwargs)
        )
    variables = bijector.trainable_variables
    assert len(variables) == case.trainable_variables
    for variable, gradient in zip(variables, tape.gradient(loss, variables)):
        assert gradient is not None, variable.name
        assert np.any(tf.convert_to_tensor(gradient).numpy() != 0), variable.name


def test_composes_in_a_transformed_distribution(case):
    bijector = case.build()
    x = case.images((2, *case.event_shape))
    kwargs = case.kwargs()
    z = bijector.inverse(x, **kwargs)
    base = tfd.Sample(tfd.Normal(0.0, 1.0), z.shape[1:])
    distribution = tfd.TransformedDistribution(base, bijector)
    log_prob = distribution.log_prob(x, bijector_kwargs=kwargs)
    flow_testing.assert_tensor_is_good(log_prob, shape=[2])
    expected = base.log_prob(z) + _inverse_log_det(bijector, x, **kwargs)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)
    samples = distribution.sample(2, seed=1, bijector_kwargs=kwargs)
    flow_testing.assert_tensor_is_good(samples, shape=[2, *case.event_shape])
