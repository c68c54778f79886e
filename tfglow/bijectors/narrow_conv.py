"""3×3 convolutions with very few channels on one side, back-propagated as matrix products.

A 'SAME' 3×3 convolution `y[p] = Σ_d x[p + d] · W[d]` (`d` over the nine offsets, `x` zero
outside the image) has the gradients

```none
  dW[d] = Σ_p x[p + d]ᵀ · dy[p]              dx[q] = Σ_d dy[q − d] · W[d]ᵀ
```

A Glow coupling network has such convolutions at both ends: its first one reads the
conditioning half (2 or 4 channels on MNIST, 6 to 24 on CIFAR) and its zero convolution writes
the coupling's parameters (4 and 8 channels on MNIST, 12 to 48 on CIFAR). On CPU, oneDNN runs the
backward kernels of the narrowest of those shapes far below its usual rate, and on a CPU with AVX2
only all of them (`benchmarks/README.md`). Over the *patches* of the narrow tensor, its nine
shifted copies side by side, each gradient is one matrix product, plus the patches' adjoint
(col2im) on the narrow side; both are depthwise convolutions with a one-hot kernel, cheap at
this width. The forward pass stays the fused convolution, so values, and inference, are
unchanged and only the order of the gradients' sums differs. The exception is a CPU with AVX2
only: there a convolution into at most 8 channels, in a graph whose batch size is known and large
(a training step's), also runs forward as one matrix product and the col2im, the same sum in
another order. On a machine with a GPU the convolutions keep their own kernels.

The gradients are recorded on the gradient tapes (`GradientTape`, which Keras training uses), as
`tf.custom_gradient` records them, but not registered with TensorFlow's global gradient registry:
`tf.custom_gradient` in a graph registers every trace's gradient there for good, and with it the
whole traced graph, which a reversible flow's per-layer traces (`tfglow.layer_functions`) would
pile up with depth. A gradient taken without a tape (`tf.gradients`, or a `tf.function`
differentiated from outside) goes through the convolution's own kernels, to the same values.

The patch layout: channel `i · 9 + j` of `patches(x)` is `x[p + o_j, i]`, with the offsets
`o_j = (j // 3 − 1, j % 3 − 1)`; the kernel `W[3, 3, c, C]` as a matrix is
`transpose(W, [2, 0, 1, 3])` reshaped to `[9c, C]`, the same order.
"""

import collections
import functools

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import record  # what tf.custom_gradient records on the tapes

from tfglow import hardware

# The narrow side of a 3×3 convolution whose gradients run as matrix products: at most
# `input` channels read (a first convolution) or `output` channels written (a zero convolution).
# Where the limits lie depends on the CPU's vector units (`benchmarks/README.md`). With AVX-512,
# oneDNN's own backward kernels ran as fast or faster from 6 input or 12 output channels on (the
# CIFAR sizes). With AVX2 only, they ran far slower at every size of the CIFAR networks' ends
# (6 to 24 input, 12 to 48 output channels), the widest sizes measured. There oneDNN's *forward*
# convolution into the MNIST networks' 4 and 8 channels is slow too, at batch 64 about twice the
# time of the same sum as one matrix product and a col2im (`output_forward`); at 12 channels the
# training step measured no clear gain, and from 24 on the convolution was faster.
NarrowLimits = collections.namedtuple("NarrowLimits", ["input", "output", "output_forward"])
AVX512_LIMITS = NarrowLimits(input=4, output=8, output_forward=0)
AVX2_LIMITS = NarrowLimits(input=24, output=48, output_forward=8)
# The forward product's extra ops (reshapes, the flipped kernel, the col2im) cost about what it
# saves on a few hundred pixels: at the MNIST size, batch 2 (392 pixels at 14×14) measured 0.99×
# the convolution, batch 1 0.9×, batch 4 1.16× (`benchmarks/README.md`). Below this many pixels in
# the batch the convolution runs.
MIN_FORWARD_PRODUCT_PIXELS = 512


@functools.cache
def limits() -> NarrowLimits:
    """The narrow-side limits for this machine's CPU: `AVX2_LIMITS` on a CPU with AVX2 and no
    AVX-512, `AVX512_LIMITS` elsewhere (including CPUs whose flags are unknown)."""
    flags = hardware.cpu_flags()
    return AVX2_LIMITS if "avx2" in flags and "avx512f" not in flags else AVX512_LIMITS


def is_narrow(kernel_shape, channels_axis: int) -> bool:
    """Whether a convolution with this kernel shape back-propagates through `narrow_conv`, its
    narrow side being the kernel's input channels (`channels_axis=2`) or output channels (3),
    at most `limits()` of them.

    Only where no GPU is visible: the rewrite answers oneDNN's CPU kernels, and cuDNN's were not
    measured against it.
    """
    if channels_axis not in (2, 3):
        raise ValueError(f"channels_axis must be 2 (input) or 3 (output), got {channels_axis}")
    limit = limits().input if channels_axis == 2 else limits().output
    return (
        tuple(kernel_shape[:2]) == (3, 3)
        and kernel_shape[channels_axis] <= limit
        and not tf.config.list_physical_devices("GPU")
    )


def _one_hot_kernel(channels: int, dtype) -> tf.Tensor:
    """The `[3, 3, c, 9]` depthwise kernel that copies `x[p + o_j, i]` to channel `i · 9 + j`."""
    kernel = np.zeros([3, 3, channels, 9])
    for j in range(9):
        kernel[j // 3, j % 3, :, j] = 1.0
    return tf.constant(kernel, dtype)


def _with_channels(x: tf.Tensor, channels: int) -> tf.Tensor:
    """The dynamic shape of `x` with its last axis `channels` long."""
    return tf.concat([tf.shape(x)[:-1], [channels]], axis=0)


def patches(x: tf.Tensor) -> tf.Tensor:
    """`[N, H, W, c] → [N, H, W, 9c]`: channel `i · 9 + j` is `x[p + o_j, i]` (zero outside)."""
    kernel = _one_hot_kernel(x.shape[-1], x.dtype)
    return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")


def patches_adjoint(q: tf.Tensor, channels: int) -> tf.Tensor:
    """`[N, H, W, 9c] → [N, H, W, c]`, the adjoint of `patches` (col2im):
    `out[p, i] = Σ_j q[p − o_j, i · 9 + j]`."""
    kernel = _one_hot_kernel(channels, q.dtype)
    return tf.nn.depthwise_conv2d_backprop_input(
        _with_channels(q, channels), kernel, q, [1, 1, 1, 1], "SAME"
    )


def _as_matrix(kernel: tf.Tensor) -> tf.Tensor:
    """`[3, 3, c, C] → [9c, C]`, row `i · 9 + j` being `kernel[o_j][i]`."""
    channels_in, channels_out = kernel.shape[2], kernel.shape[3]
    return tf.reshape(tf.transpose(kernel, [2, 0, 1, 3]), [9 * channels_in, channels_out])


def _from_matrix(matrix: tf.Tensor, channels_in: int, channels_out: int) -> tf.Tensor:
    """The inverse of `_as_matrix`."""
    return tf.transpose(tf.reshape(matrix, [channels_in, 3, 3, channels_out]), [1, 2, 0, 3])


def conv_bias_relu_narrow_input(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """`relu(conv3x3(x, kernel) + bias)` for an `x` of few channels, `[N, H, W, c]` to
    `[N, H, W, C]`.

    Backward, with `d = dy · 1[y > 0]` as a `[NHW, C]` matrix and `P = patches(x)` as `[NHW, 9c]`:
    `dkernel = Pᵀ d`, `dbias = Σ d`, `dx = patches_adjoint(d · kernelᵀ)`.
    """
    # A variable is read here, where the tapes see the read, and stands as that tensor below.
    x, kernel, bias = map(tf.convert_to_tensor, (x, kernel, bias))
    with record.stop_recording():
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))

    def gradient(dy):
        channels_in, channels_out = kernel.shape[2], kernel.shape[3]
        d = tf.reshape(tf.raw_ops.ReluGrad(gradients=dy, features=y), [-1, channels_out])
        p = tf.reshape(patches(x), [-1, 9 * channels_in])
        dkernel = _from_matrix(tf.matmul(p, d, transpose_a=True), channels_in, channels_out)
        dp = tf.matmul(d, _as_matrix(kernel), transpose_b=True)
        dx = patches_adjoint(tf.reshape(dp, _with_channels(x, 9 * channels_in)), channels_in)
        return dx, dkernel, tf.reduce_sum(d, axis=0)

    record.record_operation("NarrowInputConv", [y], [x, kernel, bias], gradient)
    return y


def _flipped_matrix(kernel: tf.Tensor) -> tf.Tensor:
    """`[3, 3, C, c] → [C, 9c]`, column `i · 9 + j` being `kernel[−o_j][:, i]` (the kernel flipped,
    `o_j → −o_j`, then laid out `[C, c, 3, 3]`)."""
    channels_in, channels_out = kernel.shape[2], kernel.shape[3]
    flipped = tf.transpose(kernel[::-1, ::-1], [2, 3, 0, 1])
    return tf.reshape(flipped, [channels_in, 9 * channels_out])


def conv_narrow_output(h: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """`conv3x3(h, kernel)` into few channels (`[N, H, W, C]` to `[N, H, W, c]`).

    Forward, for at most `limits().output_forward` output channels and a batch of static shape
    with at least `MIN_FORWARD_PRODUCT_PIXELS` pixels (a training step's): with `Q = h K̃` (`h` as
    `[NHW, C]`, `K̃ = _flipped_matrix(kernel)`), `y = patches_adjoint(Q)`, since

    ```none
      Σ_j Q[p − o_j, i·9 + j] = Σ_j h[p − o_j] · kernel[−o_j][:, i] = Σ_d h[p + d] · kernel[d][:, i]
    ```

    Otherwise the convolution itself.

    Backward: `dh[q] = Σ_d dy[q − d] · kernel[d]ᵀ` and `dkernel[d] = Σ_q h[q]ᵀ dy[q − d]` are, with
    `P = patches(dy)` as `[NHW, 9c]` and the kernel flipped (`o_j → −o_j`) as a `[C, 9c]` matrix
    `K̃`: `dh = P K̃ᵀ` and `dK̃ᵀ = Pᵀ h`.
    """
    h, kernel = map(tf.convert_to_tensor, (h, kernel))
    channels_in, channels_out = kernel.shape[2], kernel.shape[3]
    # Chosen when traced, from the static shape: a graph of unknown batch size (a serving
    # signature, a dataset batched without `drop_remainder`) keeps the convolution, since a
    # `tf.cond` would add two function bodies to every trace of every layer.
    batch_pixels = h.shape[:-1].num_elements() if h.shape[:-1].is_fully_defined() else 0
    with record.stop_recording():
        if channels_out <= limits().output_forward and batch_pixels >= MIN_FORWARD_PRODUCT_PIXELS:
            q = tf.matmul(tf.reshape(h, [-1, channels_in]), _flipped_matrix(kernel))
            y = patches_adjoint(tf.reshape(q, _with_channels(h, 9 * channels_out)), channels_out)
        else:
            y = tf.nn.conv2d(h, kernel, 1, "SAME")

    def gradient(dy):
        p = tf.reshape(patches(dy), [-1, 9 * channels_out])
        flipped = _flipped_matrix(kernel)
        pixels = tf.reshape(h, [-1, channels_in])
        dh = tf.reshape(tf.matmul(p, flipped, transpose_b=True), tf.shape(h))
        dflipped = tf.matmul(p, pixels, transpose_a=True)  # [9c, C]
        dkernel_flipped = tf.transpose(
            _from_matrix(dflipped, channels_out, channels_in), [0, 1, 3, 2]
        )
        return dh, dkernel_flipped[::-1, ::-1]

    record.record_operation("NarrowOutputConv", [y], [h, kernel], gradient)
    return y
