"""Run an eval suite through the assistant and score it.

A suite is a JSON-lines file (format in the README): each item has a question, optional
chat history, accepted answers, a verbatim evidence string, and a split ("dev" items
may be tuned on; "test" items are frozen and only reported).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals import faithfulness, metrics

DATASETS = Path(__file__).resolve().parent / "datasets"


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    split: str = "dev"
    history: tuple[dict[str, str], ...] = ()
    abstain: bool = False
    answers: tuple[str, ...] = ()
    evidence: str = ""
    evidence2: str = ""
    type: str = ""
    kind: str = "plain"
    computed: bool = False
    doc: str = ""  # suites over several documents: the document the item is about
    operation: str = ""  # arithmetic items: the calculation asked for (rag.arithmetic.OPERATIONS)
    operands: tuple[str, ...] = ()  # arithmetic items: each operand verbatim (a count's list items)


@dataclass(frozen=True)
class Result:
    item: Item
    text: str
    short_answer: str
    abstained: bool
    correct: bool
    citation_ok: bool | None  # None: nothing to check (abstain item, or abstained)
    faithful: bool
    latency_ms: float
    retrieval_rank: int | None = None  # rank of the first chunk holding the evidence
    citations: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    backend: str = "extractive"
    guarded: bool = False
    faithful_independent: bool = True  # evals/faithfulness.py's verdict
    confidence: float | None = None  # Answer.confidence: P(right), calibrated on the dev documents
    # a computed answer: does its result follow from its cited operands? (None: nothing computed)
    recomputes: bool | None = None


def suite_path(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".jsonl" and path.exists():
        return path
    candidate = DATASETS / f"{name}.jsonl"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in DATASETS.glob("*.jsonl")))
        raise FileNotFoundError(f"no eval suite {name!r} (known: {known})")
    return candidate


def suite_corpus(name: str) -> Path | None:
    """The documents a suite is about, when they are not the fact sheet's corpus: a suite
    names its folder in ``<suite>.corpus`` (a path relative to that file)."""
    sidecar = suite_path(name).with_suffix(".corpus")
    if not sidecar.exists():
        return None
    return (sidecar.parent / sidecar.read_text(encoding="utf-8").strip()).resolve()


def split_digest(name: str, split: str = "test") -> str:
    """sha256 of a suite's lines of one split, as its ``.sha256`` file freezes them."""
    lines = suite_path(name).read_text(encoding="utf-8").splitlines()
    if split != "all":
        lines = [line for line in lines if json.loads(line)["split"] == split]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def load_suite(name: str) -> list[Item]:
    items = []
    for number, line in enumerate(suite_path(name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(
                Item(
                    id=raw["id"],
                    question=raw["question"],
                    split=raw.get("split", "dev"),
                    history=tuple(raw.get("history") or ()),
                    abstain=bool(raw.get("abstain", False)),
                    answers=tuple(raw.get("answers") or ()),
                    evidence=raw.get("evidence", ""),
                    evidence2=raw.get("evidence2", ""),
                    type=raw.get("type", ""),
                    kind=raw.get("kind", "plain"),
                    computed=bool(raw.get("computed", False)),
                    doc=raw.get("doc", ""),
                    operation=raw.get("operation", ""),
                    operands=tuple(raw.get("operands") or ()),
                )
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{name}: line {number} is not a valid item ({exc})") from None
    return items


def grade(item: Item, answer: Any, latency_ms: float, retrieval_rank: int | None = None) -> Result:
    passages = [c.text for c in answer.citations] + [c.passage for c in answer.citations]
    graded_text = answer.short_answer or answer.text
    if item.abstain:
        correct = answer.abstained
    else:
        correct = not answer.abstained and metrics.any_answer_matches(item.answers, graded_text)
    if correct and item.kind == "arithmetic" and not item.abstain:
        correct = operands_right(item, answer)  # the right value from the wrong figures is not right
    citation_ok = None
    if not item.abstain and not answer.abstained and item.evidence:
        citation_ok = any(
            metrics.passage_supports(item.evidence, c.text) or metrics.passage_supports(c.text, item.evidence)
            for c in answer.citations
        )
    computed = [answer.short_answer] if answer.computed else []
    return Result(
        item=item,
        text=answer.text,
        short_answer=answer.short_answer,
        abstained=answer.abstained,
        correct=correct,
        citation_ok=citation_ok,
        faithful=answer.abstained or metrics.faithful(answer.text, passages, computed),
        faithful_independent=answer.abstained or faithfulness.faithful(answer.text, passages, computed),
        latency_ms=latency_ms,
        retrieval_rank=retrieval_rank,
        citations=tuple(asdict(c) for c in answer.citations),
        backend=getattr(answer, "backend", "extractive"),
        guarded=getattr(answer, "guarded", False),
        confidence=getattr(answer, "confidence", None),
        recomputes=_recomputes(answer),
    )


def operands_right(item: Item, answer: Any) -> bool:
    """Every operand of the item is an operand of the answer's computation, by value (a
    list count: every listed item is among the counted ones). Items without operands
    given are judged by their value alone."""
    from rag import arithmetic

    computation = getattr(answer, "computation", None)
    if not item.operands:
        return True
    if computation is None:
        return False
    if item.operation == "count" or computation.operation == "count":
        counted = [metrics.fold(o) for o in computation.operands]
        return all(any(metrics.fold(o) in c or c in metrics.fold(o) for c in counted) for o in item.operands)

    def value(span: str) -> tuple[float, float] | None:
        if item.operation == "span":
            day = arithmetic.date_of(span)
            year = day.toordinal() if day else arithmetic.year_of(span)
            if year is not None:
                return (year, year)
        q = arithmetic.quantity(span)
        return (q.low, q.high) if q is not None else None

    got = [value(o) for o in computation.operands]
    said = [metrics.fold(o) for o in computation.operands]
    # an operand without a figure ("Half" of a stated figure) is compared as text
    return all((value(o) is not None and value(o) in got) or metrics.fold(o) in said for o in item.operands)


def _recomputes(answer: Any) -> bool | None:
    from rag import arithmetic

    computation = getattr(answer, "computation", None)
    if computation is None or answer.abstained:
        return None
    return arithmetic.recomputes(computation, [c.text for c in answer.citations])


def evidence_rank(assistant: Any, item: Item) -> int | None:
    if not item.evidence:
        return None
    hits = assistant.retrieve(item.question, list(item.history))
    for rank, hit in enumerate(hits):
        if metrics.passage_supports(item.evidence, hit.chunk.text) or metrics.fold(item.evidence) in metrics.fold(
            hit.chunk.text
        ):
            return rank
    return None


def run(assistant: Any, items: Sequence[Item], with_retrieval: bool = True) -> list[Result]:
    results = []
    for item in items:
        started = time.perf_counter()
        answer = assistant.answer(item.question, list(item.history))
        latency = (time.perf_counter() - started) * 1000
        rank = evidence_rank(assistant, item) if with_retrieval else None
        results.append(grade(item, answer, latency, rank))
    return results


def summarise(results: Sequence[Result]) -> dict[str, Any]:
    answerable = [r for r in results if not r.item.abstain]
    cited = [r for r in results if r.citation_ok is not None]
    follow_ups = [r for r in results if r.item.history]
    stated = [r for r in results if not r.abstained]
    precision, recall = metrics.precision_recall([r.abstained for r in results], [r.item.abstain for r in results])
    ranks = [r.retrieval_rank for r in answerable if r.item.evidence]
    latencies = [r.latency_ms for r in results]
    by_kind: dict[str, list[bool]] = {}
    by_type: dict[str, list[bool]] = {}
    for r in results:
        by_kind.setdefault(r.item.kind, []).append(r.correct)
        by_type.setdefault("abstain" if r.item.abstain else r.item.type or "other", []).append(r.correct)
    return {
        "items": len(results),
        "answer_accuracy": _ratio(sum(r.correct for r in answerable), len(answerable)),
        "overall_accuracy": _ratio(sum(r.correct for r in results), len(results)),
        "citation_accuracy": _ratio(sum(bool(r.citation_ok) for r in cited), len(cited)),
        "faithfulness": _ratio(sum(r.faithful for r in results), len(results)),
        # the same question asked by a parser that shares no code with the guard (evals/faithfulness.py)
        "faithfulness_independent": _ratio(sum(r.faithful_independent for r in results), len(results)),
        # right answers / all non-abstentions: a stated answer to an unanswerable item counts as wrong
        "stated_precision": _ratio(sum(r.correct for r in stated), len(stated)),
        "abstention_precision": round(precision, 4),
        "abstention_recall": round(recall, 4),
        "follow_up_accuracy": _ratio(sum(r.correct for r in follow_ups), len(follow_ups)),
        "hit@1": _ratio(sum(metrics.hit_at(k, 1) for k in ranks), len(ranks)),
        "hit@3": _ratio(sum(metrics.hit_at(k, 3) for k in ranks), len(ranks)),
        "hit@5": _ratio(sum(metrics.hit_at(k, 5) for k in ranks), len(ranks)),
        "mrr": _ratio(sum(metrics.reciprocal_rank(k) for k in ranks), len(ranks)),
        "latency_p50_ms": round(metrics.percentile(latencies, 50), 2),
        "latency_p95_ms": round(metrics.percentile(latencies, 95), 2),
        "guard_fire_rate": _ratio(sum(r.guarded for r in results), len(results)),
        "accuracy_by_kind": {k: _ratio(sum(v), len(v)) for k, v in sorted(by_kind.items())},
        "accuracy_by_type": {k: _ratio(sum(v), len(v)) for k, v in sorted(by_type.items())},
    }


def coverage_curve(
    results: Sequence[Result], thresholds: Sequence[float] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
) -> list[dict[str, float]]:
    """What stating only the answers of confidence >= t gives: coverage (share of items
    answered) and precision of those answers, unanswerable items included. Below the
    answerer's own threshold nothing more was stated, so the curve is flat there. Items
    without a confidence (the rules, generative backends) are left out."""
    scored = [r for r in results if r.confidence is not None]
    rows = []
    for t in thresholds:
        stated = [r for r in scored if (r.confidence or 0.0) >= t and not r.abstained]
        rows.append(
            {
                "threshold": t,
                "coverage": _ratio(len(stated), len(scored)),
                "precision": _ratio(sum(r.correct for r in stated), len(stated)),
            }
        )
    return rows


def reliability(results: Sequence[Result], bins: int = 10) -> list[dict[str, float]]:
    """Stated answers binned by confidence: mean confidence against the share right."""
    stated = [r for r in results if r.confidence is not None and not r.abstained]
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [r for r in stated if lo <= (r.confidence or 0.0) < hi or (b == bins - 1 and r.confidence == 1.0)]
        if inside:
            out.append(
                {
                    "low": lo,
                    "high": hi,
                    "n": len(inside),
                    "confidence": _ratio(sum(r.confidence or 0.0 for r in inside), len(inside)),
                    "right": _ratio(sum(r.correct for r in inside), len(inside)),
                }
            )
    return out


def format_curve(results: Sequence[Result]) -> str:
    rows = coverage_curve(results)
    if not any(r.confidence is not None for r in results):
        return ""
    lines = ["coverage-precision (answer only when confidence >= t):"]
    lines += [f"  t={r['threshold']:.1f}  coverage {r['coverage']:.3f}  precision {r['precision']:.3f}" for r in rows]
    return "\n".join(lines)


def _ratio(numerator: float, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 1.0


def report(results: Sequence[Result]) -> dict[str, Any]:
    splits = sorted({r.item.split for r in results})
    return {
        "splits": {split: summarise([r for r in results if r.item.split == split]) for split in splits},
        "all": summarise(results),
    }


ROWS = (
    "items",
    "answer_accuracy",
    "citation_accuracy",
    "faithfulness",
    "faithfulness_independent",
    "stated_precision",
    "abstention_precision",
    "abstention_recall",
    "follow_up_accuracy",
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr",
    "latency_p50_ms",
    "latency_p95_ms",
    "guard_fire_rate",
)
# --min-* options of `factsheet-qa eval`: option name -> metric
GATES = {
    "min_accuracy": "answer_accuracy",
    "min_citation": "citation_accuracy",
    "min_faithfulness": "faithfulness",
    "min_abstention": "abstention_recall",
    "min_abstention_precision": "abstention_precision",
    "min_follow_up": "follow_up_accuracy",
    "min_hit3": "hit@3",
}


def format_table(summary: dict[str, Any]) -> str:
    columns = [*summary["splits"], "all"]
    tables = {**summary["splits"], "all": summary["all"]}
    width = max(len(row) for row in ROWS) + 2
    lines = [f"{'metric':<{width}}" + "".join(f"{c:>10}" for c in columns)]
    for row in ROWS:
        lines.append(f"{row:<{width}}" + "".join(f"{_cell(tables[c][row]):>10}" for c in columns))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_failures(results: Sequence[Result], limit: int) -> str:
    failed = [r for r in results if not r.correct or r.citation_ok is False or not r.faithful]
    lines = [f"{len(failed)} failing item(s)"]
    for r in failed[:limit]:
        expected = "abstain" if r.item.abstain else " | ".join(r.item.answers)
        got = "ABSTAINED" if r.abstained else (r.short_answer or r.text)[:140]
        flags = [] if r.correct else ["wrong"]
        flags += ["citation"] if r.citation_ok is False else []
        flags += ["unfaithful"] if not r.faithful else []
        lines.append(
            f"- {r.item.id} [{r.item.kind}/{','.join(flags)}] {r.item.question!r}\n    expected: {expected}\n    got:      {got}"
        )
    return "\n".join(lines)


def run_cli(args: Any, settings: Any) -> int:
    from rag.assistant import Assistant

    items = load_suite(args.suite)
    corpus = suite_corpus(args.suite)
    if corpus is not None:  # its own documents, in an index of their own beside the default one
        settings = settings.with_(corpus_dir=corpus, data_dir=settings.data_dir / "suites" / Path(args.suite).stem)
        print(f"suite {args.suite}: documents in {corpus}", file=sys.stderr)
    if args.split != "all":
        items = [i for i in items if i.split == args.split]
    if getattr(args, "compare", False):
        from evals.compare import compare, format_comparison

        rows = compare(settings, items)
        print(format_comparison(rows))
        if args.json_out:
            args.json_out.write_text(json.dumps(dict(rows), indent=2), encoding="utf-8")
        return 0
    assistant = Assistant(settings)
    assistant.ensure_index()
    assistant.warm_up()
    results = run(assistant, items)
    summary = report(results)
    print(format_table(summary))
    curve = format_curve(results)
    if curve:
        print(curve)
    print()
    # Frozen (test-split) items print their table but not their failures unless asked for by
    # name: whoever reads them and changes the code has tuned on the held-out set.
    shown = results if getattr(args, "show_frozen_failures", False) else [r for r in results if r.item.split != "test"]
    if shown or not results:
        print(format_failures(shown, args.show))
    hidden = len(results) - len(shown)
    if hidden:
        print(f"failures of the {hidden} frozen test item(s) are not shown (--show-frozen-failures shows them)")
    if args.json_out:
        payload = {"suite": args.suite, "summary": summary, "results": [_result_dict(r) for r in results]}
        args.json_out.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    if getattr(args, "html", None):
        from evals.report import render_html

        args.html.write_text(render_html(args.suite, summary, results), encoding="utf-8")
    return check_gates(summary["all"], {opt: getattr(args, opt, None) for opt in GATES})


def check_gates(summary: dict[str, Any], floors: dict[str, float | None]) -> int:
    """Exit status for the --min-* gates: 1 (and a line each on stderr) when any is missed."""
    missed = [(GATES[opt], floor) for opt, floor in floors.items() if floor is not None and summary[GATES[opt]] < floor]
    for metric, floor in missed:
        print(f"gate missed: {metric} {summary[metric]:.3f} < {floor}", file=sys.stderr)
    return 1 if missed else 0


def _result_dict(result: Result) -> dict[str, Any]:
    data = asdict(result)
    data["item"] = asdict(result.item)
    return data
