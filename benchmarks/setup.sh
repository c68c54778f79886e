#!/usr/bin/env bash
# Sets up what the benchmarks need, idempotently:
#   .venv        tfglow with the test extra (training/setup.sh), for our benchmarks and TFP's Glow,
#                and matplotlib at the pin of the `bench` extra, for the plots;
#   .venv-torch  the PyTorch peer alone (torch at the pin of setup.cfg's `bench` extra, and numpy),
#                so that neither framework's thread pools share a process with the other's.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
TFGLOW_EXTRAS=test bash training/setup.sh
matplotlib_pin="$(sed -n 's/^[[:space:]]*\(matplotlib==[0-9.]*\)[[:space:]]*$/\1/p' setup.cfg)"
[ -n "$matplotlib_pin" ] || { echo "setup.cfg has no matplotlib==… pin in its bench extra" >&2; exit 1; }
"${TFGLOW_VENV:-.venv}/bin/pip" install --quiet --disable-pip-version-check "$matplotlib_pin"
torch_pin="$(sed -n 's/^[[:space:]]*\(torch==[0-9.]*\)[[:space:]]*$/\1/p' setup.cfg)"
[ -n "$torch_pin" ] || { echo "setup.cfg has no torch==… pin in its bench extra" >&2; exit 1; }
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv-torch/bin/python ]; then
  "$python" -m venv .venv-torch
fi
stamp=".venv-torch/.installed-${torch_pin}"
if [ ! -f "$stamp" ]; then
  .venv-torch/bin/pip install --quiet --disable-pip-version-check "$torch_pin" numpy
  touch "$stamp"
fi
