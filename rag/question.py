"""Question analysis: expected answer type, focus words, constraints (years, named
things, "today"), arithmetic intent, embedded instructions, asserted figures, and
resolution of elliptical follow-ups against the chat history. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from rag.figures import mentions, years
from rag.text import STOPWORDS, content_terms, stem, tokens

_TYPE_RULES: tuple[tuple[str, str], ...] = (
    (
        "quantity",
        r"\bhow (?:much|many) (?:higher|more|greater|larger|bigger|lower|fewer|less|smaller)\b(?! (?:money|funding|dollars|cash))",
    ),
    (
        "percent",
        r"\bwhat (?:percent(?:age)?|share|proportion)\b|\bhow many percent\b|\bby what percent|\bpercent(?:age)? (?:increase|rise|growth|change)|\bby how much (?:did|have|has|were|was)\b.*\b(?:increase|rise|grow|go up|jump)",
    ),
    (
        "money",
        r"\bhow (?:big|large|much) (?:a |an )?(?:sum|amount|budget)\b|\bwhat did (?:it|they|\w+) cost\b|\bhow much did (?:it|they|\w+) cost\b|\bcost (?:of|to)\b|\b(?:what|how much) (?:is|was|were|are) (?:the )?(?:total |overall |annual )?(?:budget|cost|price|funding|spending|salary|revenue|value)\b|\b(?:combined|total|overall) (?:amount|sum|funding|value)\b|\bamount (?:of money|of funding|awarded|granted|given|funded|spent)\b|\bhow much (?:money|funding|cash|grant|dollars?)\b|\bwhat (?:amount|sum)\b|\bhow much\b.*\b(?:award|fund|spen[dt]|grant|cost|pay|paid|give|gave|worth|budget|invest|raise|total|money|dollar)|\bhow (?:big|large) (?:was|were|is) the (?:grant|award|prize)|\bdollar (?:amount|value|figure)",
    ),
    ("count", r"\bhow many\b|\bnumber of\b|\bcount of\b|\bhow large\b|\bhow big\b"),
    ("quantity", r"\bhow much\b"),  # money was ruled out above: any figure may answer
    (
        "money",
        r"^(?!\s*(?:what|which|who|whom|when|where|why|how)\b)[^?]*\b(?:budget|cost|costs|funding|spending|grants? total|price)\b",
    ),
    (
        "date",
        r"\bwhen\b|\bwhat (?:year|month|date|day)\b|\bwhich (?:year|month|date)\b|\bin what year\b|\bsince when\b|\bwhat time\b",
    ),
    (
        "name",
        r"^\s*(?:(?:and|so|ok|okay|but|hey|then)\s*,?\s+)?who\b|\bwho(?:'s|\u2019s)\b|\bwho (?:is|was|are|were|leads?|led|heads?|did|does|developed|launched|signed|funded|established|announced)\b|\bwhom\b|\bwhich (?:\w+\s){0,2}?(?:organi[sz]ation|office|ngo|agency|bod(?:y|ies)|bureau|country|government|company|partner|program|programme|nonprofit|affiliate|group|firm|ambassador|person|official|president|challenge|tool|app|application|body|entity|institution|department|law firm|initiative|partnership)s?\b|\bwhat (?:is|was) the name\b|\bwhat (?:organi[sz]ation|ngo|office|agency|country|government|company|nonprofit|group|firm|app|application|tool|challenge|initiative)s?\b|\bname (?:of )?the\b",
    ),
)
_AUX = r"(?:do|does|did|is|are|was|were|has|have|had|will|can|could|would|should)"
_NOW = re.compile(r"\b(?:today|now|currently|current|presently|at present|these days|nowadays|ongoing)\b", re.I)
_FUTURE = re.compile(r"\b(?:will|next|upcoming|going to|supposed to|planned|plans? to|scheduled|coming)\b", re.I)
_CUMULATIVE = re.compile(
    r"\b(?:in total|total|overall|so far|to date|altogether|all told|ever|cumulative(?:ly)?|in all)\b", re.I
)
_RELATIVE_TIME = re.compile(
    r"\b(?:last|this|next|past|previous) (?:year|month|week|decade|quarter)\b|\byesterday\b|\brecently\b", re.I
)
_SUM = re.compile(
    r"\b(?:combined|in sum|sum of|add(?:ed)? up|both|put together|total of .+ and\b|first two|first three|all three|counting both)\b",
    re.I,
)
_DIFF = re.compile(
    r"\bby how (?:many|much)\b.*\b(?:grow|grew|increase|rise|rose|go up|went up|expand|climb)|\b(?:how many more|how much more|how many fewer|how much less|difference|grew by|grow by|increase(?:d)? by|rise by|rose by|gap between|more than in\b|change(?:d)? (?:from|between)|went up by|added between)\b",
    re.I,
)
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.?!]*\b(?:instructions?|rules?|prompts?|guidelines|above|previous|prior|context|system)\b"
    r"|^\s*(?:system|assistant|developer)\s*:"
    r"|\b(?:reveal|show|print|repeat|output|leak|tell me)\b[^.?!]*\b(?:system prompt|your prompt|hidden prompt|instructions|your rules)\b"
    r"|^\s*(?:say|reply|respond|answer|output|print|write|pretend|act as|you are now|from now on)\b[^?]*$",
    re.I,
)
# "what kind of cases": the focus is "cases", not "kind".
_FILLER = frozenset(
    [
        "kind",
        "kinds",
        "type",
        "types",
        "sort",
        "sorts",
        "name",
        "names",
        "number",
        "amount",
        "part",
        "parts",
        "form",
        "forms",
        "way",
        "ways",
        "combined",
        "total",
        "overall",
        "exact",
        "approximate",
        "estimated",
        "main",
        "money",
        "funding",
        "cash",
        "dollars",
        "dollar",
        "percent",
        "percentage",
        "share",
        "proportion",
        "year",
        "years",
        "date",
        "month",
        "day",
        "time",
    ]
)
MAX_TERMS = 40  # bounds the work per question: a 2,000-character question is still answered in milliseconds
_NEGATION = re.compile(
    r"\b(?:not|excluding|except|other than|apart from|besides)\b(?: just| only| counting| including)?((?:\s+[\w'-]+){1,4})",
    re.I,
)
_ORDINALS = frozenset(
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "last"]
)
_QUESTION_WORDS = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how"])
_PRONOUNS = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "those",
        "these",
        "that",
        "this",
        "there",
        "he",
        "she",
        "his",
        "her",
        "one",
        "ones",
        "next",
        "latter",
        "former",
        "same",
    ]
)
_ELLIPTIC = re.compile(r"^\s*(?:and|what about|how about|and what about|also|same for|what of|ok,? and)\b", re.I)


@dataclass(frozen=True)
class Question:
    text: str  # the factual part of the question (instructions removed)
    answer_type: str  # count | money | percent | date | name | description
    terms: tuple[str, ...]  # stemmed content words
    focus: tuple[str, ...] = ()  # stemmed words the answer is about ("country")
    years: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()  # capitalised names the answer must be about
    ordinals: tuple[str, ...] = ()
    now: bool = False  # "today", "currently": prefer present figures
    since: bool = False  # "since when", "starting in what year": the start of something
    cumulative: bool = False  # "in total", "so far": prefer running totals over current figures
    future: bool = False  # "when will ...", "the next one": prefer what the documents say is coming
    relative_time: tuple[str, ...] = ()  # "last year": the sentence must say so too
    operation: str = ""  # "sum" | "difference" | ""
    asserted: tuple[str, ...] = ()  # figures the question states (checked against the documents)
    negated: tuple[str, ...] = ()  # "not just the trafficking ones": figures near these are not wanted
    subset_of: tuple[str, ...] = ()  # "how many of them": figures of the earlier answer, not the answer now
    context_terms: tuple[str, ...] = ()  # from earlier turns, weighted lower
    context_years: tuple[str, ...] = ()  # constraints inherited from earlier turns: checked
    context_entities: tuple[str, ...] = ()  # against the paragraph, not the sentence
    confirm: bool = False  # "..., right?" / "Is it true that ...": check a claim, answer with the documents' fact
    had_instructions: bool = False
    only_instructions: bool = False  # nothing left to look up once the instructions are set aside
    retrieval_text: str = field(default="")  # what retrieval searches with

    @property
    def all_terms(self) -> tuple[str, ...]:
        return self.terms + tuple(t for t in self.context_terms if t not in self.terms)


def question_words(text: str) -> list[str]:
    """The question's own words that the answerer may look up synonyms for."""
    return list(dict.fromkeys(t for t in tokens(text) if t not in STOPWORDS and not t.isdigit()))


def strip_instructions(text: str) -> tuple[str, bool]:
    """Drop sentences that instruct the assistant; keep the question parts."""
    parts = re.split(r"(?<=[.?!;\n])\s+|\s+(?=(?:ignore|disregard|forget)\b)", text.strip(), flags=re.I)
    kept = [p for p in parts if p and not _INSTRUCTION.search(p)]
    removed = len(kept) != len([p for p in parts if p])
    return " ".join(kept).strip(), removed


def answer_type(text: str) -> str:
    lowered = text.lower()
    for name, pattern in _TYPE_RULES:
        if re.search(pattern, lowered):
            return name
    return "description"


_PREMISE_LEAD = re.compile(
    r"^\s*(?:since|given(?: that)?|because|as|although|now that|if|considering(?: that)?|seeing as)\b[^,?]*,\s*", re.I
)
_APPOSITIVE = re.compile(r",\s+(?:\w+ly\s+)?(?:\w+ed|\w+en)\b[^,?]*,", re.I)


def split_premise(text: str) -> tuple[str, str]:
    """(what is asked, what is asserted): "Since X happened in 2012, what did Y do?" ->
    ("what did Y do?", "Since X happened in 2012"). Statements before the question
    sentence and participle asides (", signed with Kenya in 2014,") are premises."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    asks = [
        s
        for s in sentences
        if s.rstrip().endswith("?") or re.match(r"\s*(?:what|which|who|whom|when|where|why|how)\b", s, re.I)
    ]
    ask = asks[-1] if asks else text.strip()
    premise = [s for s in sentences if s is not ask and s not in asks]
    lead = _PREMISE_LEAD.match(ask)
    # "Since 2009," is a time constraint; "Since the report covered 200 countries in 2008," a premise.
    if (
        lead
        and len(lead.group(0).split()) >= 4
        and re.search(r"\b(?:what|which|who|whom|when|where|why|how)\b", ask[lead.end() :], re.I)
    ):
        premise.append(ask[: lead.end()])
        ask = ask[lead.end() :]
    for aside in _APPOSITIVE.findall(ask):
        premise.append(aside.strip(", "))
        ask = ask.replace(aside, ",", 1)
    return ask.strip(), " ".join(premise).strip()


_CONFIRM = re.compile(
    r"\b(?:is (?:it|that|this) (?:true|right|correct|so)|am i right|right\s*\?|correct\s*\?|true\s*\?|"
    r"(?:isn't|wasn't|didn't|doesn't|don't|aren't|weren't|hasn't|haven't) (?:it|they|he|she|that)\s*\?|"
    r"can you confirm|confirm that|did (?:i|we) get (?:that|it) right)",
    re.I,
)
_CLAIM_KIND = {"money": "money", "percent": "percent", "count": "count", "date": "date"}


def _claim_type(claim: str) -> str:
    """The type of what a yes/no claim asserts: its figure or date, else a name."""
    for m in mentions(claim):
        if m.kind in _CLAIM_KIND:
            return _CLAIM_KIND[m.kind]
    names = [m for m in mentions(claim) if m.kind == "name"]
    titled = any(
        re.match(r"(?:Ambassador|President|Secretary|Director|Dr|Mr|Mrs|Ms|Senator|Minister)\b", m.text) for m in names
    )
    return "name" if titled or len(names) >= 2 else "description"  # who did it, or what it was about


def looks_like_instructions(text: str) -> bool:
    """A sentence that addresses an AI assistant rather than states a fact."""
    return bool(_INSTRUCTION.search(text))


def analyse(text: str) -> Question:
    factual, had_instructions = strip_instructions(text)
    only_instructions = had_instructions and not factual
    factual = factual or text
    ask, premise = split_premise(factual)
    confirm = bool(_CONFIRM.search(factual))
    kind = answer_type(ask)
    if confirm and kind == "description":
        kind = _claim_type(factual)
    words = tokens(factual)
    # "the first two challenges" counts things; it does not pick the first one.
    ordinals = tuple(
        t
        for i, t in enumerate(words)
        if t in _ORDINALS and i + 1 < len(words) and not _is_count_word(words, i + 1) and words[i + 1] not in STOPWORDS
    )
    asserted = tuple(m.text for m in mentions(factual) if m.kind in ("money", "percent", "count"))
    asserted += tuple(sorted(years(premise)))  # a year stated as a premise is checked, not required
    negated = tuple(dict.fromkeys(t for m in _NEGATION.finditer(factual) for t in content_terms(m.group(1))))
    positive = _NEGATION.sub(" ", factual)
    return Question(
        text=factual,
        answer_type=kind,
        terms=tuple(dict.fromkeys(content_terms(positive)))[:MAX_TERMS],
        negated=negated,
        focus=_focus(ask),
        years=tuple(sorted(years(ask))),
        entities=_entities(ask) or _entities(premise),
        ordinals=ordinals,
        now=bool(_NOW.search(ask)),
        since=bool(
            re.search(
                r"\b(?:since|starting|beginning|began|begin|start(?:ed)?|as of|from)\b\s+(?:in\s+)?(?:what|which|when)\b",
                ask,
                re.I,
            )
        ),
        cumulative=bool(_CUMULATIVE.search(ask)),
        future=bool(_FUTURE.search(ask)),
        relative_time=tuple(m.group(0).lower() for m in _RELATIVE_TIME.finditer(ask)),
        operation=_operation(ask, kind),
        asserted=asserted,
        had_instructions=had_instructions,
        only_instructions=only_instructions,
        confirm=confirm,
        retrieval_text=factual,
    )


def _is_count_word(words: list[str], i: int) -> bool:
    return i < len(words) and (words[i].isdigit() or words[i] in {"two", "three", "four", "five", "six", "ten"})


_WHAT_IS = re.compile(r"\bwhat(?:'s|\u2019s| is| was| are| were) (?:the|a|an) ([\w'-]+)", re.I)


_FOCUS_STOP = frozenset(
    [
        "of",
        "in",
        "on",
        "at",
        "for",
        "to",
        "by",
        "from",
        "since",
        "with",
        "got",
        "get",
        "gets",
        "getting",
        "been",
        "being",
    ]
)
_WHICH = re.compile(rf"\b(?:which|what)\s+(?!{_AUX}\b)([\w'-]+)", re.I)
_WHO_IS = re.compile(r"\bwho(?:'s|\u2019s| is| was| are| were) (?:the|a|an) ([\w'-]+)", re.I)
_HOW_MANY = re.compile(r"\b(?:how many|number of)\s+((?:[\w'-]+\s*){1,4})", re.I)


def _focus(text: str) -> tuple[str, ...]:
    """The noun the answer is about: "how many countries" -> country, "what is the capital of" -> capital."""
    skip = STOPWORDS | _QUESTION_WORDS | _FILLER
    if match := _HOW_MANY.search(text):
        words: list[str] = []
        for word in tokens(match.group(1)):
            if re.fullmatch(_AUX, word) or word in _FOCUS_STOP or (words and word.endswith("ed")):
                break  # the noun phrase ends at a verb ("staff received", "people trained")
            if word not in skip and not _is_count_word([word], 0):
                words.append(word)
        return tuple(stem(w) for w in words[:4])  # the last word is the head noun
    for pattern in (_WHICH, _WHAT_IS, _WHO_IS):
        if match := pattern.search(text):
            words = [w for w in tokens(match.group(1)) if w not in skip and not _is_count_word([w], 0)]
            if not words:  # "what kind of cases" -> "cases"
                after = re.match(r"\s+of\s+(?:the\s+)?([\w'-]+)", text[match.end() :])
                words = [after.group(1).lower()] if after else []
            if words:
                return (stem(words[0]),)
    return ()


def _entities(text: str) -> tuple[str, ...]:
    """Capitalised names in the question (not the first word, not question words)."""
    names = []
    for m in mentions(text):
        if m.kind != "name":
            continue
        words = [w for w in m.text.split() if w.lower() not in STOPWORDS and w.lower() not in _QUESTION_WORDS]
        if m.start == 0 and len(words) <= 1:
            continue  # "How", "What", a sentence-initial word
        if words and not all(w.lower() in {"i", "tip"} for w in words):
            names.append(re.sub(r"['\u2019]s$", "", " ".join(words)))  # "America's" -> "America"
    return tuple(names)


def _operation(text: str, kind: str) -> str:
    if kind not in ("count", "money", "percent", "quantity"):
        return ""
    anchors = len(years(text)) + bool(_NOW.search(text))
    explicit = re.search(r"\b(?:difference|gap)\b|\bhow (?:many|much) (?:more|fewer|less)\b.*\bthan\b", text, re.I)
    if _DIFF.search(text) and (anchors >= 2 or explicit):
        return "difference"  # two points in time, or an explicit comparison: compute it
    if _SUM.search(text) and re.search(
        r"\band\b|\bboth\b|\bplus\b|\bfirst (?:two|three)\b|\ball (?:two|three)\b", text, re.I
    ):
        return "sum"  # two named things to add up, not a stated total ("the combined value of the projects")
    return ""


# --- follow-ups --------------------------------------------------------------------


_COMPOUND = re.compile(r"(?:,\s*|\s+|;\s*)and\s+(?=(?:what|which|who|whom|when|where|why|how)\b)|\?\s+(?=\S)", re.I)


def split_compound(text: str) -> list[str]:
    """ "What share are minors, and how large is the population?" -> two questions."""
    parts = [p.strip(" ,;") for p in _COMPOUND.split(text) if p and p.strip(" ,;?")]
    if len(parts) < 2 or any(len(tokens(p)) < 2 for p in parts):
        return [text]
    return [p if p.endswith("?") else f"{p}?" for p in parts]


def is_follow_up(question: Question, raw: str) -> bool:
    """Short or pronoun-led questions lean on the previous turn."""
    words = tokens(raw)
    if _ELLIPTIC.search(raw) or not words:
        return True
    has_wh = any(w in _QUESTION_WORDS for w in words)
    pronoun = any(w in _PRONOUNS for w in words)
    return (not has_wh and len(question.terms) <= 3) or (pronoun and len(question.terms) <= 4)


def resolve(raw: str, history: Sequence[dict[str, str]] | None) -> Question:
    """Analyse a question in the light of the conversation so far."""
    question = analyse(raw)
    previous = [turn["content"] for turn in (history or []) if turn.get("role") == "user" and turn.get("content")]
    if not previous or not is_follow_up(question, question.text):
        return question
    before = analyse(previous[-1])
    if before.answer_type == "description" and len(previous) > 1 and is_follow_up(before, before.text):
        before = resolve(previous[-1], _until_last_user(history or []))
    answers = [t["content"] for t in (history or []) if t.get("role") == "assistant" and t.get("content")]
    has_time = bool(question.years or question.now)
    # Only a question without its own question word ("And in 2008?") takes the earlier type.
    inherit_type = not any(w in _QUESTION_WORDS for w in tokens(raw))
    kind = before.answer_type if inherit_type else question.answer_type
    context = tuple(
        t for t in before.all_terms if not (has_time and (t.isdigit() or t in {"today", "now", "current", "currently"}))
    )
    last_answer = _answer_words(answers[-1]) if answers else ""
    subset = re.search(r"\b(?:of|among)\s+(?:them|those|these|which)\b", raw, re.I)
    previous_figures = (
        tuple(m.text for m in mentions(answers[-1].split("\n")[0]) if m.kind != "name") if answers else ()
    )
    return replace(
        question,
        subset_of=previous_figures if subset else (),
        answer_type=kind,
        # "And in 2008?" asks about the same thing; "How many of them ...?" about a part of it.
        focus=question.focus or (before.focus if inherit_type else ()),
        context_years=() if has_time else before.years + before.context_years,
        now=question.now if has_time else before.now,
        context_entities=() if question.entities else before.entities + before.context_entities,
        operation=question.operation or (before.operation if inherit_type else ""),
        context_terms=context,
        retrieval_text=f"{question.text} {_strip_time(before.text) if has_time else before.text} {last_answer}".strip(),
    )


def _until_last_user(history: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    turns = list(history)
    while turns and turns[-1].get("role") != "user":
        turns.pop()
    return turns[:-1]


def _strip_time(text: str) -> str:
    return _NOW.sub(" ", re.sub(r"\b(?:in\s+)?(?:19|20)\d{2}\b", " ", text))


def _answer_words(answer: str) -> str:
    """The quoted supporting sentence of an earlier answer, without markers."""
    quoted = re.findall(r'"([^"]{20,})"', answer)
    text = quoted[0] if quoted else answer
    return re.sub(r"\[\d+\]", " ", text)[:400]
