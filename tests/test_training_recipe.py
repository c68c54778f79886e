"""The training recipe's parts: warmup, clipping, Polyak averaging, configs, flags, sample grids."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfglow import GlowConfig
from tfglow.images import write_png
from tfglow.recipe import LinearWarmup, TrainingConfig, image_grid, make_optimizer
from tfglow.recipe.checkpointing import write_configs
from training import configs
from training import train as train_program


def test_linear_warmup_ramps_to_the_peak_then_stays():
    schedule = LinearWarmup(1e-3, warmup_steps=100)
    rates = [float(schedule(step)) for step in (0, 49, 99, 100, 10_000)]
    np.testing.assert_allclose(rates, [1e-5, 5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-6)
    assert float(LinearWarmup(2e-3, warmup_steps=0)(0)) == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0, got -1"):
        LinearWarmup(1e-3, warmup_steps=-1)


def test_clipping_rescales_the_gradient_to_the_global_norm():
    # Adam's second moment after one step is (1 − β2)·g², so it shows the gradient the update used.
    weights = [tf.Variable([0.0, 0.0]), tf.Variable([0.0])]
    gradients = [tf.constant([30.0, 40.0]), tf.constant([0.0])]  # global norm 50
    optimizer = make_optimizer("adam", 1e-3, clip_norm=5.0)
    optimizer.apply_gradients(zip(gradients, weights))
    velocity = [v for v in optimizer.variables if "/v/" in v.name][0]
    # rtol: the fused update forms 1 − β2 in float32, within 3e-5 of 0.001 (tfglow.recipe.Adam).
    np.testing.assert_allclose(velocity.numpy(), (1 - 0.999) * np.array([3.0, 4.0]) ** 2, rtol=1e-4)


def test_polyak_average_follows_the_weights_and_is_swapped_in_only_on_request():
    momentum = 0.5
    weight = tf.Variable([1.0, -2.0])
    optimizer = make_optimizer("adamax", 0.1, ema_momentum=momentum)
    expected_average = weight.numpy().copy()
    for gradient in ([1.0, 1.0], [-2.0, 0.5], [0.3, 0.3]):
        optimizer.apply_gradients([(tf.constant(gradient), weight)])
        expected_average = momentum * expected_average + (1 - momentum) * weight.numpy()
    trained = weight.numpy().copy()
    optimizer.finalize_variable_values([weight])  # what Keras calls at the end of fit: a no-op here
    np.testing.assert_array_equal(weight.numpy(), trained)
    optimizer.use_average_weights([weight])
    np.testing.assert_allclose(weight.numpy(), expected_average, rtol=1e-6)
    assert not np.allclose(expected_average, trained)


def test_make_optimizer_rejects_bad_options():
    with pytest.raises(ValueError, match="optimizer must be one of .* got 'sgd'"):
        make_optimizer("sgd")
    with pytest.raises(ValueError, match="clip_norm must be None or positive, got -1"):
        make_optimizer(clip_norm=-1.0)
    with pytest.raises(ValueError, match="ema_momentum must be None or in \\[0, 1\\), got 1.5"):
        make_optimizer(ema_momentum=1.5)


def test_training_config_round_trips_through_json_and_validates():
    config = configs.get_config("mnist_cpu").replace(ema_momentum=0.99, sample_temperatures=[0.5])
    again = TrainingConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(config.to_json())["model"]["hidden_channels"] == config.model.hidden_channels
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        config.replace(batch_size=0)
    with pytest.raises(ValueError, match="unknown TrainingConfig fields \\['hidden_channels'\\]"):
        config.replace(hidden_channels=3)


def test_a_batch_norm_model_refuses_polyak_averaged_weights_by_name():
    realnvp = configs.get_config("realnvp_cpu")
    assert realnvp.ema_momentum is None and realnvp.model.batch_norm
    with pytest.raises(ValueError, match="ema_momentum=0.99 cannot be used with a batch_norm"):
        realnvp.replace(ema_momentum=0.99)


def test_every_named_config_matches_its_paper_model():
    assert configs.get_config("cifar10").model == GlowConfig.preset("cifar10")
    assert configs.get_config("celeba_hq_256").model.num_bits == 5
    assert configs.get_config("mnist").pad_to == 32
    for name, config in configs.CONFIGS.items():
        assert config.steps >= config.checkpoint_every, name
    with pytest.raises(ValueError, match="unknown config 'cifar11'"):
        configs.get_config("cifar11")


def test_flags_override_the_named_config():
    parser = train_program.build_parser()
    arguments = parser.parse_args(
        [
            "--config",
            "mnist_tiny",
            "--model_dir",
            "unused",
            "--steps_per_level",
            "4",
            "--hidden_channels",
            "128",
            "--num_classes",
            "10",
            "--no-learn_top_prior",
            "--model_seed",
            "5",
            "--seed",
            "3",
            "--ema",
            "0.99",
            "--clip_norm",
            "0",
            "--learning_rate",
            "2e-4",
            "--steps",
            "7",
            "--image_shape",
            "28,28,1",
            "--coupling",
            "additive",
            "--jit_compile",
        ]
    )
    config = train_program.config_from_arguments(arguments)
    expected_model = configs.get_config("mnist_tiny").model.replace(
        steps_per_level=4,
        hidden_channels=128,
        num_classes=10,
        learn_top_prior=False,
        seed=5,
        coupling="additive",
    )
    assert config.model == expected_model
    assert (
        config.seed,
        config.ema_momentum,
        config.clip_norm,
        config.learning_rate,
        config.steps,
        config.jit_compile,
    ) == (3, 0.99, None, 2e-4, 7, True)
    untouched = train_program.config_from_arguments(
        parser.parse_args(["--config", "mnist_cpu", "--model_dir", "unused"])
    )
    assert untouched == configs.get_config("mnist_cpu")


def test_a_time_limit_is_refused_across_workers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_program.main(
            [
                "--config",
                "mnist_tiny",
                "--model_dir",
                "unused",
                "--strategy",
                "multi_worker",
                "--max_minutes",
                "5",
            ]
        )
    assert exit_info.value.code == 2
    assert "--max_minutes cannot be used with --strategy multi_worker" in capsys.readouterr().err


def test_a_model_directory_of_another_model_is_refused_naming_the_field(tmp_path, capsys):
    """Resuming a run saved with another scale floor stops before anything is written."""
    first = ["--config", "mnist_tiny", "--model_dir", str(tmp_path), "--scale_floor", "0.01"]
    configs_path = tmp_path / "glow_config.json"
    write_configs(
        tmp_path,
        train_program.config_from_arguments(train_program.build_parser().parse_args(first)),
    )
    saved = configs_path.read_text()
    assert train_program.main(["--config", "mnist_tiny", "--model_dir", str(tmp_path)]) == 2
    assert "scale_floor: saved 0.01, requested 0.2" in capsys.readouterr().err
    assert configs_path.read_text() == saved and sorted(os.listdir(tmp_path)) == [
        "glow_config.json",
        "training_config.json",
    ]


def test_help_documents_every_model_field(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_program.build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for field in GlowConfig.__dataclass_fields__:
        assert f"--{'model_seed' if field == 'seed' else field}" in text, field
    for flag in (
        "--strategy",
        "--cpu_devices",
        "--steps",
        "--epochs",
        "--ema",
        "--checkpoint_every",
    ):
        assert flag in text


def test_image_grid_places_images_row_by_row_with_gaps(tmp_path):
    cells = np.stack([np.full((2, 3, 1), value, np.uint8) for value in (10, 20, 30)])
    grid = image_grid(cells, columns=2).numpy()
    assert grid.shape == (
        2 * 2 + 2,
        2 * 3 + 2,
        1,
    )  # two rows, two columns, one 2-pixel gap each way
    assert (
        (grid[0:2, 0:3] == 10).all()
        and (grid[0:2, 5:8] == 20).all()
        and (grid[4:6, 0:3] == 30).all()
    )
    assert (grid[4:6, 5:8] == 0).all() and (grid[2:4] == 0).all() and (grid[:, 3:5] == 0).all()
    path = tmp_path / "grid.png"
    write_png(path, grid)
    np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(str(path))).numpy(), grid)


def test_sample_grids_show_the_model_samples_and_survive_an_overflow(monkeypatch):
    from tfglow import GlowModel
    from tfglow.recipe.sample_pictures import sample_grids

    model = GlowModel(
        GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=1, hidden_channels=8)
    )
    model.initialize(np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8))
    grids = sample_grids(model, [0.7, 1.0], num_samples=4, seed=3)
    for temperature, grid in grids.items():
        expected = image_grid(model.sample(4, temperature, seed=3), columns=2)
        np.testing.assert_array_equal(grid.numpy(), expected.numpy())
    assert not np.array_equal(grids[0.7].numpy(), grids[1.0].numpy())

    def overflowing(eps, labels=None):
        return tf.fill([eps.shape[0], 8, 8, 1], np.inf)

    monkeypatch.setattr(model, "decode_to_flow", overflowing)
    grey = sample_grids(model, [1.0], num_samples=1, seed=0)[1.0].numpy()
    assert (grey == 128).all()
