"""Export versions: TF Serving's `<export_dir>/<version>/` layout, no overwrites, no half-written
versions.

Saving itself is replaced by a stand-in that writes one file (the real save is tested in
test_export.py), so these tests check only the directory logic around it.
"""

import os

import numpy as np
import pytest

from tests import flow_testing
from tfglow import GlowConfig, GlowModel, export_saved_model
from tfglow.serving import existing_versions, next_version, saved_model

CONFIG = GlowConfig.preset("tiny")


@pytest.fixture(scope="module")
def model():
    model = GlowModel(CONFIG)
    model.initialize(np.random.default_rng(0).integers(0, 256, (8, *CONFIG.image_shape), np.uint8))
    flow_testing.randomize_variables(model, stddev=0.05)
    return model


@pytest.fixture
def fake_save(monkeypatch):
    """Replaces the SavedModel writer by one that writes `saved_model.pb` holding "fake"."""

    def save(module, directory):
        with open(os.path.join(directory, "saved_model.pb"), "w") as file:
            file.write("fake")

    monkeypatch.setattr(saved_model, "_save", save)


def _make_versions(export_dir, names):
    for name in names:
        os.makedirs(export_dir / name)


def test_next_version_is_one_more_than_the_highest_integer_directory(tmp_path):
    assert existing_versions(str(tmp_path / "missing")) == []
    assert next_version(str(tmp_path)) == 1
    _make_versions(tmp_path, ["1", "3", "notes", ".tmp-7-abc", "10x"])
    assert existing_versions(str(tmp_path)) == [1, 3]
    assert next_version(str(tmp_path)) == 4


def test_export_writes_the_next_free_version(model, tmp_path, fake_save):
    _make_versions(tmp_path, ["1", "3"])
    path = export_saved_model(model, str(tmp_path))
    assert path == str(tmp_path / "4")
    with open(tmp_path / "4" / "saved_model.pb") as file:
        assert file.read() == "fake"
    assert sorted(os.listdir(tmp_path)) == ["1", "3", "4"]
    assert export_saved_model(model, str(tmp_path)) == str(tmp_path / "5")


def test_export_creates_a_missing_export_directory(model, tmp_path, fake_save):
    assert export_saved_model(model, str(tmp_path / "a" / "b"), version=7) == str(
        tmp_path / "a" / "b" / "7"
    )


def test_an_existing_version_is_never_overwritten(model, tmp_path, fake_save):
    _make_versions(tmp_path, ["2"])
    (tmp_path / "2" / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match=r"version 2 already exists .*next free: 3"):
        export_saved_model(model, str(tmp_path), version=2)
    assert sorted(os.listdir(tmp_path / "2")) == ["keep.txt"]
    assert sorted(os.listdir(tmp_path)) == ["2"]


@pytest.mark.parametrize("version", [0, -1, "2", 2.0, True])
def test_a_version_must_be_a_positive_integer(model, tmp_path, fake_save, version):
    with pytest.raises(ValueError, match="version must be a positive integer"):
        export_saved_model(model, str(tmp_path), version=version)
    assert os.listdir(tmp_path) == []


def test_a_failed_save_leaves_no_version_and_no_staging_directory(model, tmp_path, monkeypatch):
    def crash(module, directory):
        with open(os.path.join(directory, "saved_model.pb"), "w") as file:
            file.write("half")
        raise OSError("disk full")

    monkeypatch.setattr(saved_model, "_save", crash)
    _make_versions(tmp_path, ["1"])
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(model, str(tmp_path))
    assert os.listdir(tmp_path) == ["1"]


def test_an_uninitialised_model_is_refused_before_anything_is_written(tmp_path, fake_save):
    with pytest.raises(ValueError, match="ActNorm layers were never initialised"):
        export_saved_model(GlowModel(CONFIG), str(tmp_path / "export"))
    assert not os.path.exists(tmp_path / "export" / "1")
