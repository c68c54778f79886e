"""Framework-free helpers shared by the peer benchmarks (numpy and stdlib only).

Both peers run in different virtualenvs (TensorFlow in one, PyTorch in the
other), so nothing here imports either framework.
"""

import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

NUM_BITS = 8
NUM_BINS = 2**NUM_BITS
QUIET_OTHER_CORES = 0.25  # a window counts as quiet when others used less than this
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")

# The two benchmark sizes of issue 5. Affine coupling, LU 1×1 conv, learned split prior.
CONFIGS = {
    "mnist": dict(image_shape=(28, 28, 1), num_levels=2, num_steps=8, width=256, batch_size=64),
    "cifar": dict(image_shape=(32, 32, 3), num_levels=3, num_steps=8, width=256, batch_size=64),
}


def run_module(module: str, *args: str, python: str = sys.executable, **kwargs):
    """`python -m module args` from the repository root, as every benchmark is run:
    `subprocess.run`'s result; `kwargs` go to `subprocess.run`."""
    return subprocess.run([python, "-m", module, *args], cwd=ROOT, **kwargs)


def alternate_children(module: str, variants: dict, rounds: int) -> dict:
    """Runs `python -m module --child ARGUMENTS` once per variant in each of `rounds` rounds, the
    variants in turn, each a fresh process with its environment additions (`variants`:
    `{name: (arguments, environment)}`), so that a drift of the machine's speed reaches every
    variant alike. Prints each child's last line (one JSON record) as it comes and returns
    `{name: [record of each round]}`."""
    runs = {name: [] for name in variants}
    for round_number in range(rounds):
        for name, (arguments, environment) in variants.items():
            process = run_module(
                module,
                "--child",
                *arguments,
                capture_output=True,
                text=True,
                env={**os.environ, **environment},
                check=True,
            )
            runs[name].append(json.loads(process.stdout.strip().splitlines()[-1]))
            print(round_number, name, runs[name][-1], flush=True)
    return runs


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (`ru_maxrss`, kilobytes on Linux), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory_figures(step, steps: int, sync) -> dict:
    """Runs `step` once (tracing, first allocations), then `steps` timed times, each result passed
    to `sync`: the process's peak RSS before the first and after the last, and the median step
    time, as `benchmarks/memory.py` reports them."""
    before = peak_rss_mb()
    sync(step())
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        sync(step())
        seconds.append(time.perf_counter() - started)
    return dict(
        peak_rss_mb=round(peak_rss_mb(), 1),
        peak_rss_before_training_mb=round(before, 1),
        step_seconds_median=round(statistics.median(seconds), 4),
    )


def bits_per_dim(mean_nll_nats, num_dims):
    """(−log p(y) + D·log 2^8) / (D·ln 2), y = (x + u)/256 − 0.5, as `tfglow.pixels`."""
    return (mean_nll_nats + num_dims * math.log(NUM_BINS)) / (num_dims * math.log(2.0))


def own_cpu_seconds():
    """User + system CPU seconds of this process, all threads."""
    own = os.times()
    return own.user + own.system


def _cpu_seconds():
    """(all CPUs' busy seconds from /proc/stat, this process's user+sys seconds)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle, iowait = fields[3], fields[4]
    busy = sum(fields[:8]) - idle - iowait  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK"), own_cpu_seconds()


class OtherLoadMeter:
    """Average CPU cores used by processes other than this one since `start()`."""

    def start(self):
        self._busy, self._own = _cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def cores(self):
        busy, own = _cpu_seconds()
        seconds = max(time.perf_counter() - self._wall, 1e-9)
        return max(0.0, (busy - self._busy) - (own - self._own)) / seconds

    def own_cores(self):
        """Average cores this process used since `start()` (≈ thread count when it has the
        machine)."""
        _, own = _cpu_seconds()
        return (own - self._own) / max(time.perf_counter() - self._wall, 1e-9)


def wait_for_quiet(max_wait_seconds, probe_seconds=1.0):
    """Sleeps until others use < QUIET_OTHER_CORES over a probe, or max_wait_seconds pass."""
    deadline = time.perf_counter() + max_wait_seconds
    while time.perf_counter() < deadline:
        meter = OtherLoadMeter().start()
        time.sleep(probe_seconds)
        if meter.cores() < QUIET_OTHER_CORES:
            return True
    return False


def time_windows(
    step, batch_size, warmup_steps, num_windows, steps_per_window, sync, max_quiet_wait_seconds=0.0
):
    """Runs `step()` warmup_steps times, then times `num_windows` windows.

    `sync(result)` must block until the step's work is finished (e.g. `.numpy()`
    or `.item()` on its loss). Returns (windows, last loss), each window a dict with
    its images/s and the CPU cores that *other* processes used meanwhile on average
    (machine busy time minus ours, over wall time: 0 means we had the machine).
    Before each window it waits up to `max_quiet_wait_seconds` for the machine to be quiet.
    """
    result = None
    for _ in range(warmup_steps):
        result = step()
    sync(result)
    windows = []
    for _ in range(num_windows):
        wait_for_quiet(max_quiet_wait_seconds)
        meter = OtherLoadMeter().start()
        start = time.perf_counter()
        for _ in range(steps_per_window):
            result = step()
        last = sync(result)
        seconds = time.perf_counter() - start
        windows.append(
            dict(
                images_per_second=round(steps_per_window * batch_size / seconds, 2),
                other_processes_cpu_cores=round(meter.cores(), 2),
                own_cpu_cores=round(meter.own_cores(), 2),
            )
        )
    return windows, last


def summarize(windows):
    """Medians over the windows: all, quiet ones only, and CPU-normalised.

    Quiet: others used < QUIET_OTHER_CORES. CPU-normalised: images per own CPU-second × the
    machine's cores — what the run would do with every core to itself if it kept them all busy
    (an upper bound; it removes others' load but not the cost of sharing caches with them).
    """
    rates = [w["images_per_second"] for w in windows]
    quiet = [
        w["images_per_second"]
        for w in windows
        if w["other_processes_cpu_cores"] < QUIET_OTHER_CORES
    ]
    normalised = [
        w["images_per_second"] / max(w["own_cpu_cores"], 1e-9) * os.cpu_count() for w in windows
    ]
    return dict(
        images_per_second_windows=rates,
        images_per_second_median=round(statistics.median(rates), 2),
        other_processes_cpu_cores_windows=[w["other_processes_cpu_cores"] for w in windows],
        own_cpu_cores_windows=[w["own_cpu_cores"] for w in windows],
        quiet_windows=len(quiet),
        images_per_second_median_quiet=round(statistics.median(quiet), 2) if quiet else None,
        images_per_second_cpu_normalised_median=round(statistics.median(normalised), 2),
    )


def headline(summary, num_windows):
    """(figure, its key): the quiet-window median when at least half the windows were quiet,
    else the CPU-normalised median — on a shared machine the raw median measures the others."""
    key = (
        "images_per_second_median_quiet"
        if 2 * summary["quiet_windows"] >= num_windows
        else "images_per_second_cpu_normalised_median"
    )
    return summary[key], key


ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_description():
    """The CPU model name and which of the ISA flags that matter here it has (Linux
    /proc/cpuinfo)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return dict(cpu_model=model, isa_flags={flag: flag in flags for flag in ISA_FLAGS})


def machine_info():
    """CPU model and ISA flags, core count, load averages and versions at the time of the call."""
    load1, load5, load15 = os.getloadavg()
    info = dict(
        cpu_count=os.cpu_count(),
        loadavg_1_5_15=[load1, load5, load15],
        python=platform.python_version(),
        platform=platform.platform(),
        **cpu_description(),
    )
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        info["tensorflow"] = tf.__version__
        info["onednn_enabled"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
    return info


def command_line():
    """The command that produced a result, with the environment settings that matter."""
    prefix = [f"{name}={os.environ[name]}" for name in ("OMP_WAIT_POLICY",) if name in os.environ]
    return " ".join(prefix + [sys.executable] + sys.argv)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def emit(result, filename):
    """Prints `result` as one JSON line and writes it to benchmarks/results/`filename`."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.normpath(os.path.join(RESULTS_DIR, filename))
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(result, sort_keys=True), flush=True)
    return path
