"""`tfglow.keras.GlowModel`: a Keras 3 user's script, exact saving, the two Kerases kept apart."""

import functools
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfglow
import tfglow.keras
from tests import flow_testing, script_json
from tfglow import GlowConfig

CONFIG = GlowConfig(image_shape=(28, 28, 1), num_levels=2, steps_per_level=1, hidden_channels=8)


@pytest.fixture(scope="module")
def digits():
    train = tfglow.data.load_numpy("mnist", "train", limit=256)
    test = tfglow.data.load_numpy("mnist", "test", limit=64)
    return train, test


def test_a_keras_3_users_script_end_to_end_on_real_digits(digits, tmp_path):
    train, test = digits
    model = tfglow.keras.GlowModel(CONFIG)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    untrained = tfglow.keras.GlowModel(CONFIG)
    untrained.initialize(train[:32])
    before = float(np.mean(untrained.bits_per_dim(test, seed=0)))
    callbacks = [
        keras.callbacks.EarlyStopping("val_bits_per_dim", mode="min", patience=3),
        keras.callbacks.TensorBoard(str(tmp_path / "logs")),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(tmp_path / "best.weights.h5"), monitor="val_loss", save_best_only=True,
            save_weights_only=True,
        ),
    ]  # fmt: skip
    history = model.fit(
        train, batch_size=32, epochs=3, validation_data=(test,), callbacks=callbacks, verbose=0
    ).history
    assert set(history) >= {"loss", "bits_per_dim", "val_loss", "val_bits_per_dim"}
    after = float(np.mean(model.bits_per_dim(test, seed=0)))
    assert after < before - 0.3, (before, after)
    assert model.evaluate(test, batch_size=32, verbose=0, return_dict=True)["bits_per_dim"] < before
    assert model.predict(test[:5], verbose=0).shape == (5,)
    assert os.listdir(tmp_path / "logs") and os.path.exists(tmp_path / "best.weights.h5")

    # save_weights / load_weights round-trip the whole flow exactly.
    model.save_weights(str(tmp_path / "glow.weights.h5"))
    restored = tfglow.keras.GlowModel(CONFIG)
    restored.load_weights(str(tmp_path / "glow.weights.h5"))
    np.testing.assert_array_equal(restored.log_prob(test), model.log_prob(test))
    np.testing.assert_array_equal(restored.encode(test), model.encode(test))

    # The SavedModel of the Keras 3 model serves what the model computes.
    path = tfglow.export_saved_model(model, str(tmp_path / "export"))
    served = tf.saved_model.load(path).signatures["log_prob"](images=tf.constant(test[:4]))
    np.testing.assert_allclose(served["log_prob"], model.log_prob(test[:4]), rtol=1e-5)


def test_trainable_weights_list_every_flow_variable_and_each_gets_updated(digits):
    train, _ = digits
    model = tfglow.keras.GlowModel(CONFIG.replace(num_classes=10, classifier_weight=0.5))
    flow = {id(v) for v in [*model.bijector.trainable_variables, *model.classifier.variables]}
    assert flow <= {id(v) for v in model.trainable_weights}
    labels = np.arange(len(train), dtype=np.int32) % 10
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.initialize(train[:32], labels[:32])
    before = [v.numpy().copy() for v in model.trainable_weights]
    model.fit(train[:64], labels[:64], batch_size=32, epochs=1, verbose=0)
    unchanged = [
        v.name for v, b in zip(model.trainable_weights, before) if np.array_equal(v.numpy(), b)
    ]
    assert not unchanged


def test_a_keras_file_round_trips_exactly_and_another_config_is_refused(digits, tmp_path):
    train, test = digits
    model = tfglow.keras.GlowModel(CONFIG)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(train[:64], batch_size=32, epochs=1, verbose=0)
    model.save(str(tmp_path / "glow.keras"))
    loaded = keras.models.load_model(str(tmp_path / "glow.keras"))
    assert isinstance(loaded, tfglow.keras.GlowModel) and loaded.config == CONFIG
    np.testing.assert_array_equal(loaded.log_prob(test), model.log_prob(test))
    from export import export_model

    path = export_model.main(
        ["--keras_file", str(tmp_path / "glow.keras"), "--export_dir", str(tmp_path / "exports")]
    )
    served = tf.saved_model.load(path).signatures["log_prob"](images=tf.constant(test[:4]))
    np.testing.assert_allclose(served["log_prob"], model.log_prob(test[:4]), rtol=1e-5)
    other = tfglow.keras.GlowModel(CONFIG.replace(steps_per_level=2))
    model.save_weights(str(tmp_path / "glow.weights.h5"))
    with pytest.raises(ValueError, match="another GlowConfig"):
        other.load_weights(str(tmp_path / "glow.weights.h5"))


def test_realnvps_batch_norms_train_and_save_under_keras_3(digits, tmp_path):
    train, test = digits
    config = GlowConfig.preset(
        "realnvp_cpu", steps_per_level=1, hidden_channels=8, residual_blocks=1
    )
    model = tfglow.keras.GlowModel(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.initialize(train[:32])
    initial = [layer.moving_mean.numpy() for layer in model.bijector.batch_norms]
    model.fit(train[:64], batch_size=32, epochs=1, verbose=0)
    assert all(
        not np.array_equal(layer.moving_mean.numpy(), before)
        for layer, before in zip(model.bijector.batch_norms, initial)
    )
    model.save(str(tmp_path / "realnvp.keras"))
    loaded = keras.models.load_model(str(tmp_path / "realnvp.keras"))
    for layer, loaded_layer in zip(model.bijector.batch_norms, loaded.bijector.batch_norms):
        np.testing.assert_array_equal(loaded_layer.moving_variance, layer.moving_variance)
    np.testing.assert_array_equal(loaded.log_prob(test), model.log_prob(test))
    np.testing.assert_array_equal(loaded.decode(loaded.encode(test)), test)
    path = tfglow.export_saved_model(model, str(tmp_path / "export"))
    served = tf.saved_model.load(path).signatures["log_prob"](images=tf.constant(test[:4]))
    np.testing.assert_allclose(served["log_prob"], model.log_prob(test[:4]), rtol=1e-5)


MIXED = {
    "keras3_optimizer_to_tf_keras": (
        tfglow.GlowModel,
        lambda m: m.compile(optimizer=keras.optimizers.Adam()),
    ),
    "keras3_loss_to_tf_keras": (
        tfglow.GlowModel,
        lambda m: m.compile("adam", loss=keras.losses.MeanSquaredError()),
    ),
    "keras3_callback_to_tf_keras": (
        tfglow.GlowModel,
        lambda m: m.fit(_pixels(), callbacks=[keras.callbacks.EarlyStopping()]),
    ),
    "tf_keras_optimizer_to_keras3": (
        tfglow.keras.GlowModel,
        lambda m: m.compile(optimizer=tf_keras.optimizers.Adam()),
    ),
    "tf_keras_callback_to_keras3": (
        tfglow.keras.GlowModel,
        lambda m: m.fit(_pixels(), callbacks=[tf_keras.callbacks.EarlyStopping()]),
    ),
}


@pytest.mark.parametrize("case", sorted(MIXED))
def test_objects_of_the_other_keras_are_refused_naming_the_fix(case):
    model_class, call = MIXED[case]
    fix = "tfglow.keras.GlowModel" if model_class is tfglow.GlowModel else "tf_keras"
    model = model_class(GlowConfig.preset("tiny"))
    with pytest.raises(TypeError, match=f"this model is a .*{fix}"):
        call(model)


_pixels = functools.partial(flow_testing.random_pixels, batch=8, shape=(8, 8, 1))


# ---- MirroredStrategy on 2 logical CPUs: the same loss as one device -------------------------


def _run_comparison() -> dict:
    from tfglow import recipe

    recipe.configure_cpu_devices(2)

    class NoiseFree(tfglow.keras.GlowModel):
        def to_flow(self, images, noise=None):
            return super().to_flow(images, None)

    images = tfglow.data.load_numpy("mnist", "train", limit=64)

    def losses(strategy):
        with strategy.scope():
            model = NoiseFree(CONFIG)
            model.compile(optimizer=keras.optimizers.SGD(0.01))
        history = model.fit(
            images, batch_size=16, epochs=3, steps_per_epoch=1, shuffle=False, verbose=0
        )
        return history.history["loss"]

    single = losses(tf.distribute.get_strategy())
    strategy = recipe.make_strategy("mirrored")
    return {"replicas": strategy.num_replicas_in_sync, "single": single,
            "mirrored": losses(strategy)}  # fmt: skip


def test_mirrored_strategy_gives_the_single_device_losses():
    result = script_json.run(__file__)
    assert result["replicas"] == 2
    np.testing.assert_allclose(result["mirrored"], result["single"], rtol=1e-5)


if __name__ == "__main__":
    print(json.dumps(_run_comparison()))
