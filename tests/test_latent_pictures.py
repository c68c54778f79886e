"""PNG grids with captions (tfglow.images) and the `training.visualize` program on a saved tiny
model."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests import flow_testing
from tfglow import GlowConfig, GlowModel, images
from training import visualize


def test_write_grid_places_every_tile_and_writes_the_captions(tmp_path):
    tiles = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5, 1)
    path = str(tmp_path / "grid.png")
    json_path = images.write_grid(
        path,
        tiles,
        ["a", "b"],
        ["x", "y", "z"],
        title="t",
        padding=1,
        scale=2,
        metadata={"what": "test"},
    )
    picture = images.read_png(path)
    assert picture.shape == (2 * (8 + 1) + 1, 3 * (10 + 1) + 1, 1)
    for row in range(2):
        for column in range(3):
            top, left = 1 + row * 9, 1 + column * 11
            expected = tiles[row, column].repeat(2, 0).repeat(2, 1)
            np.testing.assert_array_equal(picture[top : top + 8, left : left + 10], expected)
    assert np.all(picture[0] == 255) and np.all(picture[:, 0] == 255)
    captions = json.loads(open(json_path).read())
    assert json_path == str(tmp_path / "grid.json")
    assert captions["rows"] == ["a", "b"] and captions["columns"] == ["x", "y", "z"]
    assert (
        captions["title"] == "t" and captions["what"] == "test" and captions["image"] == "grid.png"
    )
    with pytest.raises(ValueError, match="column_captions must have 3 entries.*got 2"):
        images.write_grid(path, tiles, column_captions=["x", "y"])
    with pytest.raises(TypeError, match="uint8"):
        images.tile_grid(tiles.astype(np.float32))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    config = GlowConfig(
        image_shape=(28, 28, 1), num_levels=2, steps_per_level=1, hidden_channels=8, num_classes=10
    )
    model = GlowModel(config)
    model.initialize(
        np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1), np.uint8), np.arange(8)
    )
    flow_testing.randomize_variables(model, seed=0, stddev=0.02)
    (directory / "glow_config.json").write_text(config.to_json())  # tfglow.recipe's layout
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model), str(directory / "checkpoints"), 1
    )
    manager.save()
    return directory


@pytest.mark.parametrize(
    "what,shape",
    [
        ("samples", (2, 3)),
        ("classes", (10, 3)),
        ("interpolate", (2, 3)),
        ("manipulate", (2, 2)),
        ("compress", (2, 3)),
    ],
)
def test_visualize_writes_a_captioned_grid_for_each_picture(model_dir, tmp_path, what, shape):
    out = str(tmp_path / f"{what}.png")
    assert (
        visualize.main(
            [
                "--model_dir",
                str(model_dir),
                "--what",
                what,
                "--out",
                out,
                "--rows",
                "2",
                "--columns",
                "3",
                "--temperatures",
                "0,1",
                "--amounts",
                "0,2",
                "--attribute_images",
                "50",
                "--scale",
                "1",
            ]
        )
        == 0
    )
    captions = json.loads(open(out[:-4] + ".json").read())
    assert (len(captions["rows"]), len(captions["columns"])) == shape
    assert captions["what"] == what and captions["tile_shape"] == [28, 28, 1]
    picture = images.read_png(out)
    assert picture.shape == (shape[0] * 30 + 2, shape[1] * 30 + 2, 1)
    if what == "interpolate":  # the first column is the first test image itself
        from tfglow import data

        first = data.load_numpy("mnist", "test", limit=1)[0]
        np.testing.assert_array_equal(picture[2:30, 2:30], first)
    if what == "manipulate":
        assert captions["columns"] == ["α = 0", "α = 2"]
