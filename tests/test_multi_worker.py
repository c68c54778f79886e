"""Training across worker processes with `MultiWorkerMirroredStrategy` on 127.0.0.1, surviving a
killed worker, never leaving a half-written checkpoint, and reproducible with a fixed seed.

Every cluster runs as separate Python processes with the standard `TF_CONFIG` on free loopback
ports, bounded by subprocess timeouts. The cluster and training runs take one to two minutes each
on a 2-core machine and are marked slow: `pytest -m slow tests/test_multi_worker.py`.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests import multi_worker_cluster as cluster
from tfglow.recipe import checkpoint_files, multi_worker, restore_model

TESTS = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_SECONDS = 300


# ---- who writes where -------------------------------------------------------------------------


def _with_tf_config(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(value))


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        (
            {
                "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
                "task": {"type": "chief", "index": 0},
            },
            True,
        ),
        (
            {
                "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
                "task": {"type": "worker", "index": 0},
            },
            False,
        ),
    ],
)
def test_only_the_chief_writes_into_the_model_directory(monkeypatch, tmp_path, tf_config, chief):
    _with_tf_config(monkeypatch, tf_config)
    assert multi_worker.is_chief() == chief
    write_dir = multi_worker.write_directory(tmp_path)
    if chief:
        assert write_dir == str(tmp_path)
    else:
        index = tf_config["task"]["index"]
        assert write_dir == os.path.join(tmp_path, f".worker-worker-{index}")


def test_a_single_process_strategy_writes_into_the_model_directory_despite_a_tf_config(
    monkeypatch, tmp_path
):
    _with_tf_config(
        monkeypatch, {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}
    )
    assert not multi_worker.is_chief()
    assert multi_worker.is_chief(tf.distribute.get_strategy())
    assert multi_worker.write_directory(tmp_path, tf.distribute.get_strategy()) == str(tmp_path)


def test_removing_a_write_directory_spares_the_chiefs_model_directory(tmp_path):
    (tmp_path / "kept.txt").write_text("chief")
    worker_dir = tmp_path / ".worker-worker-1"
    (worker_dir / "checkpoints").mkdir(parents=True)
    (worker_dir / "checkpoints" / "ckpt-1.index").write_text("copy")
    multi_worker.remove_write_directory(tmp_path, tmp_path)
    assert (tmp_path / "kept.txt").exists()
    multi_worker.remove_write_directory(tmp_path, worker_dir)
    assert not worker_dir.exists()
    assert (tmp_path / "kept.txt").exists()


def test_data_sharding_gives_each_worker_its_slice_of_every_global_batch():
    dataset = multi_worker.shard_by_data(tf.data.Dataset.range(8).batch(4))
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    # What each of 2 workers keeps under that policy: rebatch to 2, then every other element.
    shards = [dataset.rebatch(2).shard(2, index) for index in range(2)]
    kept = [[batch.tolist() for batch in shard.as_numpy_iterator()] for shard in shards]
    assert kept == [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]


# ---- two workers equal one process ------------------------------------------------------------


def _equivalence_runs(directory, cluster_mode=()):
    """Final variables and losses of a 2-worker cluster and of one (standard) process."""
    script = os.path.join(TESTS, "multi_worker_equivalence.py")
    workers = cluster.start_workers([script, str(directory / "cluster"), *cluster_mode])
    single = subprocess.run(
        [sys.executable, script, str(directory / "single.npz")],
        cwd=cluster.REPO,
        env=cluster.environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    outputs = cluster.wait_all(workers, TIMEOUT_SECONDS)
    assert single.returncode == 0, single.stderr[-4000:]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-4000:]
    return (
        np.load(directory / "single.npz"),
        [np.load(directory / f"cluster.worker-{index}.npz") for index in range(2)],
    )


@pytest.fixture(scope="module")
def equivalence_runs(tmp_path_factory):
    return _equivalence_runs(tmp_path_factory.mktemp("equivalence"))


@pytest.fixture(scope="module")
def reversible_equivalence_runs(tmp_path_factory):
    """The cluster with reversible gradients, the single process with standard backprop."""
    return _equivalence_runs(tmp_path_factory.mktemp("reversible"), ["reversible"])


def _variables(run):
    return [
        run[key]
        for key in sorted(
            (key for key in run.files if key.startswith("variable_")),
            key=lambda key: int(key.split("_")[1]),
        )
    ]


@pytest.mark.slow
def test_two_workers_end_with_identical_weights(equivalence_runs):
    _, (first, second) = equivalence_runs
    assert int(first["replicas"]) == int(second["replicas"]) == 2
    assert int(first["steps"]) == int(second["steps"]) > 0
    for one, other in zip(_variables(first), _variables(second)):
        np.testing.assert_array_equal(one, other)


@pytest.mark.slow
@pytest.mark.parametrize("runs", ["equivalence_runs", "reversible_equivalence_runs"])
def test_two_workers_train_like_one_process_on_the_same_global_batch(runs, request):
    single, (first, _) = request.getfixturevalue(runs)
    assert int(single["replicas"]) == 1
    assert len(set(single["losses"].tolist())) == len(single["losses"])  # training changed the loss
    np.testing.assert_allclose(first["losses"], single["losses"], rtol=1e-5)
    changed = 0
    for one_process, two_workers in zip(_variables(single), _variables(first)):
        if one_process.dtype == bool:
            np.testing.assert_array_equal(one_process, two_workers)
            continue
        np.testing.assert_allclose(two_workers, one_process, rtol=0, atol=1e-5)
        changed += not np.allclose(one_process, 0)
    assert changed > 10


# ---- `python -m training.train --strategy multi_worker`, killed and restarted -------------------


def _train_arguments(model_dir, steps):
    return [
        "-m",
        "training.train",
        "--config",
        "mnist_tiny",
        "--model_dir",
        str(model_dir),
        "--strategy",
        "multi_worker",
        "--steps",
        str(steps),
        "--steps_per_epoch",
        "4",
        "--checkpoint_every",
        "2",
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


def _read(path):
    with open(path) as file:
        return file.read()


@pytest.mark.slow
def test_a_cluster_with_a_killed_worker_resumes_with_the_same_command(tmp_path):
    steps = 12
    model_dir = tmp_path / "run"
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    ports = cluster.free_ports(2)
    logs = [str(tmp_path / f"worker-{index}.log") for index in range(2)]
    workers = cluster.start_workers(_train_arguments(model_dir, steps), ports=ports, log_paths=logs)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        while tf.train.latest_checkpoint(checkpoint_dir) is None:
            assert all(worker.poll() is None for worker in workers), _read(logs[0])[-4000:]
            assert time.monotonic() < deadline, "no checkpoint within the time limit"
            time.sleep(0.05)
        os.kill(workers[1].pid, signal.SIGKILL)
        workers[1].wait()
        # The chief's collectives fail without their peer, so the chief exits too (a cluster
        # manager then restarts both).
        chief_exited_by_itself = True
        try:
            workers[0].wait(timeout=60)
        except subprocess.TimeoutExpired:
            chief_exited_by_itself = False
    finally:
        cluster.kill_all(workers)
    assert workers[1].returncode == -signal.SIGKILL
    assert chief_exited_by_itself and workers[0].returncode == 1
    assert "Collective ops is aborted" in _read(logs[0])
    assert "Trained steps" not in _read(logs[0]) + _read(logs[1])

    saved = tf.train.latest_checkpoint(checkpoint_dir)
    saved_step = int(saved.rsplit("-", 1)[1])
    assert 0 < saved_step < steps
    saved_weights = [
        v.numpy()
        for v in restore_model(model_dir, use_ema=False, checkpoint_path=saved)[
            0
        ].bijector.variables
    ]

    restarted_logs = [str(tmp_path / f"restarted-{index}.log") for index in range(2)]
    restarted = cluster.start_workers(
        _train_arguments(model_dir, steps), ports=ports, log_paths=restarted_logs
    )
    cluster.wait_all(restarted, TIMEOUT_SECONDS)
    outputs = [_read(path) for path in restarted_logs]
    for worker, output in zip(restarted, outputs):
        assert worker.returncode == 0, output[-4000:]
    resumed = [line for line in outputs[0].splitlines() if line.startswith("Resumed from ")]
    assert resumed and resumed[0].split(":")[0] == f"Resumed from {saved}"
    for output in outputs:
        assert f"Trained steps {saved_step} -> {steps}" in output

    final, final_step = restore_model(model_dir, use_ema=False)
    assert final_step == steps
    assert any(
        not np.array_equal(before, after.numpy())
        for before, after in zip(saved_weights, final.bijector.variables)
    )
    # Only the chief wrote: no worker's temporary copy is left, no half-written checkpoint either.
    assert not [
        name
        for name in os.listdir(model_dir)
        if name.startswith(multi_worker.WORKER_DIRECTORY_PREFIX)
    ]
    assert checkpoint_files.remove_partial_checkpoints(checkpoint_dir) == []


# ---- reproducibility ---------------------------------------------------------------------------


def _train_in_process(model_dir, seed):
    from tfglow import recipe
    from training import configs

    config = configs.get_config("mnist_tiny").replace(
        steps=4,
        steps_per_epoch=4,
        checkpoint_every=4,
        validation_steps=1,
        num_samples=1,
        sample_temperatures=(0.7,),
        seed=seed,
    )
    result = recipe.train(config, model_dir, verbose=0)
    assert result.end_step == 4
    return [variable.numpy() for variable in result.model.bijector.variables]


@pytest.mark.slow
def test_two_single_device_runs_with_the_same_seed_end_with_identical_weights(tmp_path):
    first = _train_in_process(tmp_path / "first", seed=3)
    second = _train_in_process(tmp_path / "second", seed=3)
    other_seed = _train_in_process(tmp_path / "other_seed", seed=4)
    for one, other in zip(first, second):
        np.testing.assert_array_equal(one, other)
    assert any(not np.array_equal(one, other) for one, other in zip(first, other_seed))


# ---- a save killed midway ---------------------------------------------------------------------


def _saver(directory, mode):
    return subprocess.Popen(
        [sys.executable, os.path.join(TESTS, "checkpoint_saver.py"), str(directory), mode],
        cwd=cluster.REPO,
        env=cluster.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _restore_number(directory):
    """The number stored in the latest checkpoint of `directory`, checking that all values agree."""
    from tests.checkpoint_saver import VALUES

    variable = tf.Variable(tf.zeros([VALUES]))
    path = tf.train.latest_checkpoint(str(directory))
    tf.train.Checkpoint(values=variable).restore(path).assert_consumed()
    values = variable.numpy()
    assert np.all(values == values[0])
    assert int(path.rsplit("-", 1)[1]) == int(values[0])
    return int(values[0])


def test_a_save_killed_before_it_commits_leaves_the_previous_checkpoint_as_latest(tmp_path):
    process = _saver(tmp_path, "kill_before_commit")
    output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    assert process.returncode == -signal.SIGKILL, output[-4000:]
    assert any(name.startswith("ckpt-2") for name in os.listdir(tmp_path))  # written, not committed
    assert _restore_number(tmp_path) == 1
    # ckpt-2 is whole, only not yet named by the state file: nothing is partial, nothing deleted.
    assert checkpoint_files.remove_partial_checkpoints(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "ckpt-1.data-00000-of-00001",
        "ckpt-1.index",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]
    assert checkpoint_files.resumable_checkpoints(tmp_path)[0] == str(tmp_path / "ckpt-1")
    assert _restore_number(tmp_path) == 1


def test_a_save_killed_while_writing_its_files_leaves_whole_checkpoints_only(tmp_path):
    process = _saver(tmp_path, "loop")
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        # Kill while a later save is being staged: TensorFlow writes `<prefix>_temp/` first.
        while not (
            tf.train.latest_checkpoint(str(tmp_path))
            and any("_temp" in name for name in os.listdir(tmp_path))
        ):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "no save in progress within the time limit"
            time.sleep(0.001)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    number = _restore_number(tmp_path)
    assert number >= 1
    removed = checkpoint_files.remove_partial_checkpoints(tmp_path)
    assert removed and all("_temp" in path for path in removed)
    assert not any("_temp" in name for name in os.listdir(tmp_path))
    assert _restore_number(tmp_path) == number
    # Saving goes on after the clean-up.
    variable = tf.Variable(tf.zeros([4]))
    tf.train.CheckpointManager(
        tf.train.Checkpoint(other=variable), str(tmp_path), max_to_keep=2
    ).save(checkpoint_number=number + 1)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith(f"ckpt-{number + 1}")
