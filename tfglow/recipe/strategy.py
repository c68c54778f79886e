"""Choosing a `tf.distribute` strategy, and splitting the CPU into logical devices for tests."""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def configure_cpu_devices(count: int):
    """Splits the first physical CPU into `count` logical devices (`/cpu:0` … `/cpu:{count-1}`).

    This lets `MirroredStrategy` run `count` replicas on a machine without GPUs, e.g. in tests.
    It must run before TensorFlow initialises its devices (before any op runs).

    Raises:
      ValueError: `count < 1`.
      RuntimeError: TensorFlow's devices are already initialised with a different split.
    """
    if count < 1:
        raise ValueError(f"the number of logical CPU devices must be >= 1, got {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != count:
            raise RuntimeError(
                f"cannot split the CPU into {count} logical devices: TensorFlow is already "
                f"initialised with {existing}; configure the devices before running any op"
            ) from error


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """Returns the strategy `name`.

    * `"default"`: no distribution (one device).
    * `"mirrored"`: `MirroredStrategy` over all GPUs, or, without GPUs, over all logical CPU devices
      (see `configure_cpu_devices`); variables are mirrored, gradients all-reduced every step.
    * `"multi_worker"`: `MultiWorkerMirroredStrategy`; the cluster comes from the `TF_CONFIG`
      environment variable, as usual.

    Raises:
      ValueError: an unknown `name`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
