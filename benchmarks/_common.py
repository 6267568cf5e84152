"""Shared helpers for the benchmark scripts: paths, offline environment, percentiles,
subprocess timing and result files. Nothing here is imported by the application."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Where results go: benchmarks/results/, or another folder for the smoke test
# (tests/test_benchmarks.py runs every script on tiny inputs without touching the real results).
RESULTS = Path(os.environ.get("FACTSHEET_QA_BENCH_RESULTS") or ROOT / "benchmarks" / "results")
FACT_SHEET = ROOT / "corpus" / "combating-trafficking-in-persons.txt"
COLD_QUESTION = "How many countries does the TIP Report cover today?"

# Never reach a model hub or send telemetry, in this process and in every child.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def offline() -> dict[str, str]:
    """Set the offline variables here and return an environment for subprocesses."""
    os.environ.update(OFFLINE_ENV)
    return dict(os.environ, **OFFLINE_ENV)


def quiet() -> None:
    """Silence library warnings and progress bars that would clutter the tables."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("chromadb", "sentence_transformers", "transformers", "httpx", "langchain"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # transformers is not imported by every script
        pass


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return ms_since(started), value


def run_timed(args: list[str], env: dict[str, str], cwd: Path = ROOT, timeout: float = 300) -> tuple[float, str]:
    """Wall-clock seconds of a child process (which must succeed) and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def last_json_line(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            value: dict[str, Any] = json.loads(line)
            return value
    raise ValueError(f"no JSON line in the child's output: {stdout[-500:]!r}")


def machine() -> dict[str, Any]:
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": load,
    }


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def shown(path: Path) -> str:
    """A results path as printed: relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def load_json(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    if not path.exists():
        return None
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


def python() -> str:
    return sys.executable


def vmhwm_kib() -> int:
    """This process's own peak RSS (VmHWM), which, unlike ru_maxrss, execve does not inherit."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def forked_child(args: list[str]) -> list[str]:
    """Run args as a child of /bin/sh rather than by exec from this process.

    Linux keeps ru_maxrss across execve, so a child exec'd straight from a big benchmark
    process reports the parent's peak RSS as its own; a grandchild forked by a small
    shell starts its count afresh."""
    return ["/bin/sh", "-c", '"$@"; exit $?', "sh", *args]
