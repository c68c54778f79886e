#!/usr/bin/env bash
# The main job: on a fresh machine, set everything up and train a Glow on real MNIST on the CPU.
#
#   bash training/main.sh                  # → runs/mnist: checkpoints, samples.png, TensorBoard logs
#
# 1. `training/setup.sh`: the .venv with tfglow and its pinned dependencies, and the offline MNIST.
# 2. `python -m training.train --config mnist_cpu`: Glow (L=2, K=8, affine coupling, LU 1×1 convs) on
#    28×28 MNIST, Adam at lr 1e-3 after a 200-step linear warmup, gradient norm clipped at 50,
#    Polyak (EMA 0.99) weights for evaluation, batch 64, for TRAIN_MINUTES of wall-clock time
#    (default 12, so that the whole job stays within 15 minutes on a 2-core CPU). Held-out bits/dim
#    on 1,024 test images after every 250 steps; at the end, on all 10,000 test images.
#    The coupling networks are 64 wide rather than the paper's 512 (or the preset's 256): on 2 CPU
#    cores a narrower network takes ~4.5x more steps in the same time and reaches lower bits/dim.
# 3. Exports the trained model (EMA weights) as a TF Serving SavedModel into runs/mnist/export/<version>/
#    and prints how to serve it.
#
# Running it again resumes from the last checkpoint and trains TRAIN_MINUTES more (up to 20,000
# steps). Extra arguments go to training.train, e.g. `bash training/main.sh --hidden_channels 256`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/training/setup.sh"
cd "$repo"
# The allocator: a preloaded tcmalloc trains faster than glibc, with or without the tuning the
# programs apply (benchmarks/README.md, the allocator A/B). Installed here when run as root on
# Debian/Ubuntu; used wherever it is present.
find_tcmalloc() { ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -n 1 || true; }
tcmalloc="$(find_tcmalloc)"
if [ -z "$tcmalloc" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1 || true
  tcmalloc="$(find_tcmalloc)"
fi
if [ -n "$tcmalloc" ]; then
  export LD_PRELOAD="$tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  echo "main.sh: allocator tcmalloc ($tcmalloc)"
else
  echo "main.sh: allocator glibc, tuned by the programs (libtcmalloc-minimal4 is faster)"
fi
model_dir="${MODEL_DIR:-runs/mnist}"
venv="${TFGLOW_VENV:-.venv}"
verbose=2
[ -t 1 ] && verbose=1  # the Keras progress bar on a terminal, one line per epoch in a log file
"$venv/bin/python" -m training.train --config mnist_cpu --model_dir "$model_dir" \
  --max_minutes "${TRAIN_MINUTES:-12}" --verbose "$verbose" "$@"
"$venv/bin/python" -m export.export_model --model_dir "$model_dir" --export_dir "$model_dir/export"
echo
echo "Samples: $model_dir/samples.png   TensorBoard: $venv/bin/tensorboard --logdir $model_dir/logs"
echo "Held-out bits/dim again: $venv/bin/python -m training.evaluate --model_dir $model_dir --dataset mnist"
echo "Next step, serve it: see export/README.md (docker run tensorflow/serving with $model_dir/export)"
