"""Starting a cluster of worker processes on 127.0.0.1 for the multi-worker tests.

Each worker gets the standard `TF_CONFIG` (cluster of `count` workers on free loopback ports, its
own
task index), `PYTHONPATH` pointing at the repository, and quiet TensorFlow logs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now (the OS picks them)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports: list[int], index: int) -> str:
    """The `TF_CONFIG` of worker `index` in a cluster of workers on `ports` of 127.0.0.1."""
    return json.dumps(
        {
            "cluster": {"worker": [f"{LOOPBACK}:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def environment(tf_config_text: str | None = None) -> dict[str, str]:
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    environment.pop("TF_CONFIG", None)
    if tf_config_text is not None:
        environment["TF_CONFIG"] = tf_config_text
    return environment


def start_workers(
    arguments: list[str],
    count: int = 2,
    ports: list[int] | None = None,
    log_paths: list[str] | None = None,
) -> list[subprocess.Popen]:
    """Starts `count` processes `python <arguments>`, worker i with the `TF_CONFIG` of index i.

    Output goes to `log_paths[i]` if given (files avoid pipes filling up), else is captured.
    """
    ports = ports or free_ports(count)
    processes = []
    for index in range(count):
        output = open(log_paths[index], "a") if log_paths else subprocess.PIPE
        processes.append(
            subprocess.Popen(
                [sys.executable, *arguments],
                cwd=REPO,
                env=environment(tf_config(ports, index)),
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return processes


def wait_all(processes: list[subprocess.Popen], timeout: float) -> list[str]:
    """Waits for every process (killing all of them if one overruns `timeout`); returns outputs."""
    outputs = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=timeout)
            outputs.append(output or "")
    except subprocess.TimeoutExpired:
        kill_all(processes)
        raise
    return outputs


def kill_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
    for process in processes:
        process.wait()
