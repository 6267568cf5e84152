"""`factsheet-qa eval --compare`: the same suite under several settings, side by side,
so a user sees what each part buys (hybrid vs dense-only retrieval, chunk sizes,
follow-up resolution, and every answerer backend that is configured)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evals.runner import ROWS, Item, report, run


def _configs(settings: Any, scratch: Path) -> list[tuple[str, Callable[[], Any]]]:
    from rag.assistant import Assistant

    def make(**kwargs: Any) -> Callable[[], Any]:
        def build() -> Any:
            changes = kwargs.pop("settings", {})
            assistant = Assistant(settings.with_(**changes) if changes else settings, **kwargs)
            assistant.ensure_index(progress=False)
            assistant.warm_up()
            return assistant

        return build

    configs: list[tuple[str, Callable[[], Any]]] = [
        ("hybrid (default)", make(settings={"answerer": "extractive"})),
        ("dense only", make(dense_only=True)),
        ("no follow-up resolution", make(use_history=False)),
    ]
    for spec in _generative_backends(settings):
        configs.append((f"answerer {spec.split(':')[0]}", make(settings={"answerer": spec})))
    for size in (400, 1600):
        configs.append(
            (
                f"chunks {size} chars",
                make(settings={"chunk_chars": size, "data_dir": scratch / f"c{size}", "chroma_url": None}),
            )
        )
    return configs


def _generative_backends(settings: Any) -> list[str]:
    """The configured generative backend, and the local SmolLM2 when its package is installed."""
    specs = [settings.answerer] if settings.answerer != "extractive" else []
    from rag.generative import find_smollm2_gguf

    if not any(s.startswith("gguf:") for s in specs) and find_smollm2_gguf() is not None:
        specs.append("gguf:")
    return specs


GENERATIVE_SAMPLE = 40  # a tiny CPU model takes seconds per answer: score it on a fixed sample


def compare(settings: Any, items: Sequence[Item]) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="factsheet-qa-compare-") as scratch:
        for name, build in _configs(settings, Path(scratch)):
            sample = list(items)
            if name.startswith("answerer"):
                sample = sample[:: max(1, len(sample) // GENERATIVE_SAMPLE)][:GENERATIVE_SAMPLE]
                name = f"{name} ({len(sample)} items)"
            results = run(build(), sample)
            rows.append((name, report(results)["all"]))
    return rows


def format_comparison(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    width = max(18, *(len(name) for name, _ in rows))
    label = max(len(metric) for metric in ROWS) + 2
    lines = [f"{'metric':<{label}}" + "".join(f"{name:>{width + 2}}" for name, _ in rows)]
    for metric in ROWS:
        cells = "".join(f"{_fmt(summary[metric]):>{width + 2}}" for _, summary in rows)
        lines.append(f"{metric:<{label}}{cells}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
