"""Merge the writers' per-document item files (items/<doc-id>.jsonl) into the eval suite
evals/datasets/multidoc.jsonl, checked, and freeze the test documents' items.

    python data/multidoc/merge.py            # check and write
    python data/multidoc/merge.py --check    # check only

Items take their split from their document (sources.json), so no document's items land in
two splits. An item whose evidence is not verbatim in its document's text rendering is
dropped with a message (writers sometimes retype a passage), never repaired by hand.
The test part's sha256 is written only when that file does not exist yet: once frozen, a
change to the test items makes tests/test_multidoc_data.py fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from evals.runner import DATASETS, split_digest  # noqa: E402  (the repository is on sys.path only now)

# Python's own documentation is reserved for an independent check (DEVELOPERS.md), so an item
# whose question or evidence quotes a link into it is dropped, even when the page it links to
# is not what the item asks about.
RESERVED_LINKS = ("docs.python.org",)

FIELDS = ("id", "doc", "split", "question", "history", "abstain", "answers", "evidence", "type", "kind")


def _clean(raw: dict, doc: str, split: str, text: str) -> tuple[dict | None, str]:
    item = {k: raw.get(k) for k in FIELDS}
    item["doc"], item["split"] = doc, split
    item["history"] = [
        {"role": turn["role"], "content": turn["content"]}
        for turn in raw.get("history") or []
        if isinstance(turn, dict) and turn.get("role") in ("user", "assistant") and turn.get("content")
    ]
    item["answers"] = [a for a in raw.get("answers") or [] if isinstance(a, str) and a.strip()]
    item["abstain"] = bool(raw.get("abstain")) or not item["answers"]
    item["evidence"] = raw.get("evidence") or ""
    if item["abstain"]:
        item["answers"], item["evidence"], item["kind"] = [], "", raw.get("kind") or "abstain"
    elif not item["evidence"] or item["evidence"] not in text:
        return None, "evidence not verbatim"
    if not isinstance(item["question"], str) or not item["question"].strip():
        return None, "no question"
    quoted = " ".join([item["question"], item["evidence"], *item["answers"]])
    if any(link in quoted for link in RESERVED_LINKS):
        return None, "quotes a link into reserved documentation"
    item["type"] = raw.get("type") or ""
    item["kind"] = item["kind"] or "plain"
    return item, ""


def main() -> None:
    sources = {s["id"]: s for s in json.loads((HERE / "sources.json").read_text(encoding="utf-8"))}
    items, dropped = [], []
    for path in sorted((HERE / "items").glob("*.jsonl")):
        doc = path.stem
        if doc not in sources:
            sys.exit(f"{path.name}: no such document in sources.json")
        text = (HERE / "text" / f"{doc}.txt").read_text(encoding="utf-8")
        seen = set()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                dropped.append(f"{path.name}:{number}: not JSON")
                continue
            item, why = _clean(raw, doc, sources[doc]["split"], text)
            if item is None:
                dropped.append(f"{path.name}:{number}: {why}")
                continue
            if item["id"] in seen or not str(item["id"]).startswith(doc):
                item["id"] = f"{doc}-{number:03d}"
            seen.add(item["id"])
            items.append(item)
    order = {"train": 0, "dev": 1, "test": 2}
    items.sort(key=lambda i: (order[i["split"]], i["doc"], i["id"]))
    for line in dropped:
        print("dropped", line, file=sys.stderr)
    print(f"{len(items)} items from {len({i['doc'] for i in items})} documents; {len(dropped)} dropped")
    if "--check" in sys.argv:
        return
    lines = [json.dumps(i, ensure_ascii=False) for i in items]
    (DATASETS / "multidoc.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    frozen = DATASETS / "multidoc.test.sha256"
    digest = split_digest("multidoc")  # what tests/test_multidoc_data.py compares with
    if not frozen.exists():
        frozen.write_text(f"{digest}  multidoc.jsonl (split test)\n", encoding="utf-8")
    elif frozen.read_text().split()[0] != digest:
        sys.exit("the frozen test items changed: restore them, or say why in the commit and refreeze")


if __name__ == "__main__":
    main()
