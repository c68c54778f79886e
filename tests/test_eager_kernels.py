"""`release_eager_kernel_cache`: the kernels eager TensorFlow keeps for named variables are freed,
and `tfglow.recipe.train` releases them once its variables exist."""

import json

from tests import script_json

COUNT = 3000


def test_releasing_the_cache_frees_the_kernels_of_named_variables():
    growth = script_json.run(__file__)
    # Without a release, each batch of named variables adds its kernels (the control); after it,
    # the next batch reuses their memory.
    assert growth["first"] > 20, growth  # MB for 3,000 variables (about 38 KB each measured)
    assert growth["second_kept"] > 0.7 * growth["first"], growth
    assert growth["third_after_release"] < 0.6 * growth["second_kept"], growth


def test_train_releases_the_cache_after_building_its_variables(monkeypatch, tmp_path):
    from tfglow import recipe
    from tfglow.recipe import trainer
    from training import configs

    built, slots_at_release = [], []
    build, release = trainer._build_and_restore, trainer.eager_kernels.release_eager_kernel_cache

    def build_and_keep(*args, **kwargs):
        model, *rest = build(*args, **kwargs)
        built.append(model)
        return (model, *rest)

    def recording_release():
        slots_at_release.append(len(built[-1].optimizer.variables()))
        release()

    monkeypatch.setattr(trainer, "_build_and_restore", build_and_keep)
    monkeypatch.setattr(trainer.eager_kernels, "release_eager_kernel_cache", recording_release)
    config = configs.get_config("mnist_tiny").replace(
        steps=1, steps_per_epoch=1, validation_steps=1, batch_size=4, num_samples=1
    )
    result = recipe.train(config, tmp_path, verbose=0)
    # Once, when the flow's weights had their optimizer slots (two moments each).
    weights = len(result.model.trainable_variables)
    assert result.end_step == 1 and len(slots_at_release) == 1
    assert slots_at_release[0] >= 2 * weights > 0


def _rss_megabytes() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    import tensorflow as tf

    from tfglow.recipe import release_eager_kernel_cache

    def named_variables(prefix):
        before = _rss_megabytes()
        variables = [tf.Variable(tf.zeros([i % 7 + 1]), name=f"{prefix}{i}") for i in range(COUNT)]
        return variables, _rss_megabytes() - before

    tf.Variable(0.0, name="warm_up")
    first, first_growth = named_variables("a")
    second, second_growth = named_variables("b")
    release_eager_kernel_cache()
    third, third_growth = named_variables("c")
    print(
        json.dumps(
            dict(first=first_growth, second_kept=second_growth, third_after_release=third_growth)
        )
    )
