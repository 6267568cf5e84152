"""`factsheet-qa eval --compare`: the same suite under several settings, side by side,
so a user sees what each part buys (the learned reader vs the rules alone, hybrid vs
dense-only retrieval, chunk sizes, follow-up resolution, and every answerer backend
that is configured)."""

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
        ("default (learned)", make(settings={"answerer": "extractive", "reader": "learned"})),
        ("rules only", make(settings={"answerer": "extractive", "reader": "rules"})),
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


def compare(settings: Any, items: Sequence[Item], peer: bool = True) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="factsheet-qa-compare-") as scratch:
        for name, build in _configs(settings, Path(scratch)):
            sample = list(items)
            if name.startswith("answerer"):
                sample = sample[:: max(1, len(sample) // GENERATIVE_SAMPLE)][:GENERATIVE_SAMPLE]
                name = f"{name} ({len(sample)} items)"
            results = run(build(), sample)
            rows.append((name, report(results)["all"]))
        if peer:
            rows.append(("peer bound", peer_bound(settings, items, Path(scratch) / "peer")))
    return rows


def peer_bound(settings: Any, items: Sequence[Item], persist_dir: Path) -> dict[str, Any]:
    """The LangChain tutorial pipeline (benchmarks/peer.py) over the same documents: its
    top chunk counts right when it holds an accepted answer, so this is an upper bound on
    answer accuracy; it never abstains. Other metrics do not apply to it ("-")."""
    return peer_row(build_peer(settings, persist_dir), items)


def build_peer(settings: Any, persist_dir: Path) -> Any:
    """The peer's index over every document in the corpus folder, as our loader reads them."""
    import sys

    from rag.config import PROJECT_ROOT
    from rag.corpus import discover, display_path, load

    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from benchmarks.peer import Peer

    peer = Peer()
    for path in discover([settings.corpus_dir]):
        document = load(path, display_path(path, settings.corpus_dir))
        peer.build(document.text, persist_dir, source=document.source)
    return peer


def peer_row(peer: Any, items: Sequence[Item]) -> dict[str, Any]:
    from benchmarks.peer import score_tops

    scored = score_tops(items, [peer.top_text(item.question) for item in items])
    row: dict[str, Any] = {metric: "-" for metric in ROWS}
    row["items"] = len(items)
    row["answer_accuracy"] = scored["answer_accuracy_upper_bound"]
    row["abstention_recall"] = 0.0 if any(i.abstain for i in items) else 1.0
    row["stated_precision"] = scored["overall_accuracy"]  # it states an answer to every item
    return row


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
