"""Nothing lost, nothing silent: damaged files, divergence, refused resumes, two runs at once.

Each numbered defect of the fault-and-misuse probe has a test here that fails on the code before
the fix; the classes of defects (silent arguments, late failures, raw errors) are table-driven.
The training runs are the command line in-process, on 8×8 MNIST so that each takes seconds.
"""

import functools
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from export import export_model as export_program
from tests import flow_testing
from tests.file_digests import file_digests
from tfglow import GlowConfig
from tfglow.recipe import checkpoint_files, run_lock
from tfglow.recipe.checkpointing import CHECKPOINT_SUBDIRECTORY, checkpoint_manager, restore_model
from tfglow.recipe.config import TrainingConfig
from tfglow.recipe.optimizers import make_optimizer
from tfglow.recipe.trainer import _can_jit_compile
from training import evaluate as evaluate_program
from training import train as train_program

FLAGS = [
    "--config", "mnist_tiny", "--image_size", "8", "--image_shape", "8,8,1",
    "--final_eval_examples", "0", "--batch_size", "8", "--steps_per_epoch", "3",
    "--validation_steps", "1", "--num_samples", "1", "--temperatures", "0.7", "--verbose", "0",
]  # fmt: skip


def _train(model_dir, *flags) -> int:
    return train_program.main(FLAGS + ["--model_dir", str(model_dir), *flags])


def _checkpoints(model_dir):
    return os.path.join(model_dir, CHECKPOINT_SUBDIRECTORY)


@pytest.fixture(scope="module")
def six_steps(tmp_path_factory):
    """A run of 6 steps with checkpoints at 3 and 6, copied afresh for each test."""
    model_dir = tmp_path_factory.mktemp("six_steps")
    assert _train(model_dir, "--steps", "6", "--checkpoint_every", "3") == 0
    return model_dir


@pytest.fixture
def run_dir(six_steps, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(six_steps, target)
    return target


# ---- 1. a damaged checkpoint index ----------------------------------------------------------


def test_a_missing_state_file_resumes_from_the_newest_checkpoint_and_deletes_nothing(
    run_dir, capsys
):
    checkpoints = _checkpoints(run_dir)
    for name in os.listdir(checkpoints):  # a user's copy kept beside the run's checkpoints
        if name.startswith("ckpt-3."):
            with open(os.path.join(checkpoints, name), "rb") as source:
                data = source.read()
            with open(os.path.join(checkpoints, "best-" + name), "wb") as copy:
                copy.write(data)
    user_files = {n: d for n, d in file_digests(checkpoints).items() if n.startswith("best-")}
    os.remove(os.path.join(checkpoints, "checkpoint"))
    assert _train(run_dir, "--steps", "9", "--checkpoint_every", "3") == 0
    printed = capsys.readouterr().out
    assert "Trained steps 6 -> 9" in printed and "Resumed from" in printed
    remaining = file_digests(checkpoints)
    assert {n: remaining.get(n) for n in user_files} == user_files
    assert all(f"ckpt-{step}.index" in remaining for step in (3, 6, 9))


@pytest.mark.slow  # resumes training; the truncated shard below takes the same fallback fast
def test_a_missing_latest_index_falls_back_to_the_earlier_checkpoint(run_dir, capsys):
    os.remove(os.path.join(_checkpoints(run_dir), "ckpt-6.index"))
    assert _train(run_dir, "--steps", "7", "--checkpoint_every", "3") == 0
    assert "Trained steps 3 -> 7" in capsys.readouterr().out
    assert os.path.exists(os.path.join(_checkpoints(run_dir), "ckpt-6.data-00000-of-00001"))


def test_a_truncated_data_shard_falls_back_to_the_previous_checkpoint(run_dir, capsys):
    shard = os.path.join(_checkpoints(run_dir), "ckpt-6.data-00000-of-00001")
    with open(shard, "r+b") as file:
        file.truncate(os.path.getsize(shard) // 2)
    model, step = restore_model(run_dir)
    assert step == 3
    assert _train(run_dir, "--steps", "7", "--checkpoint_every", "3") == 0
    assert "Trained steps 3 -> 7" in capsys.readouterr().out


def test_checkpoint_files_without_a_whole_checkpoint_refuse_to_start_and_stay(run_dir, capsys):
    checkpoints = _checkpoints(run_dir)
    for name in os.listdir(checkpoints):
        if name.endswith(".index"):
            os.remove(os.path.join(checkpoints, name))
    before = file_digests(checkpoints)
    assert _train(run_dir, "--steps", "9") == 2
    assert "no whole checkpoint" in capsys.readouterr().err
    assert file_digests(checkpoints) == before


# ---- 2. after a NaN stop, the last good checkpoint is good ----------------------------------


def test_after_a_divergence_the_named_checkpoint_evaluates_to_a_finite_figure(run_dir, capsys):
    code = _train(
        run_dir, "--steps", "30", "--learning_rate", "1000", "--warmup_steps", "0",
        "--checkpoint_every", "1",
    )  # fmt: skip
    assert code == 1
    error = capsys.readouterr().err
    assert "last good checkpoint" in error
    named = error.split("The last good checkpoint, ")[1].split(" (step")[0]
    model, _ = restore_model(run_dir, use_ema=False, checkpoint_path=named)
    images = np.random.default_rng(0).integers(0, 256, size=(8, 8, 8, 1), dtype=np.uint8)
    assert np.all(np.isfinite(model.bits_per_dim(images, dequantize=False)))
    assert evaluate_program.main(["--model_dir", str(run_dir), "--limit", "16"]) == 0


def test_evaluate_and_export_refuse_non_finite_weights(run_dir, tmp_path):
    model, step = restore_model(run_dir, use_ema=False)
    optimizer = make_optimizer("adam")
    optimizer.build(model.trainable_variables)
    variable = model.trainable_variables[0]
    variable.assign(tf.fill(variable.shape, np.nan))
    checkpoint_manager(run_dir, model, optimizer).save(checkpoint_number=step + 1)
    with pytest.raises(SystemExit, match="NaN or infinite weights"):
        evaluate_program.main(["--model_dir", str(run_dir), "--limit", "8", "--no_ema"])
    with pytest.raises(SystemExit, match="NaN or infinite weights"):
        export_program.main(["--model_dir", str(run_dir), "--export_dir", str(tmp_path / "export")])
    assert not os.path.exists(tmp_path / "export" / "1")


# ---- 4. a refused resume changes nothing ----------------------------------------------------


@pytest.mark.parametrize(
    "flags, field",
    [(["--ema", "0.99"], "ema_momentum"), (["--optimizer", "adamax"], "optimizer")],
)
def test_a_resume_with_another_optimizer_state_is_refused_and_changes_nothing(
    run_dir, capsys, flags, field
):
    before = file_digests(run_dir)
    assert _train(run_dir, "--steps", "9", *flags) == 2
    assert field in capsys.readouterr().err
    assert file_digests(run_dir) == before
    assert evaluate_program.main(["--model_dir", str(run_dir), "--limit", "8"]) == 0


@pytest.mark.slow  # a second training run; kept out of the fast suite for its 10-minute budget
def test_turning_on_reversible_gradients_resumes_the_same_model(run_dir, capsys):
    assert _train(run_dir, "--steps", "7", "--reversible_gradients") == 0
    assert "Trained steps 6 -> 7" in capsys.readouterr().out


# ---- 5. one writer per model directory ------------------------------------------------------


def test_a_second_run_on_a_held_directory_is_refused_naming_the_holder(run_dir, capsys):
    before = file_digests(_checkpoints(run_dir))
    with run_lock.hold(run_dir):
        assert _train(run_dir, "--steps", "9") == 2
    error = capsys.readouterr().err
    assert str(run_dir) in error and f"process {os.getpid()}" in error
    assert file_digests(_checkpoints(run_dir)) == before


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time\nfrom tfglow.recipe import run_lock\n"
            "with run_lock.hold(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(run_lock.ModelDirectoryBusyError, match=f"process {holder.pid}"):
            with run_lock.hold(tmp_path):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        with run_lock.hold(tmp_path):
            pass
    finally:
        holder.kill()


def _newest_committed_step(model_dir) -> int:
    newest = checkpoint_files.resumable_checkpoints(_checkpoints(model_dir), repair=False)[0]
    return int(newest.rsplit("-", 1)[1])


@pytest.mark.slow
def test_the_lock_of_a_training_run_refuses_a_second_and_dies_with_it(run_dir, capsys):
    """A real `training.train` process, training: a second run is refused; after `kill -9` the
    next run takes the directory and resumes from the newest committed checkpoint."""
    trainer = subprocess.Popen(
        [sys.executable, "-m", "training.train", *FLAGS, "--model_dir", str(run_dir),
         "--steps", "100000", "--checkpoint_every", "3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while _newest_committed_step(run_dir) == 6:
            assert trainer.poll() is None, "the training run ended before it saved a checkpoint"
            assert time.monotonic() < deadline, "no new checkpoint within 240 s"
            time.sleep(0.5)
        assert _train(run_dir, "--steps", "100000") == 2
        assert f"process {trainer.pid}" in capsys.readouterr().err
        os.kill(trainer.pid, signal.SIGKILL)
        trainer.wait(timeout=30)
    finally:
        trainer.kill()
    step = _newest_committed_step(run_dir)
    assert step > 6
    assert _train(run_dir, "--steps", str(step + 1)) == 0
    assert f"Trained steps {step} -> {step + 1}" in capsys.readouterr().out


# ---- 7. --jit_compile on one device ---------------------------------------------------------


def test_jit_compile_on_the_default_strategy_is_allowed():
    config = TrainingConfig(GlowConfig.preset("tiny"), jit_compile=True)
    assert _can_jit_compile(config, tf.distribute.get_strategy()) is True


# ---- classes: silent arguments and late failures are usage errors at once --------------------


@pytest.mark.parametrize(
    "program, arguments",
    [
        (evaluate_program, ["--limit", "-1"]),
        (evaluate_program, ["--batch_size", "0"]),
        (train_program, ["--temperatures", "nan"]),
        (train_program, ["--temperatures", "0.5,-1"]),
        (train_program, ["--max_minutes", "0"]),
        (train_program, ["--max_minutes", "nan"]),
        (train_program, ["--steps_per_level", "0"]),
    ],
)
def test_bad_flags_are_usage_errors_before_any_work(program, arguments, tmp_path, capsys):
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        program.main(["--model_dir", str(tmp_path / "new"), *arguments])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "new" / CHECKPOINT_SUBDIRECTORY)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(image_shape=(28.7, 28, 1)), "image_shape must be"),
        (dict(image_shape="28,28,1"), "image_shape must be"),
        (dict(actnorm="false"), "actnorm must be True or False"),
        (dict(learn_top_prior=1), "learn_top_prior must be True or False"),
        (dict(num_bits="8"), "num_bits must be a positive integer"),
        (dict(num_levels=2.0), "num_levels must be a positive integer"),
        (dict(num_classes=2.5), "num_classes must be a positive integer"),
        (dict(seed=True), "seed must be an integer"),
        (dict(classifier_weight=True, num_classes=3), "classifier_weight must be"),
    ],
)
def test_glow_config_refuses_wrong_types_naming_the_field(changes, message):
    fields = dict(image_shape=(8, 8, 1), num_levels=2, steps_per_level=1, hidden_channels=4)
    with pytest.raises(ValueError, match=message):
        GlowConfig(**{**fields, **changes})


@pytest.mark.parametrize("damage", ["truncated", "unknown_field", "not_json"])
def test_a_damaged_config_file_is_a_named_error(run_dir, damage):
    path = os.path.join(run_dir, "glow_config.json")
    text = open(path).read()
    damaged = {
        "truncated": text[: len(text) // 2],
        "unknown_field": text.replace('"actnorm"', '"act_norm_typo"'),
        "not_json": "\x00\x01",
    }[damage]
    open(path, "w").write(damaged)
    with pytest.raises(ValueError, match="glow_config.json is damaged"):
        restore_model(run_dir)


def test_export_ignores_junk_names_and_removes_only_dead_exports_staging(tmp_path):
    from tfglow.serving.saved_model import existing_versions, remove_abandoned_staging

    export_dir = tmp_path / "export"
    for name in ("3", "v4", "²", "12abc"):
        (export_dir / name).mkdir(parents=True)
    (export_dir / "99").write_text("a file, not a version")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (export_dir / f".tmp-5-pid{dead.pid}-abc").mkdir()
    (export_dir / f".tmp-6-pid{os.getpid()}-def").mkdir()
    assert existing_versions(str(export_dir)) == [3]
    removed = remove_abandoned_staging(str(export_dir))
    assert [os.path.basename(path) for path in removed] == [f".tmp-5-pid{dead.pid}-abc"]
    assert (export_dir / f".tmp-6-pid{os.getpid()}-def").exists()


def test_a_damaged_gz_data_file_is_a_named_error(tmp_path):
    import gzip

    from tfglow.data import sources

    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as file:
        file.write(os.urandom(20000))  # incompressible, so that the cut lands in the stream
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(sources.SourceUnavailableError, match="cannot be read"):
        sources.check_idx_file(path, "test_labels")


def test_resumable_checkpoints_lists_the_state_files_latest_first(run_dir):
    candidates = checkpoint_files.resumable_checkpoints(_checkpoints(run_dir), repair=False)
    assert [os.path.basename(path) for path in candidates] == ["ckpt-6", "ckpt-3"]


# ---- 3. reading a model never initialises it -------------------------------------------------


def _tiny_model(**changes):
    from tfglow import GlowModel

    fields = dict(image_shape=(8, 8, 1), num_levels=2, steps_per_level=1, hidden_channels=8)
    return GlowModel(GlowConfig(**{**fields, **changes}))


_pixels = functools.partial(flow_testing.random_pixels, batch=8, shape=(8, 8, 1))


@pytest.mark.parametrize("read", ["log_prob", "encode", "bits_per_dim", "evaluate", "predict"])
def test_reading_an_uninitialised_model_fails_and_initialises_nothing(read):
    model = _tiny_model()
    images = _pixels()
    with pytest.raises(tf.errors.InvalidArgumentError, match="is not initialised"):
        if read in ("evaluate", "predict"):
            import tf_keras

            model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
            getattr(model, read)(images, batch_size=4, verbose=0)
        else:
            getattr(model, read)(images)
    assert not model.is_initialized


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((0, 8, 8, 1), np.uint8), "at least 2 images, got 0"),
        (np.full((1, 8, 8, 1), 120, np.uint8), "at least 2 images, got 1"),
        (np.zeros((4, 8, 8, 1), np.uint8), "every pixel of the batch is 0"),
    ],
)
def test_initialisation_refuses_a_batch_that_cannot_initialise(images, message):
    model = _tiny_model()
    with pytest.raises(ValueError, match=message):
        model.initialize(images)
    assert not model.is_initialized
    assert all(np.all(np.isfinite(v.numpy())) for v in model.variables if v.dtype.is_floating)


def test_fit_on_an_empty_array_raises_and_leaves_the_model_uninitialised():
    import tf_keras

    model = _tiny_model()
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    with pytest.raises(ValueError, match="at least 2 images"):
        model.fit(np.zeros((0, 8, 8, 1), np.uint8), batch_size=4, verbose=0)
    assert not model.is_initialized


# ---- 6. every Keras path checks the pixels ---------------------------------------------------


@pytest.mark.parametrize("path", ["evaluate", "predict", "fit"])
@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x: x.astype(np.float32) / 255.0, "non-integer values"),
        (lambda x: x.astype(np.int32) + 300, "above 255"),
    ],
)
def test_keras_paths_refuse_what_log_prob_refuses(path, bad, message):
    import tf_keras

    model = _tiny_model()
    model.initialize(_pixels())
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        getattr(model, path)(bad(_pixels(batch=8, seed=1)), batch_size=4, verbose=0)


# ---- classes: library arguments --------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: m.sample(-1), ValueError, "num_samples must be a positive integer"),
        (lambda m: m.sample(2.5), ValueError, "num_samples must be a positive integer"),
        (lambda m: m.sample(2, temperature=[0.5]), ValueError, "temperature must be finite"),
        (lambda m: m.sample(2, seed=2**70), ValueError, r"seed must be an integer in \[0, 2\^63\)"),
        (lambda m: m.sample(2, seed=1.5), ValueError, "seed must be an integer"),
    ],
)
def test_sample_refuses_bad_arguments_by_name(call, error, message):
    model = _tiny_model()
    model.initialize(_pixels())
    with pytest.raises(error, match=message):
        call(model)


@pytest.mark.parametrize(
    "labels, error, message",
    [
        (np.int32([0, 1]), ValueError, "one entry per image"),
        (np.float32([0, 1, 2, 0]), TypeError, "labels must be integers"),
        (np.uint64([0, 1, 2, 5]), ValueError, r"labels must be in \[0, 3\), got 5"),
        (None, ValueError, "labels are required"),
    ],
)
def test_label_problems_are_named_errors(labels, error, message):
    model = _tiny_model(num_classes=3)
    images = _pixels(batch=4)
    model.initialize(images, np.int32([0, 1, 2, 0]))
    with pytest.raises(error, match=message):
        model.log_prob(images, labels)
