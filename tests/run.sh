#!/usr/bin/env bash
# Sets everything up (virtual environment, dependencies, offline datasets) and runs the fast test suite.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m slow` for the long tests.
# On another interpreter: `PYTHON=python3.13 TFGLOW_VENV=.venv-3.13 bash tests/run.sh`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TFGLOW_EXTRAS=test bash "$repo/training/setup.sh"
cd "$repo"
exec "${TFGLOW_VENV:-.venv}/bin/python" -m pytest -q "$@"
