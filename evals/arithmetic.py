"""Computed answers, scored: the arithmetic suites on the fact sheet and on other documents.

    python -m evals.arithmetic [--split dev] [--show 20]

Runs ``arithmetic`` (the fact sheet) and ``arithmetic-multidoc`` (questions on eight
train, seven dev and eight test documents of the multi-document collection, indexed
together) and prints, per split: items, right (the value and every operand right, or an
honest abstention where an operand is missing), accuracy, stated answers, precision
(right ÷ stated) and the computed results that do not recompute from their cited
operands, which must be 0. Failures are printed for train and dev items only: the test
part is frozen (``*.test.sha256``) and only counted.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals import runner

SUITES = ("arithmetic", "arithmetic-multidoc")


@dataclass(frozen=True)
class Score:
    items: int
    right: int
    stated: int
    stated_right: int
    computed: int
    not_recomputing: int

    @property
    def accuracy(self) -> float:
        return self.right / self.items if self.items else 0.0

    @property
    def precision(self) -> float:
        return self.stated_right / self.stated if self.stated else 0.0


def score(results: Sequence[runner.Result]) -> Score:
    stated = [r for r in results if not r.abstained]
    computed = [r for r in results if r.recomputes is not None]
    return Score(
        items=len(results),
        right=sum(r.correct for r in results),
        stated=len(stated),
        stated_right=sum(r.correct for r in stated),
        computed=len(computed),
        not_recomputing=sum(not r.recomputes for r in computed),
    )


PARTS = {
    "fact sheet, dev": ("arithmetic", "dev"),
    "fact sheet, test": ("arithmetic", "test"),
    "other documents, train": ("arithmetic-multidoc", "train"),
    "other documents, dev": ("arithmetic-multidoc", "dev"),
    "other documents, test": ("arithmetic-multidoc", "test"),
}


def parts(results: Sequence[runner.Result]) -> dict[str, Score]:
    """The README's rows: each suite's splits, then each split of both suites together."""
    rows = {}
    for part, (suite, split) in PARTS.items():
        chosen = [r for r in results if r.item.split == split and _suite_of(r.item) == suite]
        if chosen:
            rows[part] = score(chosen)
    return rows


def _suite_of(item: runner.Item) -> str:
    return "arithmetic" if item.doc == "factsheet" else "arithmetic-multidoc"


def run_suite(name: str, settings: Any, splits: Sequence[str]) -> list[runner.Result]:
    from rag.assistant import Assistant

    items = [i for i in runner.load_suite(name) if i.split in splits]
    corpus = runner.suite_corpus(name)
    if corpus is not None:
        settings = settings.with_(corpus_dir=corpus, data_dir=settings.data_dir / "suites" / name)
    assistant = Assistant(settings)
    assistant.ensure_index()
    return runner.run(assistant, items, with_retrieval=False)


def score_splits(results: Sequence[runner.Result], splits: Sequence[str]) -> list[Score]:
    return [score([r for r in results if r.item.split == split]) for split in splits]


def format_scores(rows: dict[str, Score]) -> str:
    lines = [f"{'part':<32} {'items':>5} {'right':>5} {'acc':>6} {'stated':>6} {'prec':>6} {'computed':>8} {'bad':>4}"]
    for name, s in rows.items():
        lines.append(
            f"{name:<32} {s.items:>5} {s.right:>5} {s.accuracy:>6.3f} {s.stated:>6} {s.precision:>6.3f} "
            f"{s.computed:>8} {s.not_recomputing:>4}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from rag.config import Settings

    parser = argparse.ArgumentParser(prog="python -m evals.arithmetic", description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["train", "dev", "test", "all"], default="all")
    parser.add_argument("--show", type=int, default=20, help="failures to print (train and dev items only)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the suites' indexes are kept")
    args = parser.parse_args(argv)
    splits = ("train", "dev", "test") if args.split == "all" else (args.split,)
    settings = Settings.from_env(**({"data_dir": args.data_dir} if args.data_dir else {}))
    results: list[runner.Result] = []
    for name in SUITES:
        results += run_suite(name, settings, splits)
    rows = parts(results)
    for split in splits:
        part = [r for r in results if r.item.split == split]
        if part:
            rows[split] = score(part)
            for operation, _ in sorted(Counter(r.item.operation for r in part).items()):
                rows[f"  {split} {operation}"] = score([r for r in part if r.item.operation == operation])
    print(format_scores(rows))
    shown = [r for r in results if r.item.split != "test" and not r.correct][: args.show]
    for r in shown:
        expected = "abstain" if r.item.abstain else " | ".join(r.item.answers)
        print(f"- {r.item.id} [{r.item.operation}] {r.item.question}\n    expected {expected}; got {r.text[:200]!r}")
    bad = sum(s.not_recomputing for s in score_splits(results, splits))
    print(f"computed results that do not recompute from their cited operands: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
