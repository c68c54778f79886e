"""Checks that the PyTorch peer Glow is a correct flow, at a tiny size in float64.

For a few random inputs: the model's log-det of x → (eps_1 … eps_L) (priors included) equals
log|det J| of the brute-force Jacobian (torch.autograd.functional.jacobian + slogdet), and
reverse(forward(x)) = x. Every parameter is perturbed away from its (identity-like) init first,
so zero-init convs and ActNorm do not hide mistakes. Prints one JSON line with the max errors.

    .venv-torch/bin/python -m benchmarks.peers.check_torch_glow
"""

import argparse
import json
import sys

import torch

from benchmarks.peers import torch_glow

# Large enough to move every parameter off its init; much larger (≳0.1) saturates sigmoid
# scales at this tiny width, J becomes ill-conditioned (cond > 1e12) and float64 itself runs out.
PERTURBATION_STD = 0.03
TOLERANCE = 1e-8


def flat_latents(model, x):
    """x [1, C, H, W] → all eps concatenated into one vector."""
    latents, _ = model(x)
    return torch.cat([eps.flatten() for eps in latents])


def check(args):
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(args.seed)
    height, width_px, channels = args.image_shape
    model = torch_glow.Glow((height, width_px, channels), args.levels, args.steps, args.width)
    with torch.no_grad():
        model(torch.rand(8, channels, height, width_px) - 0.5)  # ActNorm data init
        for parameter in model.parameters():
            parameter.add_(PERTURBATION_STD * torch.randn_like(parameter))
    log_det_errors, round_trip_errors, conditions = [], [], []
    for _ in range(args.samples):
        x = torch.rand(1, channels, height, width_px) - 0.5
        jacobian = torch.autograd.functional.jacobian(lambda v: flat_latents(model, v), x)
        jacobian = jacobian.reshape(x.numel(), x.numel())
        _, brute_log_det = torch.linalg.slogdet(jacobian)
        conditions.append(torch.linalg.cond(jacobian).item())
        with torch.no_grad():
            latents, log_det = model(x)
            x_back = model.reverse(latents)
        log_det_errors.append(abs(log_det.item() - brute_log_det.item()))
        round_trip_errors.append((x_back - x).abs().max().item())
    return dict(
        image_shape=list(args.image_shape),
        levels=args.levels,
        steps=args.steps,
        width=args.width,
        dtype="float64",
        samples=args.samples,
        max_abs_log_det_error=max(log_det_errors),
        max_abs_round_trip_error=max(round_trip_errors),
        max_jacobian_condition_number=max(conditions),
        passed=max(log_det_errors) < TOLERANCE and max(round_trip_errors) < TOLERANCE,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--image-shape", type=int, nargs=3, default=(8, 8, 3), metavar=("H", "W", "C")
    )
    parser.add_argument("--levels", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    result = check(parser.parse_args(argv))
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
