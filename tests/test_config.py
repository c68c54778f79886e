"""GlowConfig: validation errors name the field and value; presets are the papers'; saved configs
read back."""

import json

import pytest

from tfglow import GlowConfig
from tfglow.bijectors.sigmoid_scale import DEFAULT_SCALE_FLOOR
from tfglow.config import LEGACY_SCALE_FLOOR


@pytest.mark.parametrize(
    "changes,message",
    [
        (
            dict(image_shape=(28, 28, 1), num_levels=3),
            "height 28 is not divisible by 2\\*\\*num_levels = 8",
        ),
        (dict(coupling="affinee"), "coupling must be one of .* got 'affinee'"),
        (dict(permutation="conv"), "permutation must be one of .* got 'conv'"),
        (dict(num_levels=0), "num_levels must be a positive integer, got 0"),
        (dict(num_bits=9), "num_bits must be in 1..8, got 9"),
        (dict(num_classes=1), "num_classes must be None or at least 2, got 1"),
        (dict(image_shape=(32, 32)), "image_shape must be"),
        (dict(scale_floor=1.0), "scale_floor must be a number in \\[0, 1\\), got 1.0"),
    ],
)
def test_invalid_values_name_the_field_and_value(changes, message):
    with pytest.raises(ValueError, match=message):
        GlowConfig(**changes)


def test_presets_are_the_papers_configurations():
    cifar = GlowConfig.preset("cifar10")
    assert (
        cifar.steps_per_level,
        cifar.num_levels,
        cifar.hidden_channels,
        cifar.coupling,
        cifar.num_bits,
    ) == (32, 3, 512, "affine", 8)
    assert GlowConfig.preset("imagenet64").num_levels == 4
    celeba = GlowConfig.preset("celeba_hq_256")
    assert (celeba.image_shape, celeba.num_levels, celeba.coupling, celeba.num_bits) == (
        (256, 256, 3),
        6,
        "additive",
        5,
    )
    assert GlowConfig.preset("mnist_cpu", hidden_channels=64).hidden_channels == 64
    with pytest.raises(ValueError, match="unknown preset 'cifar'"):
        GlowConfig.preset("cifar")


def test_latent_shapes_add_up_to_the_image_size():
    for name in ("cifar10", "imagenet64", "celeba_hq_256", "mnist_cpu", "tiny", "realnvp"):
        config = GlowConfig.preset(name)
        assert sum(h * w * c for h, w, c in config.latent_shapes) == config.event_size


def test_json_round_trip():
    config = GlowConfig.preset("tiny", num_classes=10)
    assert GlowConfig.from_json(config.to_json()) == config


def test_a_config_saved_before_scale_floor_existed_reads_with_the_legacy_floor():
    """Such a model was trained with ε = 0; it keeps the 0.01 it has been read with since."""
    saved = json.loads(GlowConfig.preset("tiny").to_json())
    del saved["scale_floor"]
    assert GlowConfig.from_json(json.dumps(saved)).scale_floor == LEGACY_SCALE_FLOOR == 0.01
    assert GlowConfig.preset("tiny").scale_floor == DEFAULT_SCALE_FLOOR == 0.2
    assert GlowConfig.from_json(GlowConfig.preset("tiny").to_json()).scale_floor == 0.2


def test_the_realnvp_preset_is_the_papers_cifar10_model():
    realnvp = GlowConfig.preset("realnvp")
    assert (realnvp.image_shape, realnvp.num_levels, realnvp.steps_per_level) == ((32, 32, 3), 3, 3)
    assert (realnvp.architecture, realnvp.coupling_network, realnvp.residual_blocks) == (
        "realnvp",
        "resnet",
        8,
    )
    assert (realnvp.hidden_channels, realnvp.affine_scale, realnvp.batch_norm) == (64, "tanh", True)
    assert (realnvp.preprocessing, realnvp.logit_alpha, realnvp.actnorm) == ("logit", 0.05, False)
    cpu = GlowConfig.preset("realnvp_cpu")
    assert cpu.image_shape == (28, 28, 1) and cpu.preprocessing == "logit" and cpu.batch_norm


def test_a_config_saved_before_the_realnvp_fields_existed_reads_as_it_was_trained():
    saved = json.loads(GlowConfig.preset("tiny").to_json())
    for field in (
        "coupling_network",
        "residual_blocks",
        "affine_scale",
        "batch_norm",
        "batch_norm_momentum",
        "preprocessing",
        "logit_alpha",
    ):
        del saved[field]
    config = GlowConfig.from_json(json.dumps(saved))
    assert config == GlowConfig.preset("tiny")
    assert (config.coupling_network, config.affine_scale, config.preprocessing) == (
        "glow",
        "sigmoid",
        "none",
    )
    assert not config.batch_norm
