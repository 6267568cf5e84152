"""A self-contained HTML report of an eval run: summary per split, a bar chart of
accuracy per question type and kind, a latency histogram, and one row per question.
Inline SVG and CSS only, so it opens anywhere, offline. Everything is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from evals.runner import ROWS, Result, reliability

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#1f2933;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border-bottom:1px solid #e4e7eb;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fff5f5}.pass{color:#0b7a47;font-weight:600}.fail-label{color:#b42318;font-weight:600}
.small{color:#616e7c;font-size:12px}.charts{display:flex;gap:2rem;flex-wrap:wrap}
"""


def _bar_chart(title: str, values: dict[str, float], width: int = 520) -> str:
    """Horizontal bars, one per label, values in 0..1."""
    row, label_w = 22, 130
    height = row * len(values) + 30
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    parts.append(f'<text x="0" y="14" font-weight="600">{escape(title)}</text>')
    for i, (label, value) in enumerate(values.items()):
        y = 24 + i * row
        bar = max(0.0, min(1.0, value)) * (width - label_w - 60)
        colour = "#0b7a47" if value >= 0.95 else "#d97706" if value >= 0.8 else "#b42318"
        parts.append(f'<text x="0" y="{y + 14}">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + bar + 6:.1f}" y="{y + 14}">{value:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram(title: str, values: Sequence[float], bins: int = 12, width: int = 520, height: int = 180) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    step = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / step), bins - 1)] += 1
    top = max(counts)
    bar_w = (width - 40) / bins
    top_pad = 36  # room for the title and the count above the tallest bar
    parts = [f'<svg width="{width}" height="{height + top_pad + 24}" role="img" aria-label="{escape(title)}">']
    parts.append(f'<text x="0" y="14" font-weight="600">{escape(title)}</text>')
    for i, n in enumerate(counts):
        h = (n / top) * height if top else 0
        x = 20 + i * bar_w
        y = top_pad + height - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="#3e7bfa"/>')
        if n:
            parts.append(f'<text x="{x + 2:.1f}" y="{y - 3:.1f}" font-size="10">{n}</text>')
    parts.append(f'<text x="20" y="{height + top_pad + 18}" font-size="11">{lo:.0f} ms</text>')
    parts.append(f'<text x="{width - 70}" y="{height + top_pad + 18}" font-size="11">{hi:.0f} ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def _summary_table(summary: dict[str, Any]) -> str:
    columns = [*summary["splits"], "all"]
    tables = {**summary["splits"], "all": summary["all"]}
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for row in ROWS:
        cells = "".join(f'<td class="num">{escape(_fmt(tables[c][row]))}</td>' for c in columns)
        rows.append(f"<tr><td>{escape(row)}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _question_rows(results: Sequence[Result]) -> str:
    rows = []
    for r in results:
        ok = r.correct and r.citation_ok is not False and r.faithful
        expected = "abstain" if r.item.abstain else " | ".join(r.item.answers)
        got = "ABSTAINED" if r.abstained else r.short_answer or r.text
        cites = "<br>".join(f"[{i}] {escape(c['text'])}" for i, c in enumerate(r.citations, 1))
        label = '<span class="pass">pass</span>' if ok else '<span class="fail-label">FAIL</span>'
        rows.append(
            f'<tr class="{"" if ok else "fail"}"><td>{escape(r.item.id)}<br><span class="small">{escape(r.item.split)}'
            f" · {escape(r.item.kind)}</span></td><td>{escape(r.item.question)}</td><td>{escape(expected)}</td>"
            f'<td>{escape(got)}</td><td class="small">{cites}</td><td>{label}</td>'
            f'<td class="num">{r.latency_ms:.0f}</td></tr>'
        )
    return (
        "<table><tr><th>id</th><th>question</th><th>expected</th><th>answer</th><th>citations</th>"
        f"<th>result</th><th>ms</th></tr>{''.join(rows)}</table>"
    )


def _reliability_diagram(results: Sequence[Result], size: int = 260) -> str:
    """Calibration: stated answers binned by confidence, the share right in each bin
    against the diagonal a perfectly calibrated answerer would sit on."""
    bins = reliability(results)
    if not bins:
        return ""
    pad, inner = 36, size - 48
    parts = [f'<svg width="{size + 40}" height="{size + 30}" role="img" aria-label="Reliability diagram">']
    parts.append('<text x="0" y="14" font-weight="600">Reliability: confidence vs share right</text>')
    parts.append(f'<rect x="{pad}" y="24" width="{inner}" height="{inner}" fill="none" stroke="#cbd2d9"/>')
    parts.append(
        f'<line x1="{pad}" y1="{24 + inner}" x2="{pad + inner}" y2="24" stroke="#9aa5b1" stroke-dasharray="4"/>'
    )
    width = inner / 10
    for b in bins:
        h = b["right"] * inner
        x = pad + b["low"] * inner
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{24 + inner - h:.1f}" width="{width - 2:.1f}" height="{h:.1f}" fill="#3e7bfa" '
            f'fill-opacity="0.75"><title>{b["n"]} answers, confidence {b["confidence"]:.2f}, right {b["right"]:.2f}</title></rect>'
        )
        parts.append(f'<text x="{x + 2:.1f}" y="{24 + inner - h - 3:.1f}" font-size="9">{b["n"]}</text>')
    parts.append(
        f'<text x="{pad}" y="{inner + 40}" font-size="11">confidence 0 .. 1 (bar: share right; dashed: ideal)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def render_html(suite: str, summary: dict[str, Any], results: Sequence[Result]) -> str:
    everything = summary["all"]
    charts = _bar_chart("Accuracy by question type", everything["accuracy_by_type"]) + _bar_chart(
        "Accuracy by kind", everything["accuracy_by_kind"]
    )
    latency = _histogram("Latency per question (ms)", [r.latency_ms for r in results]) + _reliability_diagram(results)
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>factsheet-qa eval: {escape(suite)}</title>"
        f"<style>{_CSS}</style><body><h1>Eval report: {escape(suite)}</h1>"
        f"<p class='small'>{len(results)} questions. The test split is held out: written before tuning and frozen.</p>"
        f"<h2>Summary</h2>{_summary_table(summary)}<h2>Charts</h2><div class='charts'>{charts}{latency}</div>"
        f"<h2>Questions</h2>{_question_rows(results)}</body></html>"
    )
