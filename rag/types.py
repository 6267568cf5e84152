"""The small frozen records passed between stages, and the public results."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rag.arithmetic import Computation


@dataclass(frozen=True)
class Block:
    """A paragraph, bullet or caption of cleaned text, with its place in the source."""

    text: str  # normalised text (bullets stripped, quotes straightened)
    start: int  # character offsets of the block in the source text
    end: int
    heading: str
    kind: str = "paragraph"  # paragraph | bullet | caption


@dataclass(frozen=True)
class Document:
    source: str  # display path, e.g. "corpus/combating-trafficking-in-persons.txt"
    title: str
    text: str  # the source text that offsets refer to (file text, or text extracted from HTML/PDF)
    blocks: tuple[Block, ...]
    sha256: str


@dataclass(frozen=True)
class Sentence:
    start: int  # offsets in the source text, so a citation points at the exact sentence
    end: int
    text: str  # normalised text of the sentence (straight quotes, single spaces), for matching
    raw: str = ""  # the exact source characters, for citations


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    title: str
    heading: str
    text: str
    sentences: tuple[Sentence, ...]
    ordinal: int  # position in its document
    # (sentence index, reason) for sentences that read as instructions to an assistant
    # (rag.injection): stored with the chunk, never handed to an answerer.
    flags: tuple[tuple[int, str], ...] = ()

    def embedding_text(self) -> str:
        return f"{self.heading}. {self.text}" if self.heading else self.text

    def without_flagged(self) -> tuple[Chunk, list[int]]:
        """This chunk without its flagged sentences, and the indexes of the sentences kept."""
        if not self.flags:
            return self, list(range(len(self.sentences)))
        flagged = {i for i, _ in self.flags}
        kept = [i for i in range(len(self.sentences)) if i not in flagged]
        sentences = tuple(self.sentences[i] for i in kept)
        text = " ".join(s.text for s in sentences)
        return replace(self, text=text, sentences=sentences, flags=()), kept


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused score (higher is better)
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass(frozen=True)
class Citation:
    source: str
    text: str  # the verbatim sentence from the source
    start: int
    end: int
    chunk_id: str
    score: float
    title: str = ""
    heading: str = ""
    passage: str = ""  # the whole paragraph the sentence sits in


@dataclass(frozen=True)
class Answer:
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    short_answer: str = ""  # the direct answer phrase alone ("188 countries")
    answer_type: str = ""
    computed: bool = False
    # the calculation behind a computed answer: operation, operands verbatim, result
    computation: Computation | None = None
    missing: str = ""  # a calculation was asked for and this operand is not in the documents
    corrected: bool = False  # the question asserted a figure the documents contradict
    resolved_question: str = ""  # the question after follow-up resolution
    backend: str = "extractive"  # which answerer produced the text
    guarded: bool = False  # a generated answer broke the figure guard and was replaced by the extractive one
    note: str = ""  # a user-visible note, e.g. why a generative backend fell back
    timings: dict[str, float] = field(default_factory=dict)
    # P(this answer is right), calibrated on the dev documents; for an abstention, the
    # best reading's. None when the answerer gives none (the rules, generative backends).
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)
