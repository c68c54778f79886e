"""Saves checkpoints in a loop, for the kill-during-save test.

    python checkpoint_saver.py DIR MODE


The checkpoint holds one large variable whose every value is the checkpoint's number, so a restore
shows which save it came from, and whether that save is whole. MODE:

* `loop`: save checkpoint 1, 2, 3, … until killed (the test kills it while a save is in progress);
* `kill_before_commit`: save checkpoint 1, then SIGKILL itself during the save of checkpoint 2,
  after its data files are written but before the `checkpoint` state file names it.
"""

from __future__ import annotations

import os
import signal
import sys

import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management

# 32 MiB of float32: a save takes long enough for the test to kill it midway.
VALUES = 8 * 2**20


def main(directory: str, mode: str) -> None:
    variable = tf.Variable(tf.zeros([VALUES]))
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(values=variable), directory, max_to_keep=2
    )
    if mode == "kill_before_commit":
        variable.assign(tf.fill([VALUES], 1.0))
        manager.save(checkpoint_number=1)

        def killed_before_commit(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        checkpoint_management.update_checkpoint_state_internal = killed_before_commit
        variable.assign(tf.fill([VALUES], 2.0))
        manager.save(checkpoint_number=2)
        raise AssertionError("the process should have been killed during the save")
    number = 1
    while True:
        variable.assign(tf.fill([VALUES], float(number)))
        manager.save(checkpoint_number=number)
        print(f"saved {number}", flush=True)
        number += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
