"""Build the arithmetic eval suites from the writers' files (data/arithmetic/items/).

    python data/arithmetic/merge.py

Fact-sheet items are split between dev and test by a hash of their id (the fact sheet is
one document, and its other suites split the same way); items on the other documents
keep their document's split from the multi-document suite (train, dev or test), so no
document is both tuned on and held out. Every evidence string and operand is checked to
be verbatim in its document. Writes evals/datasets/arithmetic.jsonl (the fact sheet) and
arithmetic-multidoc.jsonl (the other documents); the test parts are frozen in the
``.test.sha256`` files beside them, written once and then only compared.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ITEMS = Path(__file__).resolve().parent / "items"
DATASETS = ROOT / "evals" / "datasets"
FACTSHEET = ROOT / "corpus" / "combating-trafficking-in-persons.txt"
TEXTS = ROOT / "data" / "multidoc" / "text"
FIELDS = (
    "id doc split question history abstain answers evidence evidence2 operation operands missing type kind computed"
).split()


def split_of(item_id: str) -> str:
    return "dev" if hashlib.sha256(item_id.encode()).digest()[0] % 2 == 0 else "test"


def document(doc: str) -> str:
    path = FACTSHEET if doc == "factsheet" else TEXTS / f"{doc}.txt"
    return " ".join(path.read_text(encoding="utf-8").split())


def problems(item: dict) -> list[str]:
    text = document(item["doc"])
    found = []
    for key in ("evidence", "evidence2"):
        if item.get(key) and " ".join(item[key].split()) not in text:
            found.append(f"{key} is not verbatim in {item['doc']}")
    held = " ".join(f"{item.get('evidence', '')} {item.get('evidence2', '')}".split())
    for operand in item.get("operands") or ():
        if " ".join(operand.split()) not in held:
            found.append(f"operand {operand!r} is in neither evidence")
    if not item.get("abstain") and not item.get("answers"):
        found.append("no answers")
    return found


def main() -> int:
    suites: dict[str, list[str]] = {"arithmetic": [], "arithmetic-multidoc": []}
    bad = 0
    for path in sorted(ITEMS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            item["kind"] = "arithmetic"
            if item["doc"] == "factsheet":
                item["split"] = split_of(item["id"])
            issues = problems(item)
            if issues:
                bad += 1
                print(f"{item['id']}: dropped ({'; '.join(issues)})", file=sys.stderr)
                continue
            row = {k: item[k] for k in FIELDS if k in item}
            suite = "arithmetic" if item["doc"] == "factsheet" else "arithmetic-multidoc"
            suites[suite].append(json.dumps(row, ensure_ascii=False))
    for name, lines in suites.items():
        (DATASETS / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        test = [line for line in lines if json.loads(line)["split"] == "test"]
        digest = hashlib.sha256("\n".join(test).encode()).hexdigest()
        frozen = DATASETS / f"{name}.test.sha256"
        if not frozen.exists():
            frozen.write_text(f"{digest}  test split of {name}.jsonl, frozen before tuning\n", encoding="utf-8")
        status = "matches" if frozen.read_text(encoding="utf-8").split()[0] == digest else "DIFFERS FROM"
        print(f"{name}: {len(lines)} items, {len(test)} test; test digest {status} {frozen.name}")
    print(f"{bad} item(s) dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
