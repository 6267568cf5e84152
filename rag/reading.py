"""The learned answerer: the trained span reader decides, with a calibrated confidence.

The reader (``rag.reader``) scores spans of the retrieved passages; the best span's
margin over "no answer" becomes ``Answer.confidence`` through the calibration fitted on
the dev documents, and the answer is stated only when that confidence clears the
threshold chosen there for the target precision. The answer is a verbatim span, cited
with the sentence it sits in, so every figure it states is in the cited text.

A few hard checks stay hand-written, each named, because they are facts about the
question rather than judgements: a question that only gives instructions is not
answered, and an answer must not merely repeat the question's own words.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag import arithmetic, figures
from rag.answering import Answerer, Evidence, ExtractiveAnswerer, abstention
from rag.question import Question
from rag.reader import MODEL_DIR, Span, SpanReader, passage_text, reader_question
from rag.text import fold, tokens
from rag.types import Answer, Citation, Hit, Sentence


@dataclass(frozen=True)
class Check:
    """A named hard constraint on a candidate answer: None when it passes, else the
    reason (which also explains an abstention)."""

    name: str
    test: Callable[[Question, str, Hit], str | None]


def _has_content(q: Question, answer: str, hit: Hit) -> str | None:
    return None if any(c.isalnum() for c in answer) else "no answer was found"


def _not_the_question(q: Question, answer: str, hit: Hit) -> str | None:
    said = set(tokens(answer))
    return "the only answer found repeats the question" if said and said <= set(tokens(q.text)) else None


def _years_hold(q: Question, answer: str, hit: Hit) -> str | None:
    """A year the question names must be in the passage: "how many in 2015?" is not
    answered by a sentence about 2020, however alike they read."""
    asked = set(q.years) | set(q.context_years)
    if not asked or asked & figures.years(passage_text(hit.chunk)):
        return None
    return "no passage gives it for the year asked"  # abstentions do not echo the question


_FIGURE_TYPES = ("count", "money", "percent", "quantity")
# A version number: digits standing alone or after a "v" ("2.6", "v2.3.0", "HTTP/0.9",
# "GPLv3", "IPv6"), not the digits of a name ("urllib3", "pywin32").
_VERSION_NUMBER = re.compile(r"(?:(?<![A-Za-z0-9])|(?<=v)|(?<=\bV))\d")
# The question's own words ask which version (an inherited focus or "how do I see which
# version I have" does not).
_ASKS_VERSION = re.compile(r"^(?!\s*how\b).*\b(?:which|what)\b[^?]*\bversions?\b", re.I | re.S)
_SENTENCE_WORDS = 4  # an answer this long is a sentence, not a name
_MONTHS = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.I)


def _type_fits(q: Question, answer: str, hit: Hit) -> str | None:
    """The answer has the form the question asks for: a figure for "how many", a date for
    "when", words for "who" (not "$40,000" for who won), a numbered version for "which
    version" when the answer is a sentence."""
    has_figure = any(c.isdigit() for c in answer) or bool(figures.mentions(answer))
    if q.answer_type in _FIGURE_TYPES and not has_figure:
        return "no passage gives the figure asked for"
    if q.answer_type == "date" and not (any(c.isdigit() for c in answer) or _MONTHS.search(answer)):
        return "no passage gives the date asked for"
    if (q.wants_person or re.match(r"\s*who\b", q.text, re.I)) and not re.search(r"[A-Za-z]{2}", answer):
        return "no passage names who"
    # A changelog's sentence that does not number a version ("Updated bundled urllib3
    # version.", "Added an optional `glossary` option.") does not say which version; a short
    # name may ("testing", "Bookworm", "the latest version"). "How many versions" asks for a
    # count, checked above.
    if (
        q.answer_type not in _FIGURE_TYPES
        and _ASKS_VERSION.search(q.text)
        and len(answer.split()) >= _SENTENCE_WORDS
        and not _VERSION_NUMBER.search(answer)
    ):
        return "no passage gives the version asked for"
    return None


CHECKS: tuple[Check, ...] = (
    Check("has-content", _has_content),
    Check("not-the-question", _not_the_question),
    Check("years-hold", _years_hold),
    Check("type-fits", _type_fits),
)


class LearnedAnswerer(Answerer):
    name = "learned"

    def __init__(
        self,
        fallback: ExtractiveAnswerer | None = None,
        *,
        reader: SpanReader | None = None,
        model_dir: Path = MODEL_DIR,
        target_precision: float | None = None,
        hybrid: bool = True,
        precision: str = "auto",
    ) -> None:
        self.fallback = fallback  # the rules: used for what they compute (sums, corrections)
        self.words = fallback.words if fallback is not None else None
        self._reader = reader
        self._model_dir = model_dir
        self._target = target_precision
        self._precision = precision
        self.hybrid = hybrid
        self._lock = threading.Lock()

    @property
    def reader(self) -> SpanReader:
        with self._lock:  # loaded on first use, once, so the CLI and imports stay fast
            if self._reader is None:
                self._reader = SpanReader(self._model_dir, precision=self._precision)
            return self._reader

    @property
    def threshold(self) -> float:
        calibration = self.reader.calibration
        return calibration.threshold if self._target is None else calibration.threshold_for(self._target)

    def warm_up(self) -> None:
        self.reader.read("warm up", ["The reader is loaded."])

    def answer(self, evidence: Evidence) -> Answer:
        q = evidence.question
        if q.only_instructions:
            return abstention(q, "the question only gives instructions, and instructions in questions are not followed")
        if not evidence.hits:
            return abstention(q)
        hits = list(evidence.hits)
        spans = self.reader.read(reader_question(q), [passage_text(h.chunk) for h in hits])
        ruled = self.fallback.answer(evidence) if self.fallback is not None and self.hybrid else None
        if ruled is not None and q.operation in arithmetic.OPERATIONS and ruled.abstained:
            # a calculation asked for that the rules could not work out (an operand missing):
            # a span the reader finds is at best one operand, not the answer
            return replace(ruled, confidence=0.0)
        found = candidates(evidence, spans, ruled)
        if ruled is not None and not ruled.abstained and _rules_only(q, ruled):
            # what the rules work out (a sum, a correction, an acronym's long form, a
            # guess the asker offers checked) is not among the reader's spans, and it
            # repeats the question's words by design: their answer stands, with the
            # ranker's confidence in it reported
            scored = [c for c in found if c.answer is not None]
            score = self.reader.rank([c.features for c in scored])[0] if scored else 0.0
            return replace(ruled, confidence=round(self.reader.calibration.confidence(score), 4))
        why = ""
        kept = []
        for candidate in found:
            rejected = next((r for c in CHECKS if (r := c.test(q, candidate.text, hits[candidate.passage]))), None)
            if rejected:
                why = why or rejected
            else:
                kept.append(candidate)
        if not kept:
            return replace(abstention(q, why), confidence=0.0)
        scores = self.reader.rank([c.features for c in kept])
        score, best = max(zip(scores, kept, strict=True), key=lambda pair: pair[0])
        confidence = round(self.reader.calibration.confidence(score), 4)
        if confidence < self.threshold:
            return replace(abstention(q), confidence=confidence)
        if best.answer is not None:  # the rules' answer: their wording, sums and corrections
            return replace(best.answer, confidence=confidence)
        assert best.span is not None
        return self._reply(q, best.span, hits[best.span.passage], confidence)

    def _reply(self, q: object, span: Span, hit: Hit, confidence: float) -> Answer:
        sentence = sentence_at(hit, span)
        citation = Citation(
            source=hit.chunk.source,
            text=sentence.raw or sentence.text,
            start=sentence.start,
            end=sentence.end,
            chunk_id=hit.chunk.id,
            score=confidence,
            title=hit.chunk.title,
            heading=hit.chunk.heading,
            passage=hit.chunk.text,
        )
        short = span.text.strip().rstrip(".,;:")
        quote = " ".join(citation.text.split())
        lead = f"{short}." if not short.endswith(("?", "!")) else short
        text = f"{lead} [1]\n\n\u201c{quote}\u201d [1]"
        if fold(short) == fold(quote).rstrip("."):
            text = f"\u201c{quote}\u201d [1]"
        if getattr(q, "had_instructions", False):
            text += "\n\n(Instructions inside the question were ignored; only the factual part was answered.)"
        return Answer(
            text=text,
            abstained=False,
            citations=(citation,),
            short_answer=short,
            answer_type=str(getattr(q, "answer_type", "")),
            resolved_question=str(getattr(q, "text", "")),
            confidence=confidence,
        )


def _rules_only(q: Question, ruled: Answer) -> bool:
    return bool(ruled.computed or ruled.corrected or q.expands or q.guess or q.confirm)


def sentence_index(hit: Hit, span: Span) -> int:
    sentence = sentence_at(hit, span)
    return next((i for i, s in enumerate(hit.chunk.sentences) if s is sentence), 0)


def sentence_at(hit: Hit, span: Span) -> Sentence:
    """The chunk sentence a span of its passage text falls in (the first, for the heading:
    the heading is not a sentence of the source, and the first sentence is under it)."""
    chunk = hit.chunk
    offset = len(passage_text(chunk)) - len(chunk.text)  # "heading. " before the text
    position = span.start - offset
    at = 0
    for sentence in chunk.sentences:
        end = at + len(sentence.text)
        if position < end + 1:
            return sentence
        at = end + 1  # sentences are joined by one space
    return chunk.sentences[-1] if chunk.sentences else Sentence(0, 0, chunk.text)


# --- the hybrid: one learned choice among the rules' answer and the reader's spans -------

ANSWER_TYPES = ("count", "money", "percent", "quantity", "date", "name", "description")


@dataclass(frozen=True)
class Candidate:
    """An answer one of the extractors proposes, with what the ranker judges it by."""

    text: str
    source: str  # "rules" | "reader"
    passage: int  # index of its hit
    features: tuple[float, ...]
    answer: Answer | None = None  # the rules' full answer, when the candidate is theirs
    span: Span | None = None


FEATURES = (
    "from_rules",
    "reader_margin",
    "reader_score",
    "reader_null",
    "margin_gap_to_best",
    "reader_rank",
    "hit_rank",
    "hit_score",
    "agrees",
    "rules_answered",
    "tokens",
    "has_digit",
    "in_question",
    "question_covered",
    "passages_positive",
    "follow_up",
    "sentence_similarity",
    "best_sentence_similarity",
    "rules_score",
    *(f"type_{t}" for t in ANSWER_TYPES),
)


def candidates(evidence: Evidence, spans: list[Span], ruled: Answer | None) -> list[Candidate]:
    """The rules' answer (if any) and the reader's three best spans, each with features."""
    q = evidence.question
    hits = list(evidence.hits)
    asked = evidence.question_vector if evidence.question_vector is not None else evidence.query_vector
    similarity = {key: float(np.dot(asked, v)) for key, v in evidence.sentence_vectors.items()}
    best_similarity = max(similarity.values(), default=0.0)
    rules_score = ruled.citations[0].score if ruled is not None and ruled.citations and not ruled.abstained else 0.0
    question_tokens = set(tokens(str(getattr(q, "text", ""))))
    ranked = sorted(spans, key=lambda s: s.margin, reverse=True)
    best = ranked[0].margin if ranked else 0.0
    positive = sum(s.margin > 0 for s in spans)
    rules_ok = ruled is not None and not ruled.abstained and bool(ruled.citations)
    rules_text = ruled.short_answer or ruled.text if rules_ok and ruled is not None else ""
    rules_tokens = set(tokens(fold(rules_text)))
    kind = str(getattr(q, "answer_type", ""))
    follow_up = float(getattr(q, "retrieval_text", "") != getattr(q, "text", ""))
    chunk_index = {h.chunk.id: i for i, h in enumerate(hits)}

    def features(
        text: str, rank: int, passage: int, span: Span | None, from_rules: bool, sentence: int
    ) -> tuple[float, ...]:
        said = set(tokens(fold(text)))
        hit = hits[passage]
        own = similarity.get(f"{hit.chunk.id}:{sentence}", 0.0)
        chunk_tokens = set(tokens(passage_text(hit.chunk)))
        agree = len(said & rules_tokens) / max(1, len(said | rules_tokens)) if rules_tokens else 0.0
        margin = span.margin if span is not None else -20.0
        return (
            float(from_rules),
            margin,
            span.score if span is not None else -20.0,
            span.null if span is not None else 0.0,
            best - margin,
            float(rank),
            float(passage),
            float(hit.score),
            agree,
            float(rules_ok),
            float(len(said)),
            float(any(c.isdigit() for c in text)),
            len(said & question_tokens) / max(1, len(said)),
            len(question_tokens & chunk_tokens) / max(1, len(question_tokens)),
            float(positive),
            follow_up,
            own,
            best_similarity,
            float(rules_score),
            *(float(kind == t) for t in ANSWER_TYPES),
        )

    out = [
        Candidate(
            s.text,
            "reader",
            s.passage,
            features(s.text, r, s.passage, s, False, sentence_index(hits[s.passage], s)),
            span=s,
        )
        for r, s in enumerate(ranked[:3])
    ]
    if rules_ok and ruled is not None:
        cited = ruled.citations[0]
        passage = chunk_index.get(cited.chunk_id, 0)
        # the reader's own reading of the passage the rules cite, as the rules' evidence
        own = next((s for s in spans if s.passage == passage), None)
        sentence = next((i for i, x in enumerate(hits[passage].chunk.sentences) if x.start == cited.start), 0)
        out.append(
            Candidate(
                rules_text, "rules", passage, features(rules_text, -1, passage, own, True, sentence), answer=ruled
            )
        )
    return out
