"""`GlowModel.fit` under `MirroredStrategy` on 2 logical CPU devices equals single-device training.

The logical devices must be configured before TensorFlow initialises, so the comparison runs in a
fresh Python process (this file run as a script) and reports its measurements as JSON.
"""

import json

import pytest

from tests import script_json

REPLICAS = 2
STEPS = 3


def _run_comparison() -> dict:
    """Trains the same model on the same batches on 1 device and on 2 replicas; returns
    measurements."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    from tfglow import GlowConfig, GlowModel, recipe

    recipe.configure_cpu_devices(REPLICAS)

    class NoiseFreeGlowModel(GlowModel):
        """Puts pixels at their bin centres (no dequantisation noise, also in the ActNorm init),
        so that both runs see identical inputs."""

        def to_flow(self, images, noise=None):
            return super().to_flow(images, None)

    config = GlowConfig(image_shape=(8, 8, 1), num_levels=2, steps_per_level=1, hidden_channels=8)
    rng = np.random.default_rng(0)
    batches = rng.integers(0, 256, size=(STEPS + 1, 8, *config.image_shape), dtype=np.uint8)
    # The images vary per channel position so that every ActNorm gets distinct statistics.
    batches = (batches // 2 + np.arange(8, dtype=np.uint8).reshape(1, 1, 8, 1, 1) * 10).astype(
        np.uint8
    )

    class RecordActNormInit(tf_keras.callbacks.Callback):
        """Reads the ActNorm variables when training begins: just after the data-dependent init."""

        def on_train_begin(self, logs=None):
            self.values = {
                v.name: np.asarray(v.numpy())
                for v in self.model.bijector.variables
                if "act_norm" in v.name and v.dtype != tf.bool
            }

    def train(strategy):
        with strategy.scope():
            model = NoiseFreeGlowModel(config)
            # SGD with momentum: linear in the gradients, so float rounding stays small (Adam's
            # g/sqrt(v) would amplify it on near-zero gradients), and it has slots to compare.
            model.compile(optimizer=tf_keras.optimizers.SGD(0.05, momentum=0.9))
        recorder = RecordActNormInit()
        # One step per epoch: each epoch's loss is the loss of one batch, before its update.
        losses = model.fit(
            tf.data.Dataset.from_tensor_slices(batches),
            epochs=STEPS + 1,
            steps_per_epoch=1,
            callbacks=[recorder],
            verbose=0,
        ).history["bits_per_dim"]
        return model, losses, recorder.values

    single, single_losses, single_init = train(tf.distribute.get_strategy())
    strategy = recipe.make_strategy("mirrored")
    mirrored, mirrored_losses, mirrored_init = train(strategy)

    def replica_spread(variable):
        values = [np.asarray(v.numpy(), np.float64) for v in variable.values]
        return max(float(np.max(np.abs(v - values[0]))) for v in values) if values[0].size else 0.0

    # The flow's variables (the metric's running totals are per replica by design).
    weights = [
        (s.numpy(), m.numpy())
        for s, m in zip(single.bijector.variables, mirrored.bijector.variables)
    ]
    return {
        "replicas": strategy.num_replicas_in_sync,
        "devices": list(strategy.extended.worker_devices),
        "single_losses": single_losses,
        "mirrored_losses": mirrored_losses,
        "act_norm_variables": len(single_init),
        "act_norm_init_max_difference": max(
            float(np.max(np.abs(single_init[name] - mirrored_init[name]))) for name in single_init
        ),
        "act_norm_init_is_data_dependent": all(
            np.any(value != 0) for value in single_init.values()
        ),
        "model_replica_spread": max(replica_spread(v) for v in mirrored.bijector.variables),
        "optimizer_replica_spread": max(replica_spread(v) for v in mirrored.optimizer.variables),
        "mirrored_variable_count": sum(
            len(getattr(v, "values", ())) == REPLICAS for v in mirrored.bijector.variables
        ),
        "variable_count": len(mirrored.bijector.variables),
        "weights_max_relative_difference": max(
            float(np.max(np.abs(s - m) / (np.abs(s) + 1e-3))) for s, m in weights if s.dtype != bool
        ),
        "weights_changed": any(
            not np.allclose(s, i)
            for (s, _), i in zip(weights, [v.numpy() for v in GlowModel(config).bijector.variables])
            if s.dtype != bool
        ),
    }


@pytest.fixture(scope="module")
def comparison():
    return script_json.run(__file__)


def test_the_comparison_really_ran_on_two_replicas(comparison):
    assert comparison["replicas"] == REPLICAS
    assert len(set(comparison["devices"])) == REPLICAS
    assert comparison["mirrored_variable_count"] == comparison["variable_count"]


def test_actnorm_data_init_is_the_same_on_every_replica_and_as_on_one_device(comparison):
    assert comparison["act_norm_variables"] > 4
    assert comparison["act_norm_init_is_data_dependent"]
    assert comparison["act_norm_init_max_difference"] < 1e-5


def test_loss_of_each_batch_on_two_replicas_equals_the_single_device_loss(comparison):
    single, mirrored = comparison["single_losses"], comparison["mirrored_losses"]
    assert len(single) == len(mirrored) == STEPS + 1
    assert len(set(single)) == len(
        single
    )  # training changes the loss: the comparison is not vacuous
    for one_device, two_replicas in zip(single, mirrored):
        assert abs(two_replicas - one_device) <= 1e-5 * abs(one_device)


def test_replicas_stay_identical_and_track_single_device_training(comparison):
    assert comparison["model_replica_spread"] == 0.0
    assert comparison["optimizer_replica_spread"] == 0.0
    assert comparison["weights_changed"]
    assert comparison["weights_max_relative_difference"] < 1e-4


if __name__ == "__main__":
    print(json.dumps(_run_comparison()))
