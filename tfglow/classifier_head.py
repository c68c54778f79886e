"""Glow's `ycond` classifier head on the top latent (Kingma & Dhariwal 2018, openai/glow
`weight_y`)."""

import math

import tensorflow as tf
import tf_keras


class ClassifierHead(tf_keras.layers.Dense):
    """A zero-initialised linear classifier on the mean-pooled, label-free top latent.

    `logits = W · mean_{h,w} z_top + b`, where `z_top` is the top level's latent before the
    class-conditional top prior (x→z up to the prior): the prediction does not depend on a label.
    Its loss is the cross-entropy in bits per image, `bits_y` in openai/glow, weighted by
    `GlowConfig.classifier_weight` in the training loss.
    """

    def __init__(self, num_classes: int, top_channels: int, dtype=tf.float32):
        super().__init__(num_classes, kernel_initializer="zeros", dtype=dtype, name="classifier")
        self.build((None, top_channels))

    def logits(self, glow, eps: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """Logits `[batch, num_classes]` from flat latents `eps` `[batch, D]` encoded with `labels`.

        `eps_top = (z_top − μ_y) / σ_y`; undoing the prior of those labels gives `z_top`.
        """
        z_top = glow.top_prior.forward(glow.layout.top(eps), labels=labels)
        return self(tf.reduce_mean(z_top, axis=[1, 2]))

    def bits(self, glow, eps: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """The cross-entropy of the true `labels` in bits per image, `[batch]`."""
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(tf.reshape(labels, [-1]), tf.int32),
            logits=self.logits(glow, eps, labels),
        )
        return cross_entropy / math.log(2.0)
