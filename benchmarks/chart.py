"""Draw benchmarks/results/latency_vs_size.png from compare.json and scale.json:
answer latency p50/p95 against corpus size (log x), ours vs the peer's warm latency,
and ours vs the peer's accuracy. Needs matplotlib (a dev dependency).

    .venv/bin/python benchmarks/chart.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, load_json, shown  # noqa: E402

P50_TARGET_100K_MS = 60.0
WARM_P50_TARGET_MS = 30.0


def draw(compare: dict[str, Any] | None, scale: dict[str, Any] | None, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (size_ax, warm_ax, acc_ax) = plt.subplots(
        1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1.6, 1, 1]}, constrained_layout=True
    )
    sizes = (scale or {}).get("query", {}).get("sizes", [])
    if sizes:
        x = [s["chunks"] for s in sizes]
        size_ax.plot(x, [s["p50_ms"] for s in sizes], "o-", label="p50")
        size_ax.plot(x, [s["p95_ms"] for s in sizes], "s--", label="p95")
        if all("floor_embed_one_query_p50_ms" in s for s in sizes):
            floors = [s["floor_embed_one_query_p50_ms"] for s in sizes]
            size_ax.plot(x, floors, "^:", color="green", label="floor: embedding the question alone, p50")
        for s in sizes:
            label = f"{s['p50_ms']:.0f}" + (" (machine busy)" if s.get("still_busy") else "")
            size_ax.annotate(label, (s["chunks"], s["p50_ms"]), textcoords="offset points", xytext=(0, 6))
        size_ax.axhline(P50_TARGET_100K_MS, color="grey", linestyle=":", label="p50 target at 100k (60 ms)")
        size_ax.set_xscale("log")
        size_ax.set_yscale("log")
        size_ax.legend(loc="upper left")
    else:
        size_ax.text(0.5, 0.5, "no scale.json yet", ha="center", transform=size_ax.transAxes)
    size_ax.set_xlabel("chunks in the index (log scale; Python 3.11 docs, repeated)")
    size_ax.set_ylabel("answer latency, ms (log scale)")
    size_ax.set_title("Ours: answer latency vs corpus size")

    table = (compare or {}).get("table", {})
    if table:
        labels = ["p50", "p95"]
        ours = [table["warm latency p50"]["ours"], table["warm latency p95"]["ours"]]
        peer = [table["warm latency p50"]["peer"], table["warm latency p95"]["peer"]]
        floor = [table["warm latency p50"]["floor"], table["warm latency p95"]["floor"]]
        _bars(warm_ax, labels, {"ours": ours, "peer (retrieve only)": peer, "floor: embed 1 query": floor}, "{:.0f}")
        warm_ax.axhline(WARM_P50_TARGET_MS, color="grey", linestyle=":", label="p50 target (30 ms)")
        warm_ax.legend(loc="upper left", fontsize=8)
        warm_ax.set_ylabel("ms")
        acc_labels = ["answerable", "overall (incl. abstain)"]
        ours_acc = [table["answer accuracy (answerable)"]["ours"], table["overall accuracy (incl. abstain)"]["ours"]]
        peer_acc = [table["answer accuracy (answerable)"]["peer"], table["overall accuracy (incl. abstain)"]["peer"]]
        _bars(acc_ax, acc_labels, {"ours": ours_acc, "peer (top chunk, upper bound)": peer_acc}, "{:.2f}")
        acc_ax.set_ylim(0, 1.1)
        acc_ax.legend(loc="lower left", fontsize=8)
    warm_ax.set_title("Warm latency, fact sheet (all eval questions)")
    acc_ax.set_title("Accuracy, fact-sheet eval suite")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], fmt: str) -> None:
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name)
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                fmt.format(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                fontsize=8,
            )
    ax.set_xticks(range(len(labels)), labels)


def main() -> None:
    path = draw(load_json("compare.json"), load_json("scale.json"), RESULTS / "latency_vs_size.png")
    print(f"written to {shown(path)}")


if __name__ == "__main__":
    main()
