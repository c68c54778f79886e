import os, sys, numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, sys.argv[1])
import tensorflow as tf
from tfglow import GlowConfig, GlowModel
from tests import flow_testing
arch = sys.argv[2] if len(sys.argv) > 2 else "glow"
extra = {} if arch == "glow" else dict(architecture="realnvp", permutation="none")
TINY = dict(image_shape=(8, 8, 1), num_levels=2, steps_per_level=3, hidden_channels=16, **extra)
images = flow_testing.random_pixels(batch=4, shape=(8, 8, 1))
models = []
for rev in (False, True):
    m = GlowModel(GlowConfig(**TINY, reversible_gradients=rev))
    tf.random.set_seed(0); m.initialize(images); models.append(m)
for a, b in zip(models[0].variables, models[1].variables): b.assign(a)
res = []
for m in models:
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(m.bits_per_dim_and_latents(x, dequantize=True, seed=1)[0])
        return loss, tape.gradient(loss, m.trainable_variables)
    loss, g = step(images)
    res.append((loss, g))
    print("rev" if m.config.reversible_gradients else "std", len(m.trainable_variables), float(loss), sum(x is None for x in g))
(la, ga), (lb, gb) = res
worst = max(float(tf.norm(tf.convert_to_tensor(x) - tf.convert_to_tensor(y)) / (tf.norm(tf.convert_to_tensor(x)) + 1e-12)) for x, y in zip(ga, gb))
print("loss diff", float(la - lb), "worst rel grad diff", worst)
# eager too
with tf.GradientTape() as tape:
    loss = tf.reduce_mean(models[1].bits_per_dim_and_latents(images, dequantize=True, seed=1)[0])
ge = tape.gradient(loss, models[1].trainable_variables)
print("eager rev vs std worst", max(float(tf.norm(tf.convert_to_tensor(x) - tf.convert_to_tensor(y)) / (tf.norm(tf.convert_to_tensor(x)) + 1e-12)) for x, y in zip(ga, ge)))
g = step.get_concrete_function(images).graph.as_graph_def()
print("graph nodes", len(g.node), "library", len(g.library.function))
for v, x, y in zip(models[0].trainable_variables, ga, gb):
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    d = float(tf.norm(x - y) / (tf.norm(x) + 1e-12))
    if d > 1e-4:
        print(v.name, v.shape, round(d, 4), float(tf.norm(x)), float(tf.norm(y)))
        if len(v.shape) >= 2 and v.shape[0] == 3:
            print("   rows", [round(float(tf.norm(x[k] - y[k]) / (tf.norm(x[k]) + 1e-12)), 4) for k in range(3)])
