"""A few hundred `fit` steps on real MNIST digits lower held-out bits/dim well below the start."""

import numpy as np
import pytest
import tf_keras

from tfglow import GlowConfig, GlowModel
from tfglow.data import load_numpy

CONFIG = GlowConfig(image_shape=(28, 28, 1), num_levels=2, steps_per_level=2, hidden_channels=32)
STEPS = 300
BATCH_SIZE = 32
# This small model starts near 8 bits/dim after ActNorm's init and reaches about 5.3 after 300 steps
# at lr 1e-3 (measured); 2 bits/dim lower is "well below", and far beyond run-to-run noise.
REQUIRED_DROP_BITS_PER_DIM = 2.0


def test_fit_on_real_mnist_lowers_held_out_bits_per_dim():
    train = load_numpy("mnist", "train", limit=STEPS * BATCH_SIZE)
    test = load_numpy("mnist", "test", limit=500)
    model = GlowModel(CONFIG)
    model.initialize(train[:BATCH_SIZE])
    before = float(np.mean(model.bits_per_dim(test, seed=0)))
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(train, batch_size=BATCH_SIZE, epochs=1, shuffle=True, verbose=0)
    after = float(np.mean(model.bits_per_dim(test, seed=0)))
    print(
        f"held-out MNIST bits/dim: {before:.3f} at initialisation → {after:.3f} after {STEPS} steps"
    )
    assert after < before - REQUIRED_DROP_BITS_PER_DIM, (before, after)


REALNVP_STEPS = 150
# realnvp_cpu starts near 6.9 bits/dim after its data-dependent initialisation (logit space, batch
# norms) and reaches about 4.0 after 150 steps at lr 1e-3 (measured); a drop of 1.5 is far beyond
# run-to-run noise.
REALNVP_REQUIRED_DROP = 1.5


@pytest.mark.slow
def test_realnvp_cpu_trains_on_real_mnist():
    train = load_numpy("mnist", "train", limit=REALNVP_STEPS * BATCH_SIZE)
    test = load_numpy("mnist", "test", limit=500)
    model = GlowModel(GlowConfig.preset("realnvp_cpu"))
    model.initialize(train[:BATCH_SIZE])
    before = float(np.mean(model.bits_per_dim(test, seed=0)))
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    model.fit(train, batch_size=BATCH_SIZE, epochs=1, shuffle=True, verbose=0)
    after = float(np.mean(model.bits_per_dim(test, seed=0)))
    print(f"realnvp_cpu held-out MNIST bits/dim: {before:.3f} → {after:.3f} after {REALNVP_STEPS}")
    assert after < before - REALNVP_REQUIRED_DROP, (before, after)
