"""The grounded extractive answerer: no LLM, deterministic.

It ranks the sentences of the retrieved chunks by meaning (embedding similarity),
by how much of the question they cover (idf-weighted, typo- and synonym-tolerant),
and by whether they hold an answer of the expected type; checks the question's
constraints (years, "today", named things, ordinals) against the sentence; then
extracts the direct answer from it. Every figure it states is a verbatim span of a
cited sentence, except a computed total or difference, which is marked as such.
It abstains when no sentence clears the calibrated threshold.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from rag import arithmetic, figures
from rag.figures import Mention
from rag.question import RANKING_WORDS, WINNER_WORDS, Question, looks_like_instructions
from rag.text import FRAMING, STOPWORDS, acronym_definitions, fold, fuzzy_equal, stem, tokens
from rag.types import Answer, Citation, Hit, Sentence
from rag.wordsim import WordSimilarity

FIGURE_TYPES = ("count", "money", "percent")
# The mention kinds that can answer each expected type.
KINDS = {"count": ("count",), "money": ("money",), "percent": ("percent",), "quantity": FIGURE_TYPES}
_FUTURE_WORDS = re.compile(r"\b(?:will|plans? to|is to|are to|upcoming|scheduled|forthcoming)\b", re.I)
_NOW_WORDS = re.compile(r"\b(?:today|now|currently|current|presently|ongoing)\b", re.I)
_SYNONYM_MIN = 0.55  # word-vector cosine above which two words count as the same idea
MIN_SEMANTIC = 0.2  # below this a sentence is about something else, whatever words it shares
_PLACE_NOUNS = frozenset(stem(w) for w in ("country", "countries", "nation", "city", "cities", "capital"))
_PLACE_MIN = 0.3  # word-vector cosine of a name to "country" above which it is taken for a place
_SAME_NAME = 0.75  # word-vector cosine above which an unknown name is taken to mean a known one
# Sentences that point back at the one before: its years are theirs ("In 2012, ... announced
# the Partnership." -> "Since then, the Partnership has run two challenges.").
_DEMONSTRATIVE = re.compile(r"^(?:This|These|That|Those|Such|The same|Since then|Since that time|At that time)\b")


def _is_place_constraint(question: str, entity: str) -> bool:
    return bool(
        re.search(
            rf"\b(?:in|from|at|within|across|inside|located in|based in)\s+(?:the\s+)?{re.escape(entity)}", question
        )
    )


_FRAMING_STEMS = frozenset(stem(w) for w in FRAMING)


@dataclass(frozen=True)
class Evidence:
    """What retrieval hands the answerer."""

    question: Question
    hits: Sequence[Hit]
    query_vector: np.ndarray
    sentence_vectors: dict[str, np.ndarray]
    question_vector: np.ndarray | None = None  # the question alone, when retrieval used the conversation too
    idf: Callable[[str], float] = lambda term: 1.0
    df_ratio: Callable[[str], float] = lambda term: 0.0
    resolve_term: Callable[[str], str | None] = lambda term: term


class Answerer(ABC):
    name: str = "answerer"

    @abstractmethod
    def answer(self, evidence: Evidence) -> Answer:
        """Answer from the evidence, or abstain."""


@dataclass
class _Candidate:
    hit: Hit
    index: int
    sentence: Sentence
    semantic: float
    coverage: float
    mentions: list[Mention]
    retrieval: float = 0.0  # the chunk's fused retrieval score, scaled to 0..0.1
    score: float = 0.0
    soft_penalty: float = 0.0
    unmatched: str = ""  # the one name of several the question gives that the passage does not bear out


def abstention(question: Question, why: str = "") -> Answer:
    # The question is not echoed back: it may carry injected text or figures of its own.
    text = f"The documents don't say{': ' + why if why else ''}. No passage in them answers this question."
    return Answer(text=text, abstained=True, answer_type=question.answer_type, resolved_question=question.text)


class ExtractiveAnswerer(Answerer):
    name = "extractive"

    def __init__(
        self, words: WordSimilarity | None = None, threshold: float = 0.39, focus_penalty: float = 0.10
    ) -> None:
        self.words = words
        self.threshold = threshold
        self.focus_penalty = focus_penalty  # calibrated on the dev split with evals/calibrate.py

    # --- ranking ----------------------------------------------------------------------

    def rank(self, evidence: Evidence) -> list[_Candidate]:
        q = evidence.question
        weights = self._term_weights(q, evidence)
        candidates: list[_Candidate] = []
        best_fused = max((h.score for h in evidence.hits), default=1.0) or 1.0
        asked = frozenset(q.all_terms)
        for hit in evidence.hits:
            context = _terms_of(f"{hit.chunk.title} {hit.chunk.heading} {hit.chunk.text}")
            previous: _Candidate | None = None
            for i, sentence in enumerate(hit.chunk.sentences):
                vector = evidence.sentence_vectors.get(f"{hit.chunk.id}:{i}")
                semantic = _semantic(evidence, vector)
                words = _terms_of(sentence.text)
                own = words | _acronyms(sentence.text) | _expanded_acronyms(q.terms, words)
                # "population" asked in lower case is not the "Bureau of Population": a word found
                # only inside a name the question did not use counts as context, not as a match.
                own -= _name_only_terms(sentence.text, asked)
                coverage = _coverage(weights, own, context)
                if previous is not None and _continues(previous.sentence.text, sentence.text, evidence.df_ratio):
                    # "The first CPC Partnership was signed ..." goes on about what the sentence
                    # before introduced: it is about what that sentence is about, too.
                    semantic = max(semantic, (semantic + previous.semantic) / 2)
                    coverage = max(coverage, (coverage + previous.coverage) / 2)
                candidate = _Candidate(hit, i, sentence, semantic, coverage, list(figures.mentions(sentence.text)))
                previous = candidate
                candidate.retrieval = 0.1 * hit.score / best_fused
                _rescore(candidate)
                candidates.append(candidate)
        candidates.sort(key=lambda c: -c.score)
        if self.words is not None:
            self._synonym_pass(q, weights, candidates[:6])
            candidates.sort(key=lambda c: -c.score)
        return candidates

    def _term_weights(self, q: Question, evidence: Evidence) -> dict[str, float]:
        weights: dict[str, float] = {}

        def weigh(terms: Sequence[str], factor: float) -> None:
            for term in terms:
                if term.isdigit() or term in weights:
                    continue  # figures and years are checked as constraints, not as words
                if q.confirm and evidence.df_ratio(term) == 0.0 and not evidence.resolve_term(term):
                    continue  # a claimed name the documents never use is checked, not searched for
                resolved = evidence.resolve_term(term) or term
                framing = 0.3 if term in FRAMING or stem(term) in _FRAMING_STEMS else 1.0
                weights[resolved] = max(weights.get(resolved, 0.0), factor * framing * evidence.idf(resolved))

        weigh(q.terms, 1.0)
        own = dict(weights)
        weigh(q.context_terms, 0.5)
        # Earlier turns say what a follow-up is about; its own words say what it asks. The
        # context may weigh as much as the question's own words, never more.
        own_total = sum(own.values())
        context_total = sum(w for t, w in weights.items() if t not in own)
        if own_total and context_total > own_total:
            scale = own_total / context_total
            weights = {t: w if t in own else w * scale for t, w in weights.items()}
        return weights

    def _synonym_pass(self, q: Question, weights: dict[str, float], top: list[_Candidate]) -> None:
        """Question words the top sentences lack lexically may still be there as synonyms."""
        assert self.words is not None
        surface = {stem(t): t for t in tokens(q.text) if t not in STOPWORDS}
        for candidate in top:
            words = [t for t in tokens(candidate.sentence.text) if t not in STOPWORDS and not t.isdigit()]
            own = {stem(w) for w in words}
            missing = [t for t in weights if t not in own and t in surface and not any(fuzzy_equal(t, o) for o in own)]
            gained = 0.0
            for term in missing:
                if self.words.best(surface[term], words) >= _SYNONYM_MIN:
                    gained += 0.8 * weights[term]
            if gained:
                candidate.coverage = min(1.0, candidate.coverage + gained / (sum(weights.values()) or 1.0))
                _rescore(candidate)

    # --- answering --------------------------------------------------------------------

    def answer(self, evidence: Evidence) -> Answer:
        q = _with_typed_names(evidence)
        evidence = replace(evidence, question=q)
        if q.only_instructions:
            return abstention(q, "the question only gives instructions, and instructions in questions are not followed")
        if not evidence.hits:
            return abstention(q)
        candidates = self.rank(evidence)
        if q.expands:
            return self._expansion(q, candidates)

        def common(word: str) -> bool:
            return evidence.df_ratio(word) >= 0.25

        def unknown(word: str) -> bool:
            return evidence.df_ratio(word) == 0.0

        if self.words is not None and _asks_place(q):
            # each candidate's names are compared with "country" below: one forward pass for
            # the names of the leading candidates rather than one per name
            self.words.vectors(m.text.lower() for c in candidates[:8] for m in c.mentions if m.kind == "name")
        if q.operation in _CALCULATED:
            calculated = self._calculate(q, candidates, common, unknown)
            if calculated is not None:
                return calculated
        viable = [c for c in candidates if self._fits(q, c, common, unknown)]
        listed = q.answer_type == "count" and not q.operation and not q.asserted
        variety = _VARIETY.search(q.text) if listed else None  # asked by its form, not whenever no figure fits
        if variety and not any(
            stem(variety.group(1).lower()) in figures.noun_terms(m.noun) for c in viable[:3] for m in c.mentions
        ):
            counted = self._count_list(q, candidates)  # "how many kinds of X": a list of them, not a figure of X
            if counted is not None:
                return counted
        if not viable:
            return abstention(q)
        for c in viable[:8]:
            missing = 0.0 if self._focus_present(q, c) else self.focus_penalty  # the thing asked about is not named
            if q.answer_type == "count" and q.focus:
                # the counted noun is a sharper test of the same thing: one penalty, not two
                missing = max(missing, self._count_noun_penalty(q, c))
            c.soft_penalty += missing
        best = max(viable, key=lambda c: c.score - c.soft_penalty)
        if best.score - best.soft_penalty < self.threshold:
            return abstention(q)
        if q.operation == "span":
            span = self._span(q, viable)
            if span is not None or q.answer_type != "date" or _VERSION.search(q.text):
                return span or abstention(q, "they do not date both events")
        if q.operation in ("sum", "difference") and q.answer_type in KINDS:
            computed = self._compute(q, viable)
            if computed is not None:
                return computed
        return self._extract(q, best)

    def _fits(
        self,
        q: Question,
        c: _Candidate,
        common: Callable[[str], bool] = lambda w: False,
        unknown: Callable[[str], bool] = lambda w: False,
    ) -> bool:
        """Hard constraints: the expected type is present, years/ordinals/names hold."""
        text = c.sentence.text
        sentences = c.hit.chunk.sentences
        previous = sentences[c.index - 1].text if c.index > 0 else ""
        local = f"{previous} {text}"  # "The third challenge ..." names what the sentence before did
        k = c.index - 1

        def ratio(word: str) -> float:
            return 1.0 if common(word) else 0.0

        # "In 2012, ... the Partnership for Freedom." "Since then, the Partnership has run two
        # challenges." "The first challenge ...": a chain of references reaches further back.
        while (
            k > 0
            and c.index - k < 3
            and (_DEMONSTRATIVE.match(sentences[k].text) or _continues(sentences[k - 1].text, sentences[k].text, ratio))
        ):
            k -= 1
            local = f"{sentences[k].text} {local}"
        if q.answer_type in KINDS and not _answerable_figures(q, c):
            return False
        if q.partitive and q.answer_type in KINDS and q.asserted and not q.confirm and not q.operation:
            # "Of the 20 to 30 million victims, how many are girls?": a part of that figure is
            # given where the figure is, or not at all
            wholes = _stated_values(q)
            if not any(figures.value(m.text) in wholes for m in c.mentions if m.kind in FIGURE_TYPES):
                return False
        if c.semantic < MIN_SEMANTIC:
            return False  # shares words with the question but not its meaning
        if looks_like_instructions(text):
            return False  # a document's instructions to an assistant are data, never an answer
        if q.future and _FUTURE_WORDS.search(text):
            c.soft_penalty -= 0.1  # tense agrees: "when does the next one launch" ~ "which will launch in January"
        if q.cumulative and not q.now and _NOW_WORDS.search(text):
            c.soft_penalty += 0.1  # "in total" is not what is ongoing now
        if q.now and not q.years and q.answer_type in KINDS:
            # "right now": a sentence about the present beats one about the past
            c.soft_penalty += -0.1 if _NOW_WORDS.search(text) else 0.05 if figures.years(text) else 0.0
        lowered = text.lower()
        if any(phrase not in lowered for phrase in q.relative_time):
            return False  # "last year": an undated document cannot say what happened then
        if q.answer_type == "date" and not _dates(q, c):
            return False
        names = _names(q, c) if q.answer_type == "name" or q.listed or q.identifier else []
        if q.answer_type == "name" and not names:
            return False  # no name here that the question did not already give
        if q.answer_type == "name" and not q.confirm:
            # "Which are the 70 countries ...": the names must belong to that figure
            referenced = [  # "the one meant to ..." is a pronoun, not a figure
                f for f in q.asserted if f.lower() != "one" and re.search(rf"\bthe {re.escape(f)}\b", q.text)
            ]
            stated = {figures.value(m.text) for m in c.mentions if m.kind in FIGURE_TYPES}
            if any(figures.value(f) not in stated for f in referenced):
                return False
        if q.listed and not any(len(_list_around(text, names, m)) >= q.listed for m in names):
            return False  # "which 10 overseas posts": only a list of that many names answers it
        if q.identifier and not _numbered(names):
            return False  # "the number of the resolution": a name without a number is no answer
        if q.superlative and not q.confirm and not RANKING_WORDS.search(text):
            return False  # "which country has the most projects": a sentence that ranks nothing can't say
        if q.asks_winner and not WINNER_WORDS.search(text):
            return False  # "who won the challenge": what it awarded is not who won it
        if _asks_place(q) and self.words is not None:
            # "which country": a place, by meaning ("Government of Ghana" ~ country 0.40,
            # "TIP Office" 0.19); an office or a program is no answer
            asked = next((t for t in tokens(q.text) if stem(t) == q.focus[-1]), q.focus[-1])
            if not any(self._similar(asked, [m.text.lower()]) >= _PLACE_MIN for m in names):
                return False
        if (
            q.answer_type == "name"
            and q.wants_person
            and not q.confirm
            and not any(_looks_like_person(text, m) for m in names)
        ):
            return False  # "who led the office before X": an office or a country is no answer
        if (
            q.years
            and not q.operation
            and q.answer_type in KINDS
            and not _DEMONSTRATIVE.match(text)
            and not any(set(q.years) <= _attached_years(c, m) for m in c.mentions if m.kind in KINDS[q.answer_type])
        ):
            return False  # the year is in the sentence but qualifies another figure
        sentence_years = figures.years(text)
        if _DEMONSTRATIVE.match(text):
            sentence_years |= figures.years(previous)  # "This research ..." is the research of the sentence before
        if q.operation and q.years:
            if not set(q.years) & sentence_years:
                return False  # each operand needs one of the years; the operands may sit apart
        elif q.years and any(_since(q.text, y) != _since(text, y) for y in q.years if y in sentence_years):
            return False  # "in 2009" is one year; "since 2009" is everything after it
        elif q.years and not set(q.years) <= sentence_years:
            if q.answer_type != "description" or not sentence_years:
                return False
            # A "why/what" question's year is often a premise ("since it started in 2012"):
            # answer from the sentence that dates it differently, and say so.
            c.soft_penalty += 0.15
        folded = fold(text)
        for ordinal in () if q.operation else q.ordinals:
            if ordinal in tokens(text):
                continue
            if re.search(r"\b(?:first|second|third|fourth|fifth|last)\b", folded) or q.answer_type != "description":
                return False  # "the second challenge" does not answer "the third challenge"
            c.soft_penalty += 0.2
        context = f"{c.hit.chunk.heading} {c.hit.chunk.text}"
        if q.context_years and not set(q.context_years) <= figures.years(context):
            return False
        specific = [e for e in q.entities if not _entity_in(e, "", common)]
        figure_or_date = q.answer_type in KINDS or q.answer_type == "date"
        if (
            specific
            and not q.operation
            and figure_or_date
            and not any(_entity_in(e, local, common, unknown) for e in specific)
        ):
            return False  # a figure or date must be about one of the things the question names
        if q.operation and any(_entity_in(e, local, common) for e in q.entities):
            return True  # one operand of a computation: it need only be about one of the things named
        if q.premise_entities and not any(_entity_in(e, context, common, unknown) for e in q.entities):
            return False  # "Since the Partnership was announced by ..., what ...": about one of them at least
        for entity in q.entities + q.context_entities:
            # "in the United States" constrains even when its words are everywhere in the corpus
            picks_out = (lambda w: False) if _is_place_constraint(q.text, entity) else common
            if _entity_in(entity, local, picks_out):
                continue
            if not _entity_in(entity, context, picks_out):
                if entity in q.entities and (q.confirm or (q.premise_entities and entity != q.entities[0])):
                    c.soft_penalty += 0.05  # a claimed name is checked, not required ("X directs it, right?")
                    continue
                if not _entity_in(entity, text, common, unknown):
                    if self._one_wrong_name(q, c, entity, context, common):
                        continue
                    return False
                # A name the corpus never uses. As a place constraint ("in Canada") it must mean
                # a name the sentence has ("in America" ~ "United States"); elsewhere it is
                # likely a paraphrase ("American staff") and only costs a little.
                spelled = [m.text.lower() for m in c.mentions if m.kind == "name"]
                if _is_place_constraint(q.text, entity) and self._similar(entity.lower(), spelled) < _SAME_NAME:
                    return False
                c.soft_penalty += 0.05
            elif entity in q.entities:
                c.soft_penalty += 0.08  # named in the paragraph but not in this sentence
        return True

    @staticmethod
    def _one_wrong_name(q: Question, c: _Candidate, entity: str, context: str, common: Callable[[str], bool]) -> bool:
        """ "the tool the TIP Office developed with The Freedom Fund": when every other name
        the question gives is here and only this one is not, the question most likely got
        that one wrong. The passage answers, and the reply says the name does not fit."""
        if (
            c.unmatched
            or entity not in q.entities
            or len(q.entities) < 2
            or entity == q.entities[0]  # what the question is about comes first; that one must hold
            or _is_place_constraint(q.text, entity)  # "in Canada" is a constraint, never a slip
            or not all(_entity_in(e, context, common) for e in q.entities if e != entity)
        ):
            return False
        c.unmatched = entity
        c.soft_penalty += 0.1
        return True

    def _expansion(self, q: Question, candidates: list[_Candidate]) -> Answer:
        """ "What does CPC stand for?": the long form where the documents define it."""
        for c in candidates:
            long_form = acronym_definitions(c.sentence.text).get(q.expands)
            if long_form:
                return self._reply(q, [c], long_form)
        # Not defined in brackets: a name whose initials spell it ("ILEA" -> "International
        # Law Enforcement Academy" in "the International Law Enforcement Academy Program").
        for c in candidates[:10]:
            for m in c.mentions:
                if m.kind == "name" and (spelled := _spelled_by(m.text, q.expands)):
                    return self._reply(q, [c], spelled)
        # Spelled out after a dash or colon: "the “3P” paradigm – prosecution, protection, and prevention".
        listed = re.compile(
            rf"[\"\u201c]?\b{re.escape(q.expands)}s?\b[\"\u201d]?(?:\s+[a-z]+)?\s*[\u2013\u2014:-]\s+([^.;\u2013\u2014]+)",
            re.I,
        )
        for c in candidates[:10]:
            if found := listed.search(c.sentence.text):
                return self._reply(q, [c], found.group(1).strip())
        return abstention(q, f"they do not spell out {q.expands}")

    def _count_noun_penalty(self, q: Question, c: _Candidate) -> float:
        """ "How many convictions" is not answered by "194 pieces of legislation"."""
        head = q.focus[-1]
        surface = [t for t in tokens(q.text) if stem(t) == head]
        best = 0.0
        for m in c.mentions:
            if m.kind != "count":
                continue
            noun = {stem(t) for t in tokens(m.noun)}
            if not noun or head in noun or any(fuzzy_equal(head, n) for n in noun) or _typo_of_any(q, tokens(m.noun)):
                return 0.0
            # a modifier the question also uses ("anti-trafficking") says nothing about the head
            modifiers = set(q.terms) - {head}
            words = [w.lower() for w in m.noun.split() if not {stem(t) for t in tokens(w)} <= modifiers]
            best = max([best] + [self._similar(f, words) for f in surface])
        return 0.0 if best >= _SYNONYM_MIN else self.focus_penalty if best >= 0.35 else 2 * self.focus_penalty

    def _similar(self, word: str, candidates: list[str]) -> float:
        return self.words.best(word, candidates) if self.words is not None else 0.0

    def _focus_present(self, q: Question, c: _Candidate) -> bool:
        """The thing asked about ("countries", "capital") must be in the sentence, or a synonym."""
        if not q.focus or q.answer_type == "date":
            return True
        words = [t for t in tokens(f"{c.sentence.text} {c.hit.chunk.heading}") if t not in STOPWORDS]
        own = {stem(w) for w in words}
        for term in q.focus[-1:]:  # the head noun: "law enforcement people" -> "people"
            if term in own or any(fuzzy_equal(term, o) for o in own) or _typo_of_any(q, words):
                continue
            surface = next((t for t in tokens(q.text) if stem(t) == term), term)
            if self.words is not None and self.words.best(surface, words) >= _SYNONYM_MIN:
                continue
            return False
        return True

    def _extract(self, q: Question, c: _Candidate) -> Answer:
        sentence = c.sentence.text
        short = ""
        if q.answer_type in KINDS:
            mention = _best_mention(q, c, KINDS[q.answer_type], self._similar)
            share = _share_before(sentence, mention)
            if share and not q.operation and not q.asserted and not q.confirm and _asks_the_part(q, sentence, mention):
                # "Half of the 20 million to 30 million victims are children": the children are
                # half of that figure, worked out, not the whole figure repeated
                computation = arithmetic.compute("fraction", [share, mention.text])
                return self._reply(q, [c], computation.result, computation=computation)
            short = _figure_phrase(q, mention)
        elif q.answer_type == "date":
            short = _best_by_proximity(q, c, _dates(q, c)).text
        elif q.answer_type == "name":
            names = _names(q, c)
            if q.identifier:
                names = _numbered(names)
            if names:
                if self.words is not None and q.focus:
                    self.words.vectors(m.text.lower() for m in names)  # one forward pass, not one per name
                best = _best_by_proximity(q, c, names, self._similar)
                short = _listed_with(sentence, names, best) if q.several else best.text
        correction = _correction(q, c, short)
        if c.unmatched and not correction:
            # the name is the user's, not the documents': it is repeated only if it holds no figure
            surface = _as_typed(q.text, c.unmatched)
            named = surface if not re.search(r"\d", surface) else "one of the names in the question"
            correction = f"Note: the documents do not connect this with {named}."
        if (q.confirm or q.guess) and not correction and q.answer_type == "name" and short:
            claimed = {stem(t) for t in tokens(q.guess or q.text)}
            if not any(stem(t) in claimed for t in tokens(short) if t not in STOPWORDS and t not in _TITLE_WORDS):
                correction = "No: the documents give a different name from the question's."
        return self._reply(q, [c], short or sentence, correction=correction)

    def _calculate(
        self, q: Question, candidates: list[_Candidate], common: Callable[[str], bool], unknown: Callable[[str], bool]
    ) -> Answer | None:
        """A ratio, average, fraction, multiple or comparison of stated figures. The
        operands are figures of any kind at first (the answer, a share or an average, is
        not what the sentences state), chosen as the answer would be; a calculation with
        an operand missing is an abstention that names it. None: answer as usual."""
        operands_q = replace(q, answer_type="quantity", partitive=False)
        viable = [c for c in candidates if self._fits(operands_q, c, common, unknown)]
        if q.operation == "ratio" and viable and any(m.kind == "percent" for m in viable[0].mentions):
            return None  # the share is stated: read it, do not work it out
        if q.operation == "average" and viable and _states_each(viable[0]):
            return None  # "$10,000 each": the average is printed
        counted = bool(viable) and any(
            m.kind == "count" and q.per and q.per in figures.noun_terms(m.noun) for m in viable[0].mentions
        )  # "each school" and "150 schools": the sentence is about what the question divides among
        if not viable or (max(c.score for c in viable) < self.threshold and not counted):
            return abstention(q)  # a calculation asked for: a figure the documents print is not its answer
        return self._compute(q, viable) or abstention(q)

    def _compute(self, q: Question, viable: list[_Candidate]) -> Answer | None:
        kinds = _OPERAND_KINDS.get(q.operation) or KINDS.get(q.answer_type, FIGURE_TYPES)
        stated = _stated_values(q)
        pool: list[tuple[float, Mention, _Candidate]] = []
        for c in sorted(viable, key=lambda c: -c.score)[:4]:
            for m in c.mentions:
                if m.kind in kinds and figures.value(m.text) is not None:
                    named = 1.0 if figures.value(m.text) in stated else 0.0  # the question names this operand
                    pool.append((_mention_score(q, c, m, ignore_time=True) + c.score + named, m, c))
        pool.sort(key=lambda item: -item[0])
        # an operand is a figure the question is about: a word of the question is said of it,
        # or the question states it ("each of the 265 projects")
        pool = [item for item in pool if _about_question(q, item[1], item[2]) or figures.value(item[1].text) in stated]
        chosen = _operands(q, pool)
        need = 1 if q.operation == "fraction" else 2
        if len(chosen) < need:
            return self._missing(q, chosen) if q.operation in _SAYS_MISSING else None
        if q.operation == "fraction":
            ((a, ca),) = chosen[:1]
            computation = arithmetic.compute("fraction", [a.text], q.factor)
            return self._reply(q, [ca], computation.result, computation=computation)
        (a, ca), (b, cb) = chosen[:2]
        va, vb = figures.value(a.text) or 0.0, figures.value(b.text) or 0.0
        if q.operation in ("difference", "compare", "times") and vb > va:
            (a, ca), (b, cb) = (b, cb), (a, ca)  # the larger first: a difference is not negative
        if q.operation == "ratio":
            stated = _stated_values(q)
            if figures.value(b.text) not in stated and (figures.value(a.text) in stated or vb < va):
                (a, ca), (b, cb) = (b, cb), (a, ca)  # the part over the whole ("of its $60 million": the whole)
            if (figures.value(a.text) or 0.0) > (figures.value(b.text) or 0.0):
                return self._missing(q, [(b, cb)])  # a share of more than the whole is two unrelated figures
        if q.operation == "ratio" and not _own_terms(q, a, ca, b, cb):
            return self._missing(q, [(b, cb)])  # the whole is given; nothing says how much of it the part is
        try:
            computation = arithmetic.compute(q.operation, [a.text, b.text])
        except ValueError:
            return None
        short = computation.result
        if q.answer_type == "count" and a.noun and q.operation in ("sum", "difference"):
            short = f"{short} {a.noun}"
        if q.operation == "compare":
            short = f"{_bare(a.text)} is the larger, by {computation.result}"
        cited = [ca] if ca is cb else [ca, cb]
        return self._reply(q, cited, short, computation=computation)

    def _missing(self, q: Question, chosen: list[tuple[Mention, _Candidate]]) -> Answer:
        """Name what a calculation lacks: the documents give one figure, not the other."""
        if q.operation == "average" and chosen and q.per and q.per in figures.noun_terms(chosen[0][0].noun):
            what = "the total to share among them"  # the count is given, the amount is not
        elif q.operation == "average" and chosen:
            what = f"how many {q.per} it is shared among" if q.per else "a count to divide it by"
        elif q.operation == "fraction":
            what = "the figure to take that share of"
        else:
            what = "a second figure to work it out with"
        gave = f"they give {chosen[0][0].text}, but not {what}" if chosen else f"they do not give {what}"
        answer = abstention(q, gave)
        return replace(answer, missing=what)

    def _count_list(self, q: Question, candidates: list[_Candidate]) -> Answer | None:
        """ "How many kinds of X are there?" where the best sentences list the Xs and give no
        count: the list nearest the question's words is counted, and cited."""
        asked = set(q.terms) | set(q.focus)
        for c in sorted(candidates, key=lambda c: -c.score)[:2]:
            if c.score < self.threshold:
                break
            options = _lists(c.sentence.text)
            if not options:
                continue
            _, items = max(options, key=lambda option: len(asked & {stem(t) for t in tokens(option[0])[-8:]}))
            computation = arithmetic.compute("count", items)
            return self._reply(q, [c], computation.result, computation=computation)
        return None

    def _span(self, q: Question, viable: list[_Candidate]) -> Answer | None:
        """Time between two events: the date of the best sentence and the different date
        of the next best one ("launched ... in 2013", "In 2016, the partners announced"),
        or the two dates of one sentence that gives both."""
        unit = _span_unit(q.text)
        ranked = sorted(viable, key=lambda c: -(c.score - c.soft_penalty))

        def when(m: Mention) -> object:
            return arithmetic.date_of(m.text) if unit else int(next(iter(figures.years(m.text))))

        def dated(c: _Candidate) -> list[Mention]:
            return [m for m in _dates(q, c) if figures.years(m.text) and (not unit or arithmetic.date_of(m.text))]

        chosen: list[tuple[Mention, _Candidate]] = []
        for version in _VERSION.findall(q.text)[:2]:
            # "between sed 4.8 and 4.9": each operand is the date given beside that version
            mark = re.compile(rf"(?<![\w.]){re.escape(version)}(?![\w]|\.\d)")
            for c in ranked:
                at = mark.search(c.sentence.text)
                options = [m for m in dated(c) if at and m.start > at.start()]
                if options and all(m is not options[0] for m, _ in chosen):
                    chosen.append((options[0], c))
                    break
        if _VERSION.findall(q.text)[:2] and len(chosen) < 2:
            return None  # the question names the releases: dates of other releases do not answer it
        if not chosen and not q.years and ranked:
            # "from 154 countries in 2008 ..., and since 2010 has ...": one sentence dates both events
            distinct = {when(m): m for m in reversed(dated(ranked[0]))}
            if len(distinct) == 2:
                chosen = [(m, ranked[0]) for m in distinct.values()]
        if not chosen:
            for c in ranked[:4]:
                options = dated(c)
                if not options:
                    continue
                best = _best_by_proximity(q, c, options)
                same_document = all(c.hit.chunk.source == oc.hit.chunk.source for _, oc in chosen)
                if same_document and all(when(best) != when(o) and c is not oc for o, oc in chosen):
                    chosen.append((best, c))
                if len(chosen) == 2:
                    break
        if len(chosen) < 2:
            return None
        ordered = sorted(chosen, key=lambda pair: str(arithmetic.date_of(pair[0].text) or when(pair[0])), reverse=True)
        try:
            computation = arithmetic.compute("span", [m.text for m, _ in ordered], unit=unit)
        except ValueError:
            return None
        cited = [chosen[0][1]] if chosen[0][1] is chosen[1][1] else [c for _, c in chosen]
        return self._reply(q, cited, computation.result, computation=computation)

    def _reply(
        self,
        q: Question,
        cited: list[_Candidate],
        short: str,
        *,
        computed: str = "",
        correction: str = "",
        computation: arithmetic.Computation | None = None,
    ) -> Answer:
        citations = tuple(_citation(c) for c in cited)
        if computation is not None:
            if not arithmetic.recomputes(computation, [c.text for c in citations]):
                # the guard's rule, for every backend: a computed figure is stated only when it
                # follows from operands verbatim in what is cited
                return abstention(q, "a figure worked out from them could not be checked against the cited text")
            computed = computation.formula
        markers = "".join(f"[{i}]" for i in range(1, len(citations) + 1))
        lead = short if short.endswith((".", "?", "!")) else f"{short}."
        if computed:
            lead = f"{short} (computed: {computed})."
        if correction:
            lead = f"{correction} {lead}"
        quotes = " ".join(f"\u201c{_one_line(c.text)}\u201d [{i}]" for i, c in enumerate(citations, 1))
        if lead.rstrip(".") == _one_line(citations[0].text).rstrip(".") and len(citations) == 1:
            text = f"{quotes}"
        else:
            text = f"{lead} {markers}\n\n{quotes}"
        if q.had_instructions:
            text += "\n\n(Instructions inside the question were ignored; only the factual part was answered.)"
        return Answer(
            text=text,
            abstained=False,
            citations=citations,
            short_answer=short,
            answer_type=q.answer_type,
            computed=bool(computed),
            computation=computation,
            corrected=bool(correction),
            resolved_question=q.text,
        )


# --- helpers ---------------------------------------------------------------------------


def _with_typed_names(evidence: Evidence) -> Question:
    """Names of the documents typed by someone who doesn't capitalise ("how much is the
    pathways to freedom challenge giving") constrain the answer as capitalised ones do.
    A question with capitals of its own already marks its names."""
    q = evidence.question
    if any(ch.isupper() for ch in q.text[1:]):
        return q
    typed = fold(q.text).lower()
    known = {fold(e).lower() for e in q.entities}
    found = []
    for hit in evidence.hits:
        for sentence in hit.chunk.sentences:
            for m in figures.mentions(sentence.text):
                name = fold(m.text).lower()
                if (
                    m.kind == "name"
                    and " " in name
                    and name not in known
                    and re.search(rf"\b{re.escape(name)}\b", typed)
                ):
                    known.add(name)
                    found.append(m.text)
    return replace(q, entities=q.entities + tuple(found)) if found else q


def _semantic(evidence: Evidence, vector: np.ndarray | None) -> float:
    if vector is None:
        return 0.0
    score = float(evidence.query_vector @ vector)
    if evidence.question_vector is not None and evidence.question_vector is not evidence.query_vector:
        score = 0.5 * (score + float(evidence.question_vector @ vector))
    return score


_CONTINUING = re.compile(
    r"^(?:The|This|These|That|Those|Such|Its|Their|Both)\s+((?:[\w'\u2019-]+\s+){0,3}[\w'\u2019-]+)"
)


def _continues(before: str, sentence: str, df_ratio: Callable[[str], float]) -> bool:
    """The sentence opens with a definite reference to something the sentence before
    introduced ("... the Child Protection Compact (CPC) Partnership program ..." -> "The
    first CPC Partnership was signed ..."). Words most of the corpus uses don't count."""
    match = _CONTINUING.match(sentence)
    if not match:
        return False
    introduced = _terms_of(before) | _acronyms(before, 2)
    return any(term in introduced and df_ratio(term) < 0.25 for term in _terms_of(match.group(1)) if not term.isdigit())


def _since(text: str, year: str) -> bool:
    return bool(re.search(rf"\b(?:since|ever since)\s+(?:early |late |mid-)?{year}\b", text, re.I))


def _rescore(c: _Candidate) -> None:
    c.score = 0.5 * c.semantic + 0.4 * c.coverage + c.retrieval


@lru_cache(maxsize=65536)
def _terms_of(text: str) -> frozenset[str]:
    return frozenset(stem(t) for t in tokens(text) if t not in STOPWORDS)


@lru_cache(maxsize=65536)
def _acronyms(text: str, shortest: int = 3) -> frozenset[str]:
    """Acronyms a run of capitalised words could go by: "Bureau of Population, Refugees, and
    Migration" -> "bpr", "prm", ...; "Trafficking in Persons" -> "tp" and "tip". So "PRM",
    "ILEA" or "TIP" in a question finds the spelled-out name."""
    out = set()
    for with_minor in (False, True):
        run: list[str] = []
        for word in [*re.findall(r"[A-Za-z][\w'-]*", text), "."]:
            if word[0].isupper() and word.lower() not in STOPWORDS:
                run.append(word[0].lower())
            elif word.lower() in STOPWORDS and run:
                if with_minor and word.lower() in ("in", "of", "for", "on", "and"):
                    run.append(word[0].lower())
            else:
                capitals = "".join(run)
                for i in range(len(capitals)):
                    for j in range(i + shortest, min(len(capitals), i + 6) + 1):
                        out.add(capitals[i:j])
                run = []
    return frozenset(out)


def _expanded_acronyms(terms: Sequence[str], own: frozenset[str]) -> frozenset[str]:
    """Question words spelled out where the sentence has their acronym ("Child Protection Compact" ~ "CPC")."""
    found: set[str] = set()
    for i in range(len(terms)):
        for j in range(i + 3, min(len(terms), i + 6) + 1):
            if "".join(t[0] for t in terms[i:j]) in own:
                found.update(terms[i:j])
    return frozenset(found)


def _name_only_terms(text: str, asked: frozenset[str]) -> frozenset[str]:
    """Words of the sentence that occur only inside a multi-word name of which the question
    uses just that one word ("victim population" vs "Bureau of Population, Refugees, and
    Migration"). A question that uses two of its words ("TIP report") means the name, and
    a title ("which ambassador") names its holder."""
    names, outside = _name_terms(text)
    weak: set[str] = set()
    meant = set(outside)  # words used outside names, or in a name the question asks about
    for words in names:
        used = words & asked
        (weak if len(used) == 1 else meant).update(used)
    return frozenset(weak - meant)


@lru_cache(maxsize=65536)
def _name_terms(text: str) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    """(the words of each multi-word name less titles, the words outside names)."""
    names = [m for m in figures.mentions(text) if m.kind == "name" and " " in m.text]
    outside, last = [], 0
    for m in names:
        outside.append(text[last : m.start])
        last = m.end
    outside.append(text[last:])
    return tuple(_terms_of(m.text) - _TITLE_STEMS for m in names), _terms_of(" ".join(outside))


def _coverage(weights: dict[str, float], own: frozenset[str], context: frozenset[str]) -> float:
    total = sum(weights.values())
    if not total:
        return 0.0
    got = 0.0
    for term, weight in weights.items():
        if term in own or (len(term) >= 5 and any(fuzzy_equal(term, o) for o in own)):
            got += weight
        elif term in context:
            got += 0.5 * weight
    return got / total


def _entity_in(
    entity: str,
    text: str,
    common: Callable[[str], bool] = lambda w: False,
    absent: Callable[[str], bool] = lambda w: False,
) -> bool:
    """Every significant word of a name is in the text (typo-tolerant), or a run of its
    words is there as an acronym ("Child Protection Compact" ~ "CPC").

    A name made only of words most of the corpus uses ("State Department") picks nothing
    out and always holds; in a name of three or more words a common word may be missing.
    Words the corpus never uses may be missing when ``absent`` says so (checked elsewhere)."""
    words = [stem(w).replace(".", "") for w in tokens(entity) if w not in STOPWORDS]  # "U.S." ~ "US"
    if not words or all(common(w) for w in words):
        return True
    # An acronym the user typed ("UN") may be as short as two letters.
    explicit = any(len(w) <= 5 and w.isupper() for w in entity.split())
    have = (
        set(_terms_of(text)) | _acronyms(text, 2 if explicit else 3) | {stem(t).replace(".", "") for t in tokens(text)}
    )
    i = 0
    while i < len(words):
        word = words[i]
        if word in have or any(fuzzy_equal(word, h) for h in have):
            i += 1
            continue
        run = next((j for j in range(len(words), i + 1, -1) if "".join(w[0] for w in words[i:j]) in have), None)
        if run is not None:
            i = run
        elif absent(word) or (common(word) and len(words) >= 3):
            i += 1
        else:
            return False
    return True


def _dates(q: Question, c: _Candidate) -> list[Mention]:
    """Date mentions that are not just the question's own years, with the detail asked for
    ("in what year" is not answered by "January", "what exact day" not by "June 2015")."""
    found = [m for m in c.mentions if m.kind == "date" and m.text not in q.years]
    if q.date_detail == "year":
        found = [m for m in found if figures.years(m.text)]
    elif q.date_detail == "day":
        found = [m for m in found if re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\b(?!\d)", re.sub(r"\b\d{4}\b", "", m.text))]
    return found


def _names(q: Question, c: _Candidate) -> list[Mention]:
    """Names in the sentence that are not the things the question itself names (a name it
    offers as a guess may be the answer)."""
    asked = {stem(t) for t in tokens(q.text.replace(q.guess, " ") if q.guess else q.text)}
    terms = list(q.terms)
    # "TIP", "DS" as typed; not one that qualifies what is asked for ("which UN body")
    acronyms = {t for t in asked if 2 <= len(t) <= 6 and t.upper() in q.text and not _qualifies_focus(q, t.upper())}
    acronyms |= {
        "".join(t[0] for t in terms[i:j]) for i in range(len(terms)) for j in range(i + 3, min(len(terms), i + 6) + 1)
    }
    out = []
    for m in c.mentions:
        if m.kind != "name":
            continue
        # "Ambassador X" is X; "the Government of Ghana" is Ghana
        own = [stem(t) for t in tokens(m.text) if t not in STOPWORDS and t not in _TITLE_WORDS | _DESIGNATORS]
        if _acronyms(m.text, 2) & acronyms:
            continue  # "Office to Monitor and Combat Trafficking in Persons" is the "TIP Office" asked about
        if own and sum(t in asked or t in acronyms for t in own) / len(own) < 0.75:
            out.append(_without_asked(m, asked))
    return out


def _without_asked(m: Mention, asked: set[str]) -> Mention:
    """ "TIP Office and New Perimeter" asked about the TIP Office -> "New Perimeter"."""
    parts = m.text.split(" and ")
    if len(parts) != 2:
        return m
    left, right = ([stem(t) for t in tokens(p) if t not in STOPWORDS] for p in parts)
    if left and all(t in asked for t in left) and not all(t in asked for t in right):
        start = m.start + len(parts[0]) + len(" and ")
        return Mention("name", start, m.end, parts[1])
    if right and all(t in asked for t in right) and not all(t in asked for t in left):
        return Mention("name", m.start, m.start + len(parts[0]), parts[0])
    return m


def _qualifies_focus(q: Question, acronym: str) -> bool:
    following = re.search(rf"\b{re.escape(acronym)}\s+([\w-]+)", q.text)
    return bool(following and stem(following.group(1).lower()) in q.focus)


def _token_positions(text: str) -> list[tuple[int, str]]:
    return [(m.start(), stem(m.group(0).lower())) for m in re.finditer(r"[\w$%'.-]+", text)]


Similar = Callable[[str, list[str]], float]


def _mention_score(
    q: Question, c: _Candidate, m: Mention, ignore_time: bool = False, similar: Similar | None = None
) -> float:
    text = c.sentence.text
    score = 0.0
    noun = figures.noun_terms(m.noun)
    focus = set(q.focus)
    # The head noun decides ("foreign police officers" -> officers); its modifiers count as
    # other question words ("30,000 foreign counterparts" shares only "foreign").
    if focus and q.focus[-1] in noun:
        score += 2.0
    elif focus and noun and (any(fuzzy_equal(q.focus[-1], n) for n in noun) or _typo_of_any(q, tokens(m.noun))):
        score += 1.5
    elif focus and m.noun and similar is not None:
        words = [w.lower() for w in m.noun.split()]
        surface = [t for t in tokens(q.text) if stem(t) == q.focus[-1]]
        if any(similar(f, words) >= _SYNONYM_MIN for f in surface):
            score += 1.5  # "relatives" ~ "family members"
    if q.subject and similar is not None and m.noun and m.kind != "name":
        score += _closest_noun_bonus(q.subject, c, m, similar)
    asked = set(q.terms) | set(q.context_terms)
    head_elsewhere = bool(q.focus) and any(
        q.focus[-1] in figures.noun_terms(o.noun) for o in c.mentions if o is not m and o.kind == m.kind
    )
    if noun & (set(q.terms) - set(q.focus[-1:])) and not head_elsewhere:
        # "238 percent more prosecutions" for a question about prosecutions; but when another
        # figure has the asked noun itself ("17 survivors"), a shared modifier ("trafficking
        # survivors" ~ "700 trafficking victims") does not make this one the answer
        score += 1.0
    if q.partitive and _PART_MARK.search(text[max(0, m.start - 30) : m.start]):
        # "Of the foreign officials trained, how many ...": a part, which the sentence marks
        # as one ("30,000 counterparts ..., including 4,500 officers")
        score += 1.5
    # The premise's words found the passage; the figure is picked by what is asked.
    own_terms = set(q.terms) - set(q.premise_terms)
    if q.subset_of and any(figures.value(m.text) == figures.value(f) for f in q.subset_of):
        score -= 2.0  # "how many of them ...": a part of the earlier figure, not the figure again
    if m.kind != "name":
        clause = _clause(text, m)
        # Question words in the figure's own clause; words of a name there ("the International Law
        # Enforcement Academy Program has trained 30,000 ..., including 4,500 officers") say whose
        # figures these are, which every figure of the sentence shares.
        named = {stem(t) for o in c.mentions if o.kind == "name" for t in tokens(o.text)}
        score += 0.4 * len(({stem(t) for t in tokens(clause)} - named) & own_terms)
    for position, word in _token_positions(text):
        if word in q.negated:
            score -= 0.8 / (1.0 + abs(position - m.start) / 24.0)
        elif word in asked and not word.isdigit():
            distance = abs(position - m.start) / 8.0  # characters to ~words
            weight = 0.6 if word in own_terms else 0.15  # words of earlier turns count less
            score += weight / (1.0 + distance / 3.0)
    if not ignore_time:
        attached = _attached_years(c, m)
        # Asked about a year: the figure tied to it. Asked about now, or not about any
        # time: prefer the present figure over one tied to a past year.
        explicit = bool(q.years or q.now)
        if q.years and set(q.years) & attached:
            score += 1.5
        elif attached:
            score -= 1.5 if explicit else 0.5
        current = bool(_NOW_WORDS.search(text[m.end : m.end + 30] + " " + text[max(0, m.start - 30) : m.start]))
        if q.cumulative and current and not q.now:
            score -= 1.0  # "in total": the running total, not what is ongoing now
        elif not q.years and current:
            score += 1.5 if explicit else 0.75
    return score


_PART_MARK = re.compile(
    r"\b(?:including|among them|of whom|of which|of these|of those)\s+(?:some\s+|about\s+|nearly\s+|more than\s+)?$",
    re.I,
)


def _closest_noun_bonus(subject: str, c: _Candidate, m: Mention, similar: Similar) -> float:
    """ "How much did guilty verdicts rise" over "238 percent more prosecutions and 58 percent
    more convictions": when no figure's noun shares a word with what changed, the figure
    whose noun is closest in meaning is the one asked about. Relative, not a threshold:
    word vectors rank paraphrases better than they score them."""
    options = [o for o in c.mentions if o.kind == m.kind and o.noun]
    wanted = {stem(t) for t in tokens(subject)}
    if len(options) < 2 or any(wanted & figures.noun_terms(o.noun) for o in options):
        return 0.0  # one figure, or the words themselves decide
    scores = {o.start: similar(subject.lower(), [o.noun.lower()]) for o in options}
    ranked = sorted(scores.values(), reverse=True)
    if scores[m.start] == ranked[0] and ranked[0] - ranked[1] >= 0.01:
        return 1.5
    return 0.0


def _attached_years(c: _Candidate, m: Mention) -> set[str]:
    """Years that qualify this figure.

    A year qualifies the figures between it and the boundary before it (a comma, a
    semicolon or another year): "154 countries in 2008 to 188 today" ties 2008 to 154
    only, "$3 million to 12 clinics in 2019" ties 2019 to both. With no figure before
    it, a year qualifies the figures after it up to the next boundary ("in 2014 to train
    2,000 employees"). A sentence-initial "In 2014," or "Since 2009," dates them all."""
    text = c.sentence.text
    numbers = [o for o in c.mentions if o.kind in FIGURE_TYPES]
    years_ = [o for o in c.mentions if o.kind == "date" and figures.years(o.text)]
    boundaries = [b.start() for b in re.finditer(r",(?!\d{3})|[;:]", text)]  # not the comma in "2,000"
    out: set[str] = set()
    for year in years_:
        if year.start < 30 and any(b > year.end for b in boundaries) and not any(b < year.start for b in boundaries):
            out.update(figures.years(year.text))
            continue
        stops = boundaries + [y.end for y in years_ if y.end <= year.start and y is not year]
        left = max([i for i in stops if i < year.start], default=-1)
        owners = [o for o in numbers if left < o.start < year.start]
        if not owners:
            right = min(
                [i for i in boundaries if i > year.end] + [y.start for y in years_ if y.start > year.end] + [len(text)]
            )
            owners = [o for o in numbers if year.end < o.start < right]
        if m in owners:
            out.update(figures.years(year.text))
    return out


def _clause(text: str, m: Mention) -> str:
    """The stretch of the sentence between the commas/semicolons around a mention."""
    boundaries = [b.start() for b in re.finditer(r",(?!\d{3})|[;:]", text)]
    left = max([b for b in boundaries if b < m.start], default=-1)
    right = min([b for b in boundaries if b >= m.end], default=len(text))
    return text[left + 1 : right]


def _answerable_figures(q: Question, c: _Candidate) -> list[Mention]:
    """Figures of the asked kind; for a part ("Of the 20 to 30 million victims, how many are
    girls?"), less the whole the question states: "20 to 30 million" is no answer."""
    options = [m for m in c.mentions if m.kind in KINDS[q.answer_type]]
    if not q.partitive or q.confirm or q.operation or q.guess:
        return options  # elsewhere a stated figure may be a premise to correct
    stated = _stated_values(q)
    return [m for m in options if figures.value(m.text) not in stated]


def _stated_values(q: Question) -> set[float | None]:
    """The values of the figures the question states."""
    return {figures.value(a) for a in q.asserted} - {None}


def _numbered(names: list[Mention]) -> list[Mention]:
    """Names with a number in them ("Executive Order 13627")."""
    return [m for m in names if re.search(r"\d", m.text)]


def _asks_place(q: Question) -> bool:
    """ "Which country ...": a name that is a place is asked for."""
    return q.answer_type == "name" and bool(q.focus) and q.focus[-1] in _PLACE_NOUNS


def _best_mention(q: Question, c: _Candidate, kinds: Sequence[str], similar: Similar | None = None) -> Mention:
    options = _answerable_figures(q, c) if q.answer_type in KINDS else []
    options = options or [m for m in c.mentions if m.kind in kinds]
    return max(options, key=lambda m: _mention_score(q, c, m, similar=similar))


def _best_by_proximity(q: Question, c: _Candidate, options: list[Mention], similar: Similar | None = None) -> Mention:
    focus_words = [t for t in tokens(q.text) if stem(t) in q.focus]
    qualifiers = {a.lower() for a in re.findall(r"\b[A-Z]{2,6}\b", q.text) if _qualifies_focus(q, a)}
    # "who was it signed with?", "developed by?": the answer is the object of that preposition
    stranded = re.search(r"\b(with|by|to|from|for|between)\s*[?.!]*\s*$", q.text, re.I)

    def score(m: Mention) -> float:
        bonus = 0.0
        if stranded and re.search(
            rf"\b{stranded.group(1)}\s+(?:the\s+)?(?:\w+\s+)?$", c.sentence.text[: m.start], re.I
        ):
            bonus += 1.5
        if similar is not None and focus_words and m.kind == "name":
            # "which country" -> "Government of Ghana" rather than "TIP Office"
            bonus += 2.0 * max(similar(f, [m.text.lower()]) for f in focus_words)
        if q.text.lower().startswith("who"):
            if _looks_like_person(c.sentence.text, m):
                bonus += 1.0
            if m.text.split()[-1].lower() in _ARTIFACTS:
                bonus -= 1.5  # "who" is not answered by a tool or a report
        # the words just before the name, back to the end of the name before it
        # ("Executive Order 13627 and the Federal Acquisition Regulation": "Order" is not FAR's)
        previous_end = max((o.end for o in c.mentions if o.end <= m.start), default=0)
        before = fold(c.sentence.text[max(0, m.start - 25, previous_end) : m.start])
        if any(f in {stem(t) for t in tokens(before)} for f in q.focus):
            bonus += 2.0  # "the NGO Verité", "Ambassador Susan Coppedge"
        elif (
            similar is not None
            and focus_words
            and (lead := [t for t in tokens(f"{before} {m.text}") if t not in STOPWORDS])
            and max(similar(f, lead) for f in focus_words) >= _SYNONYM_MIN
        ):
            bonus += 2.0  # "which nonprofit" -> "the NGO Verité"
        elif m.kind == "name" and any(stem(t) in q.focus for t in tokens(m.text)):
            bonus += 2.0  # "which bureau" -> "Bureau of Population, Refugees, and Migration"
        if m.kind == "name" and any(a in qualifiers for a in _acronyms(m.text, 2)):
            bonus += 2.0  # "which UN body" -> "United Nations Office on Drugs and Crime"
        if m.kind == "date" and re.search(r"[A-Za-z]", m.text) and re.search(r"\d", m.text):
            bonus += 0.5  # "June 2015" says more than "2015"
        if (
            m.kind == "date"
            and q.since
            and re.search(r"\b(?:since|from|starting(?: in)?|beginning(?: in)?)\s*$", c.sentence.text[: m.start], re.I)
        ):
            bonus += 2.0  # "since when" is answered by "since 2010"
        return _mention_score(q, c, m) + bonus

    return max(options, key=score)


_TITLES = re.compile(
    r"\b(?:Ambassador|President|Secretary|Senator|Minister|Director|Dr|Mr|Mrs|Ms|Judge|General|Governor)\.?\s*$"
)
_ORG_WORDS = frozenset(
    [
        "office",
        "department",
        "bureau",
        "program",
        "programme",
        "ministry",
        "agency",
        "council",
        "organization",
        "organisation",
        "fund",
        "government",
        "nations",
        "union",
        "partnership",
        "academy",
        "task",
        "force",
        "ngo",
        "inc",
        "ltd",
        "university",
        "institute",
    ]
)


_DESIGNATORS = frozenset("government republic kingdom state states city province people's".split())
_TITLE_WORDS = frozenset("ambassador president secretary director dr mr mrs ms the of".split())
_TITLE_STEMS = frozenset(stem(w) for w in _TITLE_WORDS)
_ARTIFACTS = frozenset(
    [
        "tool",
        "tools",
        "report",
        "reports",
        "order",
        "regulation",
        "regulations",
        "act",
        "application",
        "app",
        "website",
        "document",
        "documents",
        "contract",
        "addendum",
        "memorandum",
        "footprint",
        "challenge",
        "paradigm",
    ]
)


def _as_typed(text: str, entity: str) -> str:
    """The entity as the question wrote it ("Partnership Freedom" -> "the Partnership for Freedom")."""
    words = entity.split()
    found = re.search(rf"(?:\bthe\s+)?\b{re.escape(words[0])}\b.*?\b{re.escape(words[-1])}\b", text, re.I)
    return found.group(0) if found and len(found.group(0)) <= 2 * len(entity) + 12 else entity


def _typo_of_any(q: Question, words: Sequence[str]) -> bool:
    """The head noun as typed is one typo from one of the words ("countires" ~ "countries").
    Compared unstemmed: a typo can change how a word stems ("countire" vs "countri")."""
    typed = [t for t in tokens(q.text) if q.focus and stem(t) == q.focus[-1]]
    return any(fuzzy_equal(t, w.lower()) for t in typed for w in words)


def _spelled_by(name: str, acronym: str) -> str:
    """The run of words in a name whose capitals spell the acronym, or ""."""
    words = name.split()
    for start in range(len(words)):
        if not words[start][0].isupper():
            continue
        capitals = ""
        for end in range(start, len(words)):
            if words[end][0].isupper():
                capitals += words[end][0]
            if capitals == acronym:
                return " ".join(words[start : end + 1])
            if not acronym.startswith(capitals):
                break
    return ""


def _listed_with(sentence: str, names: list[Mention], best: Mention) -> str:
    """ "Which two bodies ...": the names listed together with the best one ("the
    International Labor Organization and the United Nations Office on Drugs and Crime")."""
    run = _list_around(sentence, names, best)
    return sentence[run[0].start : run[-1].end]


def _list_around(sentence: str, names: list[Mention], best: Mention) -> list[Mention]:
    """The names of the list ("A, B and C") that the best one belongs to, in order."""
    ordered = sorted(names, key=lambda m: m.start)
    i = j = ordered.index(best)
    joins = r",?\s+(?:and|or|as well as)\s+(?:the\s+)?|,\s+(?:the\s+)?"
    while i > 0 and re.fullmatch(joins, sentence[ordered[i - 1].end : ordered[i].start]):
        i -= 1
    while j + 1 < len(ordered) and re.fullmatch(joins, sentence[ordered[j].end : ordered[j + 1].start]):
        j += 1
        if re.search(r"\b(?:and|or)\b", sentence[ordered[j - 1].end : ordered[j].start]):
            break  # "A, B and C" ends at C
    return ordered[i : j + 1]


_ORG_APPOSITIVE = re.compile(
    r",\s+(?:[\w'\u2019.-]+\s+){0,4}(?:affiliate|organi[sz]ation|nonprofit|ngo|company|firm|group|agency|"
    r"program|programme|fund|foundation|initiative|partnership|coalition|network|office|bureau)\b",
    re.I,
)


def _looks_like_person(sentence: str, m: Mention) -> bool:
    words = m.text.split()
    if _TITLES.search(sentence[: m.start]) or _TITLES.match(m.text + " ") or (words and _TITLES.search(words[0])):
        return True
    if re.search(r"\bthe\s+$", sentence[: m.start], re.I):
        return False  # "the United States", "the Freedom Fund": people's names take no article
    if any(re.fullmatch(r"[A-Z]{2,}", w) for w in words):
        return False  # "DLA Piper", "UN Women": an acronym in a name is an organisation's
    if _ORG_APPOSITIVE.match(sentence[m.end :]):
        return False  # "New Perimeter, DLA Piper's nonprofit affiliate": what follows says what it is
    return 2 <= len(words) <= 3 and not any(w.lower() in _ORG_WORDS | _ARTIFACTS for w in words)


def _figure_phrase(q: Question, m: Mention) -> str:
    if m.kind != "count":
        return m.phrase() if q.answer_type == "quantity" else m.text
    if m.noun:
        return m.phrase()
    focus_surface = next((t for t in tokens(q.text) if q.focus and stem(t) == q.focus[-1]), "")
    return f"{m.text} {focus_surface}".strip()


def _correction(q: Question, c: _Candidate, short: str) -> str:
    """A figure or year the question asserts that the documents contradict is corrected,
    never repeated: every figure stated must be in a cited passage."""
    stated = [m for m in c.mentions if m.kind in FIGURE_TYPES]
    dates = [m for m in c.mentions if m.kind == "date"]
    for claim in q.asserted:
        claimed = figures.value(claim)
        kind = _kind_of(claim)
        if kind == "date":
            if dates and claim not in figures.years(c.sentence.text):
                return f"Correction: the documents date this to {dates[-1].text}, not the year in the question."
            continue
        if claimed is None or any(figures.value(m.text) == claimed for m in stated):
            continue
        same_kind = [m for m in stated if kind == m.kind]
        if same_kind:
            present = q if (q.years or q.now) else replace(q, now=True)  # no time given: the current figure
            best = max(same_kind, key=lambda m: _mention_score(present, c, m))
            right = short if short and figures.value(short) is not None else best.phrase()
            return f"Correction: the documents say {right}, not the figure in the question."
    return ""


def _kind_of(text: str) -> str:
    found = figures.mentions(text)
    return found[0].kind if found else "count"


# Calculations the answerer works out from operands of any figure kind (sums and
# differences keep the asked kind: "how many more countries" adds countries).
_CALCULATED = frozenset({"ratio", "average", "fraction", "times", "compare"})
_OPERAND_KINDS = {
    "ratio": ("count", "money"),
    "times": ("count", "money", "percent"),
    "average": ("count", "money"),
    "fraction": ("count", "money"),
    "compare": FIGURE_TYPES,
}
_MONEY_WORDS = re.compile(
    r"\$|\b(?:money|dollars?|funding|funds?|funded|awarded|amount|budget|cost|spent|grants?)\b", re.I
)
_SAYS_MISSING = frozenset({"ratio", "average", "fraction", "times"})
_EACH_STATED = re.compile(r"\b(?:each|per|apiece|on average|an average of|average)\b", re.I)


_VERSION = re.compile(r"(?<![\w.])\d+(?:\.\d+)+(?![\w.]*\d)")
# "how many kinds of membership": a count of varieties, which a list gives and a figure of the thing does not
_VARIETY = re.compile(
    r"\bhow many (?:different |distinct |separate )?(kinds|types|sorts|categories|forms|ways|varieties|options|styles|"
    r"methods|classes|levels|areas|groups|things|steps|stages)\b",
    re.I,
)
_SPAN_UNIT = re.compile(r"\bhow many (days|weeks|months)\b|\bin (days|weeks|months)\b", re.I)


def _span_unit(text: str) -> str:
    """ "how many days after ...": the span is counted in days, from full dates."""
    m = _SPAN_UNIT.search(text)
    return (m.group(1) or m.group(2)).lower() if m else ""


def _figure_clause(c: _Candidate, m: Mention) -> set[str]:
    """The stemmed words of the clause a figure sits in (between commas, dashes, brackets)."""
    text = c.sentence.text
    start = max(text.rfind(p, 0, m.start) for p in ",;()\u2013\u2014") + 1
    ends = [i for p in ",;()\u2013\u2014" if (i := text.find(p, m.end)) >= 0]
    words = {stem(t) for t in tokens(text[start : min(ends, default=len(text))])} - STOPWORDS
    return words - {stem(t) for t in tokens(m.text)}  # the figure's own words say nothing of what it counts


def _about_question(q: Question, m: Mention, c: _Candidate) -> bool:
    """Some word of the question is in the figure's sentence, besides the figure itself."""
    said = {stem(t) for t in tokens(c.sentence.text)} - {stem(t) for t in tokens(m.text)} - STOPWORDS
    return bool(said & set(q.terms))


def _own_terms(q: Question, part: Mention, cp: _Candidate, whole: Mention, cw: _Candidate) -> bool:
    """A share needs a part the question describes: some word of the question is said of
    the part's figure and not of the whole's ("ongoing" projects of all those awarded);
    "what share of its 25 million users are in the US" finds none, and is not worked out."""
    asked = set(q.terms) - {stem(t) for t in tokens(f"{part.text} {whole.text}")}
    return bool((_figure_clause(cp, part) & asked) - _figure_clause(cw, whole))


def _states_each(c: _Candidate) -> bool:
    """The sentence prints a per-item figure itself ("$10,000 each", "an average of 12 per day")."""
    return bool(_EACH_STATED.search(c.sentence.text)) and any(m.kind in ("money", "count") for m in c.mentions)


def _operands(q: Question, pool: list[tuple[float, Mention, _Candidate]]) -> list[tuple[Mention, _Candidate]]:
    """The figures a calculation uses, best first, as (mention, sentence)."""
    chosen: list[tuple[Mention, _Candidate]] = []

    def value(m: Mention) -> float | None:
        return figures.value(m.text)

    def fresh(m: Mention) -> bool:
        return all(m is not o and value(m) != value(o) for o, _ in chosen)

    if q.operation == "average":
        stated = _stated_values(q)
        divisors = [
            (m, c)
            for _, m, c in pool
            if m.kind == "count" and (q.per in figures.noun_terms(m.noun) if q.per else value(m) in stated)
        ]
        money = q.answer_type == "money" or (q.answer_type == "quantity" and any(m.kind == "money" for _, m, _ in pool))
        totals = [(m, c) for _, m, c in pool if m.kind == ("money" if money else "count")]
        divisor = divisors[0] if divisors else None
        total = next(
            (t for t in totals if divisor is None or (t[0] is not divisor[0] and value(t[0]) != value(divisor[0]))),
            None,
        )
        return [x for x in (total, divisor) if x is not None] if total else ([divisor] if divisor else [])
    if q.operation == "fraction":
        return [(m, c) for _, m, c in pool[:1]]
    # Operands tied to the question's time anchors ("in 2019 and 2021", "today than in 2008") first.
    anchors: list[str] = list(q.years) + (["now"] if q.now else [])
    if len(anchors) >= 2 and q.operation in ("sum", "difference", "compare", "times", "ratio"):
        for anchor in anchors:
            for _, m, c in pool:
                attached = _attached_years(c, m)
                fits = anchor in attached if anchor != "now" else not attached
                if fits and all(m is not o for o, _ in chosen):
                    chosen.append((m, c))
                    break
        if len(chosen) < 2:
            chosen = []
    if _MONEY_WORDS.search(q.text) and any(m.kind == "money" for _, m, _ in pool):
        pool = [item for item in pool if item[1].kind == "money"]  # "the gap in dollars", "what share of the money"
    for _, m, c in pool:
        if value(m) is not None and fresh(m):
            chosen.append((m, c))
            break
    if len(chosen) == 1:
        first, home = chosen[0]
        nouns = figures.noun_terms(first.noun)

        def fit(item: tuple[float, Mention, _Candidate]) -> float:
            # the other operand counts the same things ("30,000 counterparts", "4,500 officers"
            # are both people trained), and sits near the first when it can
            _, m, c = item
            return item[0] + 0.5 * bool(nouns & figures.noun_terms(m.noun)) + 0.2 * (c is home)

        for _, m, c in sorted(pool, key=lambda item: -fit(item)):
            # both figures from one document: a calculation across unrelated documents is not asked
            if (
                value(m) is not None
                and fresh(m)
                and m.kind == first.kind
                and c.hit.chunk.source == home.hit.chunk.source
            ):
                chosen.append((m, c))
                break
    return chosen


_ITEM = r"[^\s,;:.()\u2013\u2014\"\u201c\u201d]+(?:\s+[^\s,;:.()\u2013\u2014\"\u201c\u201d]+){0,4}"
_LIST = re.compile(rf"{_ITEM},\s+(?:{_ITEM},\s+)*(?:and|or)\s+{_ITEM}")
_SHARE_BEFORE = re.compile(r"(?:" + arithmetic.FRACTION.pattern + r")\s+of\s+(?:the\s+|its\s+|their\s+)?$", re.I)


def _asks_the_part(q: Question, sentence: str, mention: Mention) -> bool:
    """ "Half of the 20 million victims are children": a question about the children (a
    word of what the sentence says of the share, not of the figure) asks for the part."""
    said = {stem(t) for t in tokens(sentence[mention.end :])} - figures.noun_terms(mention.noun) - STOPWORDS
    return bool(said & set(q.terms))


def _share_before(sentence: str, mention: Mention) -> str:
    """ "Half of the 20 million victims": the share a sentence takes of its figure, verbatim."""
    m = _SHARE_BEFORE.search(sentence[max(0, mention.start - 40) : mention.start])
    return m.group(0).split(" of")[0].strip() if m else ""


def _lists(sentence: str) -> list[tuple[str, list[str]]]:
    """The comma lists of a sentence ("prosecution, protection, and prevention"), each with
    the text before it and its items, verbatim. The first and last items are cut to the
    length of the middle ones: the match runs from the clause start to the clause end."""
    found = []
    for m in _LIST.finditer(sentence):
        items = [i.strip() for i in re.split(r",\s+(?:and\s+|or\s+)?", m.group(0))]
        if len(items) < 3 or any(not re.search(r"[A-Za-z]{2}", i) or re.fullmatch(r"\d+\w{0,2}", i) for i in items):
            continue  # "21st, 2003, and ..." lists dates, not things
        width = max(len(i.split()) for i in items[1:-1])
        head = items[0].split()
        items[0] = " ".join(head[-width:])
        items[-1] = " ".join(items[-1].split()[:width])
        lead = sentence[: m.start()] + " ".join(head[:-width])
        found.append((lead, items))
    return found


def _bare(text: str) -> str:
    return re.sub(
        r"^(?:approximately|about|around|roughly|nearly|almost|more than|over|less than|under|up to|at least|some)\s+",
        "",
        text,
        flags=re.I,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _citation(c: _Candidate) -> Citation:
    return Citation(
        source=c.hit.chunk.source,
        text=c.sentence.raw or c.sentence.text,
        start=c.sentence.start,
        end=c.sentence.end,
        chunk_id=c.hit.chunk.id,
        score=round(c.score, 4),
        title=c.hit.chunk.title,
        heading=c.hit.chunk.heading,
        passage=c.hit.chunk.text,
    )
