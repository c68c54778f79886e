"""Runs a test file as a script in a fresh Python process and returns the JSON it prints last.

For comparisons that need TensorFlow configured before it starts (logical CPU devices for
`MirroredStrategy`): the file's `__main__` block prints one JSON line.
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script: str, timeout: float = 600) -> dict:
    """The last line `script` prints, parsed as JSON; fails the test with its stderr otherwise."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    process = subprocess.run(
        [sys.executable, os.path.abspath(script)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        cwd=REPO,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    return json.loads(process.stdout.strip().splitlines()[-1])
