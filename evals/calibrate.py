"""Calibrate the answerer's abstention threshold and focus penalty on the DEV split only.

Retrieval is run once per item; the answerer is then re-run under each setting, so the
grid is cheap. Prints the best settings; the test split is never looked at here.

    python -m evals.calibrate
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from evals import metrics
from evals.runner import Item, load_suite


def _evidence(assistant: Any, item: Item) -> Any:
    from rag.assistant import validate_history

    state = assistant._retrieve(
        assistant._understand({"question": item.question, "history": validate_history(list(item.history))})
    )
    return state["evidence"]


def score(answerer: Any, cases: list[tuple[Item, Any]]) -> tuple[float, float, float]:
    right = wrong_abstain = answerable = abstain_ok = abstain_items = 0
    for item, evidence in cases:
        answer = answerer.answer(evidence)
        if item.abstain:
            abstain_items += 1
            abstain_ok += answer.abstained
        else:
            answerable += 1
            right += (not answer.abstained) and metrics.any_answer_matches(
                item.answers, answer.short_answer or answer.text
            )
            wrong_abstain += answer.abstained
    return right / max(answerable, 1), abstain_ok / max(abstain_items, 1), wrong_abstain / max(answerable, 1)


def main(suite: str = "factsheet") -> None:
    from rag.assistant import Assistant
    from rag.config import Settings

    assistant = Assistant(Settings.from_env())
    assistant.ensure_index()
    dev = [i for i in load_suite(suite) if i.split == "dev"]
    cases = [(item, _evidence(assistant, item)) for item in dev]
    from rag.answering import ExtractiveAnswerer

    base = assistant.answerer
    assert isinstance(base, ExtractiveAnswerer), "calibration is for the extractive answerer"
    results = []
    for threshold, penalty in itertools.product(
        [0.30, 0.33, 0.36, 0.39, 0.42, 0.45, 0.48], [0.0, 0.05, 0.1, 0.15, 0.2]
    ):
        answerer = ExtractiveAnswerer(base.words, threshold=threshold, focus_penalty=penalty)
        accuracy, abstention, _ = score(answerer, cases)
        results.append(
            (min(accuracy, abstention) + 0.5 * (accuracy + abstention), threshold, penalty, accuracy, abstention)
        )
    results.sort(reverse=True)
    print("objective threshold penalty accuracy abstention_recall (dev split only)")
    for row in results[:10]:
        print("  ".join(f"{v:.3f}" for v in row))


if __name__ == "__main__":
    main(*sys.argv[1:])
