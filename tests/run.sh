#!/usr/bin/env bash
# Sets everything up (virtual environment, dependencies, offline datasets), runs ruff (lint and
# format check) and the fast test suite.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m slow` for the long tests.
# The tests run in $TFGLOW_TEST_WORKERS processes (pytest-xdist, default 2: a test leaves most of
# the second core idle; each worker holds its own TensorFlow, about 1 GB).
# On another interpreter: `PYTHON=python3.13 TFGLOW_VENV=.venv-3.13 bash tests/run.sh`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TFGLOW_EXTRAS=test bash "$repo/training/setup.sh"
cd "$repo"
venv="${TFGLOW_VENV:-.venv}"
# Lint and format first (configured in pyproject.toml): a finding fails the command.
"$venv/bin/ruff" check --quiet .
"$venv/bin/ruff" format --check --quiet .
exec "$venv/bin/python" -m pytest -q -n "${TFGLOW_TEST_WORKERS:-2}" "$@"
