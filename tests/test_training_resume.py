"""Kill-and-resume: a training process killed with SIGKILL after its first checkpoint, started again
with the same command, continues from the saved step to the end."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfglow.recipe import restore_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 60
TIMEOUT_SECONDS = 300


def _command(model_dir):
    return [
        sys.executable,
        "-m",
        "training.train",
        "--config",
        "mnist_tiny",
        "--model_dir",
        str(model_dir),
        "--steps",
        str(STEPS),
        "--steps_per_epoch",
        "20",
        "--checkpoint_every",
        "3",
        "--keep_checkpoints",
        "100",
        "--validation_steps",
        "1",
        "--batch_size",
        "8",
        "--num_samples",
        "1",
        "--temperatures",
        "0.7",
        "--final_eval_examples",
        "0",
        "--verbose",
        "2",
    ]


def _environment():
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


# Slow: two training processes, one killed. The fast suite covers resuming in-process
# (`test_training_run.py`) and killed saves (`test_multi_worker.py`).
@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint_with_the_same_command(tmp_path):
    checkpoint_dir = os.path.join(tmp_path, "checkpoints")
    process = subprocess.Popen(
        _command(tmp_path),
        cwd=REPO,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while tf.train.latest_checkpoint(checkpoint_dir) is None:
        assert process.poll() is None, (
            f"training ended before its first checkpoint:\n{process.stdout.read()}"
        )
        assert time.monotonic() < deadline, "no checkpoint within the time limit"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    killed_output = process.communicate()[0]
    assert process.returncode == -signal.SIGKILL
    assert "Trained steps" not in killed_output

    saved = tf.train.latest_checkpoint(checkpoint_dir)
    saved_step = int(saved.rsplit("-", 1)[1])
    assert 0 < saved_step < STEPS
    saved_model, _ = restore_model(tmp_path, use_ema=False, checkpoint_path=saved)
    saved_weights = [v.numpy() for v in saved_model.bijector.variables]

    resumed = subprocess.run(
        _command(tmp_path),
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"Resumed from {saved}: step {saved_step}," in resumed.stdout
    assert f"Trained steps {saved_step} -> {STEPS}" in resumed.stdout
    # Epoch numbering carries on too: the resumed run starts in the epoch the killed one was in.
    first_epoch = int(re.search(r"Epoch (\d+)/3", resumed.stdout).group(1))
    assert first_epoch == saved_step // 20 + 1

    # The checkpoint the killed run saved is untouched, and training went on from it.
    again, _ = restore_model(tmp_path, use_ema=False, checkpoint_path=saved)
    for before, after in zip(saved_weights, again.bijector.variables):
        np.testing.assert_array_equal(before, after.numpy())
    final, final_step = restore_model(tmp_path, use_ema=False)
    assert final_step == STEPS
    assert any(
        not np.array_equal(before, after.numpy())
        for before, after in zip(saved_weights, final.bijector.variables)
    )
