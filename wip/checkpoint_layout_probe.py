import sys, numpy as np, tensorflow as tf
from tfglow import GlowModel, GlowConfig
from tests import flow_testing
c = GlowConfig(image_shape=(8,8,1), num_levels=2, steps_per_level=2, hidden_channels=8)
m = GlowModel(c); m.initialize(flow_testing.random_pixels(batch=4, shape=(8,8,1)))
flow_testing.randomize_variables(m, seed=3)
x = flow_testing.random_pixels(batch=4, shape=(8,8,1), seed=9)
if sys.argv[1] == "save":
    tf.train.Checkpoint(model=m).write("/tmp/probe/old_ckpt/ckpt"); np.save("/tmp/probe/old_lp.npy", m.log_prob(x).numpy())
else:
    m2 = GlowModel(c)
    st = tf.train.Checkpoint(model=m2).read("/tmp/probe/old_ckpt/ckpt")
    try:
        st.assert_existing_objects_matched(); print("matched")
    except AssertionError as e: print("ASSERT", str(e)[:300])
    try: print("lp diff", np.abs(m2.log_prob(x).numpy() - np.load("/tmp/probe/old_lp.npy")).max())
    except Exception as e: print(type(e).__name__, str(e)[:200])
