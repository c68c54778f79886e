"""`export/serving/serve.sh`: the `docker run` of TF Serving it starts, with a stand-in `docker`."""

import os
import pathlib
import subprocess

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "export" / "serving" / "serve.sh"


def _serve(tmp_path, *arguments) -> subprocess.CompletedProcess:
    """Runs serve.sh with a `docker` on PATH that writes its arguments, one per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path / "docker_args"}"\n')
    docker.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "TF_SERVING_IMAGE"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", str(SCRIPT), *arguments], env=env, capture_output=True, text=True
    )


def _docker_arguments(tmp_path) -> list[str]:
    return (tmp_path / "docker_args").read_text().splitlines()


def test_serves_the_export_directory_with_the_model_config(tmp_path):
    export_dir = tmp_path / "exports"
    export_dir.mkdir()
    assert _serve(tmp_path, str(export_dir)).returncode == 0
    arguments = _docker_arguments(tmp_path)
    assert f"{export_dir}:/models/glow:ro" in arguments
    assert "--model_config_file=/models/models.config" in arguments
    assert not any(a.startswith("--tensorflow_") for a in arguments)


@pytest.mark.parametrize(
    "flags",
    [
        ["--tensorflow_intra_op_parallelism=1"],
        ["--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=2"],
    ],
)
def test_arguments_after_the_export_directory_go_to_the_server(tmp_path, flags):
    export_dir = tmp_path / "exports"
    export_dir.mkdir()
    assert _serve(tmp_path, str(export_dir), *flags).returncode == 0
    arguments = _docker_arguments(tmp_path)
    # The server's flags come after the image name, where tensorflow_model_server receives them.
    assert arguments[-len(flags) :] == flags
    assert arguments.index("tensorflow/serving") < arguments.index(flags[0])


def test_a_missing_export_directory_is_a_clear_error(tmp_path):
    process = _serve(tmp_path, str(tmp_path / "no_such_dir"))
    assert process.returncode != 0
    assert "no_such_dir" in process.stderr
    assert not (tmp_path / "docker_args").exists()
