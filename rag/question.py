"""Question analysis: expected answer type, focus words, constraints (years, named
things, "today"), arithmetic intent, embedded instructions, asserted figures, and
resolution of elliptical follow-ups against the chat history. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from rag import arithmetic
from rag.figures import WORD_VALUES, mentions, years
from rag.text import STOPWORDS, content_terms, expand_shorthand, split_sentences, stem, tokens

_CHANGE_VERB_EARLY = r"(?:go|went|gone) up|rise|rose|risen|grow|grew|grown|increase|climb|jump|expand"
_TYPE_RULES: tuple[tuple[str, str], ...] = (
    (
        "quantity",
        r"\bhow (?:much|many) (?:higher|more|greater|larger|bigger|lower|fewer|less|smaller)\b(?! (?:money|funding|dollars|cash))",
    ),
    (
        "percent",
        r"\bpercentage points?\b|\bwhat (?:percent(?:age)?|share|proportion)\b|\bwhat(?: is|'s)? (?:the )?%|%\s*(?:increase|rise|growth|change|more|jump|of)\b|\bhow many percent\b|\bby what percent|\bpercent(?:age)? (?:increase|rise|growth|change)|\bby how much (?:did|have|has|were|was)\b.*\b(?:increase|rise|grow|go up|jump)",
    ),
    (
        "money",
        r"\bhow (?:big|large|much) (?:a |an )?(?:sum|amount|budget|pot|pile|chunk)\b|^(?!.*\bhow many\b(?! dollars)).*\b(?:prize|grant|award|total|combined|overall) money\b|\bhow (?:big|large)\b[^?]*\b(?:money|funding|budget|dollars)\b|\bwhat did (?:it|they|\w+) cost\b|\bwhat did\b[^?]*\b(?:pay|spend|contribute|invest|donate)\b|\bhow (?:big|large|much) (?:was|were|is|are) (?:the |that |this |its )?(?:[\w'\u2019-]+ ){0,3}(?:grant|award|prize|budget|donation|contribution)\b|\bhow much did (?:it|they|\w+) cost\b|\bcost (?:of|to)\b|\b(?:what|how much) (?:is|was|were|are) (?:the )?(?:total |overall |annual )?(?:budget|cost|price|funding|spending|salary|revenue|value)\b|\bwhat(?:'s|\u2019s| is| was| are| were) (?:the )?(?:[\w'\u2019-]+ ){1,3}(?:budget|salary|revenue|spending)\b|\b(?:combined|total|overall) (?:amount|sum|funding|value)\b|\bamount (?:of money|of funding|awarded|granted|given|funded|spent)\b|\bhow much (?:money|funding|cash|grant|dollars?)\b|\bwhat (?:amount|sum)\b|\bhow much\b.*\b(?:award|fund|spen[dt]|grant|cost|pay|paid|give|gave|worth|budget|invest|raise|total|money|dollar)|\bhow (?:big|large) (?:was|were|is) the (?:grant|award|prize)|\bdollar (?:amount|value|figure)|\b(?:combined|total|overall|sum)\s+(?:total\s+)?(?:awarded|granted|spent|funded|raised|paid|invested|given|disbursed)\b",
    ),
    # "how much did the count of convictions rise": a change, told as a percent or a number
    ("quantity", rf"\bhow much (?:did|has|have|had|was|were)\b[^?]*\b(?:{_CHANGE_VERB_EARLY})\b"),
    ("count", r"\bhow many\b|\bnumber of\b|\bcount of\b|\bhow large\b|\bhow big\b"),
    ("quantity", r"\bhow much\b"),  # money was ruled out above: any figure may answer
    (
        "money",
        # a request without a question word ("Tell me the budget"); "I want to know which
        # organizations received funding" asks for names
        r"^(?!.*\b(?:what|which|who|whom|when|where|why|how)\b)[^?]*\b(?:budget|cost|costs|funding|spending|grants? total|price)\b",
    ),
    (
        "date",
        r"\bwhen\b|\bwhat (?:exact |precise )?(?:year|month|date|day)\b|\bexact (?:date|day)\b|\bwhich (?:year|month|date)\b|\bin what year\b|\bsince when\b|\bwhat time\b",
    ),
    (
        "name",
        r"^\s*(?:(?:and|so|ok|okay|but|hey|then)\s*,?\s+)?who\b|\bwho(?:'s|\u2019s)\b|\bwho (?:is|was|are|were|leads?|led|heads?|did|does|developed|launched|signed|funded|established|announced)\b|\bwhom\b|\bwhich (?:\w+\s){0,2}?(?:organi[sz]ation|office|ngo|agenc(?:y|ie)|bod(?:y|ie)|bureau|countr(?:y|ie)|nation|cit(?:y|ie)|place|region|territor(?:y|ie)|government|compan(?:y|ie)|partner|program|programme|nonprofit|affiliate|group|firm|ambassador|person|people|official|president|challenge|tool|app|application|entit(?:y|ie)|institution|department|law firm|initiative|partnership)s?\b|\bwhat (?:is|was) the name\b|\bwhat(?:'s|\u2019s| is| was| are| were)?\b[^?]{0,80}\bcalled\s*\??\s*$|\bwhat (?:organi[sz]ation|ngo|office|agenc(?:y|ie)|countr(?:y|ie)|nation|cit(?:y|ie)|government|compan(?:y|ie)|nonprofit|group|firm|app|application|tool|challenge|initiative)s?\b|\bname (?:of )?the\b",
    ),
)
_AUX = r"(?:do|does|did|is|are|was|were|has|have|had|will|can|could|would|should)"
_NOW = re.compile(
    r"\b(?:today|now|currently|current|presently|at present|these days|nowadays|ongoing|at the moment|underway|under way)\b",
    re.I,
)
_FUTURE = re.compile(r"\b(?:will|next|upcoming|going to|supposed to|planned|plans? to|scheduled|coming)\b", re.I)
_CUMULATIVE = re.compile(
    r"\b(?:in total|total|overall|so far|to date|altogether|all told|ever|cumulative(?:ly)?|in all)\b", re.I
)
_RELATIVE_TIME = re.compile(
    r"\b(?:last|this|next|past|previous) (?:year|month|week|decade|quarter)\b|\byesterday\b|\brecently\b", re.I
)
_SUM = re.compile(
    r"\b(?:combined|in sum|sum of|add(?:ed)? up|add(?:ing)? in|adding|added together|both|put together|total of .+ and\b|first two|first three|all three|counting both)\b",
    re.I,
)
# "how many more ... than", "how many percentage points bigger was X than Y"
_COMPARATIVE = r"\bhow (?:many|much)\b(?:\s+[\w-]+){0,3}?\s+(?:more|fewer|less|bigger|larger|higher|greater|smaller|lower)\b.*\bthan\b"
# "by how much did X exceed Y", "how far ahead of": a difference by its verb
_EXCEEDS = r"\bby how (?:many|much)\b[^?]*\b(?:exceed|exceeded|outnumber|outnumbered|outpace|outpaced|top|topped|beat|surpass|surpassed)\b"
_DIFF = re.compile(
    r"\bby how (?:many|much)\b.*\b(?:grow|grew|increase|rise|rose|go up|went up|expand|climb)|\b(?:how many more|how much more|how many fewer|how much less|difference|grew by|grow by|increase(?:d)? by|rise by|rose by|gap\b[^?]{0,40}\bbetween|more than in\b|by how many percentage points|change(?:d)? (?:from|between)|went up by|added between)\b"
    + "|"
    + _COMPARATIVE
    + "|"
    + _EXCEEDS,
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
        "value",  # "the combined value of": the money itself
        "sum",
        "worth",
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
        # a change is measured in the figure, the sentence says "more" ("the increase in prosecutions")
        "increase",
        "rise",
        "growth",
        "change",
        "decrease",
        "drop",
        "jump",
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
    # a calculation asked for: one of rag.arithmetic.OPERATIONS ("sum", "ratio", "span", ...) or ""
    operation: str = ""
    factor: float = 0.0  # "half of the victims": the share a "fraction" applies
    per: str = ""  # "per project", "each of the 265 projects": what an "average" divides among (stemmed)
    wants_person: bool = False  # "who led / directs / heads ...": a person, not an office
    several: bool = False  # "which two bodies", "which organizations": every name of the list, not one
    expands: str = ""  # "what does CPC stand for": the acronym whose long form is asked for
    subject: str = ""  # "how much did guilty verdicts rise": what changed, in the question's words
    asserted: tuple[str, ...] = ()  # figures the question states (checked against the documents)
    premise_terms: tuple[str, ...] = ()  # words only of the scene-setting part: they find the passage, not the figure
    superlative: bool = False  # "which country has the most projects": only a sentence that ranks answers it
    date_detail: str = ""  # "day" ("on what exact day") or "year" ("in what year"): what a date answer must give
    listed: int = 0  # "which 10 overseas posts", "which two bodies": that many names, listed together
    identifier: bool = False  # "the number of the presidential order": a name with a number ("Executive Order 13627")
    asks_winner: bool = False  # "who won the challenge": only a sentence that names a winner answers it
    # "Of the officials trained, how many ...": the premise names the whole, the answer is a part
    partitive: bool = False
    guess: str = ""  # "which NGO built it — The Freedom Fund?": a name the asker offers, to check
    premise_entities: bool = False  # the entities come from the scene-setting part: claims, checked loosely
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
    parts = re.split(
        r"(?<=[.?!;\n])[\"'\u201d\u2019)]*\s+|\s+(?=(?:ignore|disregard|forget)\b)", text.strip(), flags=re.I
    )
    kept = [p for p in parts if p and not _INSTRUCTION.search(p)]
    removed = len(kept) != len([p for p in parts if p])
    return " ".join(kept).strip(), removed


_KINDS_OF = re.compile(r"\b(?:what|which) (?:kinds?|types?|sorts?|categories) of\b", re.I)
# "How many years passed between the launch and the announcement?": two dates, subtracted.
_YEARS_BETWEEN = re.compile(
    r"\bhow (?:many|long)(?: years?)?\b[^?]*\b(?:between|passed|elapsed|went by|separate|after|before|later|earlier)\b",
    re.I,
)


# "the number of the presidential order": an identifier when the noun is singular
_NUMBER_OF_THE = re.compile(r"\bnumber of (?:the|that|this|its) ", re.I)


def answer_type(text: str) -> str:
    lowered = text.lower()
    if _KINDS_OF.search(lowered):
        return "description"  # "which kinds of partners": a list of kinds, not one name
    if re.search(r"\b(?:which|what) (?:are|were) the (?:\d[\d,]*|two|three|four|five|ten) \w+", lowered):
        return "name"  # "which are the 70 countries": their names, not the count again
    if (listed := _LISTED.search(text)) and listed.group(0).lower().startswith("which"):
        return "name"  # "which 10 overseas posts took part": names ("what three pillars" may be a phrase)
    if _YEARS_BETWEEN.search(lowered) and re.search(r"\byears?\b|\bhow long\b", lowered):
        return "date"
    if identifier := _NUMBER_OF_THE.search(lowered):
        # "the number of the presidential order": an identifier ("13627"), not a count;
        # "the number of the victims" counts (a plural head)
        head = _head_noun(text[identifier.end() :])
        if head and not re.search(r"(?:s|people|staff|personnel|police)$", head.lower()):
            return "name"  # answered only by a name with a number in it (Question.identifier)
    for name, pattern in _TYPE_RULES:
        if re.search(pattern, lowered):
            return name
    return "description"


_PREMISE_LEAD = re.compile(
    r"^\s*(?:since|given(?: that)?|because|as|although|now that|if|considering(?: that)?|seeing as|of the|among the|out of the"
    # "When the meeting was held in 2015, what ...": a subordinate "when", not "When was ..."
    r"|when(?!\s+(?:did|was|were|is|are|do|does|has|have|had|will|would|could|can)\b))\b[^,?]*,\s*",
    re.I,
)
_APPOSITIVE = re.compile(r",\s+(?:\w+ly\s+)?(?:\w+ed|\w+en)\b[^,?]*,", re.I)


def split_premise(text: str) -> tuple[str, str]:
    """(what is asked, what is asserted): "Since X happened in 2012, what did Y do?" ->
    ("what did Y do?", "Since X happened in 2012"). Statements before the question
    sentence and participle asides (", signed with Kenya in 2014,") are premises."""
    # "How many visas did the U.S. issue?" is one sentence: the corpus splitter knows abbreviations.
    sentences = [text[a:b] for a, b in split_sentences(text)] or [text.strip()]
    asks = [
        s
        for s in sentences
        if s.rstrip().endswith("?") or re.match(r"\s*(?:what|which|who|whom|when|where|why|how)\b", s, re.I)
    ]
    ask = asks[-1] if asks else text.strip()
    premise = [s for s in sentences if s is not ask and s not in asks]
    # "The Academy trained foreign counterparts; how many of those officers ...": a clause
    # before a semicolon, colon or dash that opens the question sets the scene.
    if clause := re.match(
        r"(.{12,}?)(?:[;:]|\s*[\u2014\u2013]|\s+-{1,2})\s+(?=(?:and\s+|so\s+)?(?:what|which|who|whom|when|where|why|how)\b)",
        ask,
        re.I,
    ):
        premise.append(clause.group(1))
        ask = ask[clause.end() :]
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
    r"\b(?:is (?:it|that|this) (?:true|right|correct|so)(?![-\w])|am i right|right\s*\?|correct\s*\?|true\s*\?|"
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


# "Now: by what percentage ...", "OK, so how many ...": a turn of speech, not "now" the time.
_DISCOURSE = re.compile(
    r"^\s*(?:(?:now|ok(?:ay)?|so|actually|anyway|alright|well|right|then|hey|hi|hello)\s*[:,;!-]\s*)+", re.I
)


# "What does CPC stand for?", "what is TIP short for", "the full name of the ILEA".
# "stand for" is said only of abbreviations, so a lower-case "cpc" counts; "mean" needs capitals.
_STANDS_FOR = re.compile(
    r"\b(?i:what|wat)\s+(?i:does|do|did)\s+(?i:the\s+)?[\"\u201c]?(?P<a>[A-Za-z0-9]{2,6})[\"\u201d]?\s+(?i:stands?)\s+for\b"
    r"|\b(?i:what)\s+(?i:the\s+)?[\"\u201c]?(?P<g>[A-Za-z0-9]{2,6})[\"\u201d]?\s+(?:\w+ly\s+)?(?i:stands?)\s+for\b"
    r"|\b(?P<b>[A-Za-z]{2,6})\s+(?:stands|is short|is an acronym|is an abbreviation)\s+for\b"
    r"|\b(?i:what)\s+is\s+(?:the\s+)?(?P<c>[A-Za-z]{2,6})\s+short\s+for\b"
    r"|\b(?i:full|long)\s+(?:name|form)\s+(?:of|for)\s+(?:the\s+)?(?P<d>[A-Z]{2,6})\b"
    r"|\b(?i:spell)\s+out\s+(?:the\s+)?(?P<e>[A-Za-z]{2,6})\b"
    r"|\b(?i:what)\s+does\s+(?:the\s+)?(?P<f>[A-Z]{2,6})s?\s+mean\b",
)


# Who won a contest is an outcome; that a challenge "awarded $500,000" does not say who won it.
_WINNER = re.compile(
    r"\b(?:who|which(?:\s+[\w-]+){1,2}|what(?:\s+[\w-]+){1,2})\s+(?:won|wins|has won|have won|will win|came first)\b"
    r"|\bwinners?\b|\bwho (?:got|received|took home|was given) the (?:prize|award|grand prize)\b",
    re.I,
)
WINNER_WORDS = re.compile(
    r"\b(?:won|wins|winning|winners?|awarded to|went to|recipients?|was awarded|were awarded|received)\b", re.I
)
_CHANGE_VERB = r"(?:go|went|gone) up|rise|rose|risen|grow|grew|grown|increase|increased|climb|climbed|jump|jumped|expand|expanded|fall|fell|drop|dropped|decline|declined|change|changed"
_CHANGE_SUBJECT = re.compile(
    rf"\b(?:how much|by how much|by what (?:percent(?:age)?|proportion|share|factor|margin)|what percent(?:age)?|how many percent)\s+"
    rf"(?:did|has|have|had|was|were|do|does)\s+(?P<a>.{{3,80}}?)\s+(?:{_CHANGE_VERB})\b"
    rf"|\b(?:increase|rise|growth|jump|change|gain|drop|decline)\s+in\s+(?P<b>.{{3,60}}?)(?=\s+(?:since|from|between|compared|relative|versus|vs|over|in|during|by)\b|[,?]|$)",
    re.I,
)


def _change_subject(ask: str) -> str:
    """ "By what proportion did courts' guilty verdicts in trafficking cases go up" ->
    "courts' guilty verdicts": the thing whose change is asked about, up to a preposition."""
    match = _CHANGE_SUBJECT.search(ask)
    if not match:
        return ""
    phrase = match.group("a") or match.group("b")
    phrase = re.sub(
        r"^(?:the\s+)?(?:(?:number|count|amount|total|share|rate)\s+of\s+)?(?:the\s+)?", "", phrase, flags=re.I
    )
    phrase = re.split(r"\s+(?:in|on|of|for|against|by|from|since|during|over|at)\s+", phrase, maxsplit=1)[0]
    return phrase.strip() if phrase.strip().lower() not in _PRONOUNS | {"it", "they", "that", "this"} else ""


def _expands(ask: str) -> str:
    # "the three Ps" is written "3Ps" in documents
    ask = re.sub(
        r"\b(two|three|four|five)\s+([A-Z])s\b",
        lambda m: f"{WORD_VALUES[m.group(1).lower()]}{m.group(2)}s",
        ask,
        flags=re.I,
    )
    match = _STANDS_FOR.search(ask)
    if not match:
        return ""
    acronym = next(g for g in match.groups() if g)
    if re.fullmatch(r"[A-Z0-9]*[A-Z]s", acronym) and len(acronym) > 2:
        acronym = acronym[:-1]  # "CPCs", "3Ps": the plural of the abbreviation
    return "" if acronym.lower() in STOPWORDS | _PRONOUNS else acronym.upper()


def analyse(text: str) -> Question:
    factual, had_instructions = strip_instructions(expand_shorthand(text))
    factual = _DISCOURSE.sub("", factual)
    only_instructions = had_instructions and not factual
    factual = factual or text
    ask, premise = split_premise(factual)
    # "Which challenge did it join — the first one, Reimagine: Opportunity?": the guess after the
    # dash is a claim to check, not part of what is asked
    guess = re.match(r"(.*\b(?:what|which|who|whom|when|where|how)\b.*?)\s*[—–]\s*([^?]+)\?\s*$", ask, re.I)
    if guess:
        ask, premise = f"{guess.group(1)}?", f"{premise} {guess.group(2)}".strip()
    confirm = bool(_CONFIRM.search(factual))
    expands = _expands(ask)
    kind = "name" if expands else answer_type(ask)
    if confirm and kind == "description":
        kind = _claim_type(factual)
    # A claim's ordinal is checked, not required ("..., its first challenge, didn't it? Which did it join?")
    words = tokens(ask if confirm or guess else f"{premise} {ask}")
    # "the first two challenges" counts things; it does not pick the first one.
    ordinals = tuple(
        t
        for i, t in enumerate(words)
        if t in _ORDINALS
        and i + 1 < len(words)
        and not (i >= 2 and words[i - 2] == "not" and words[i - 1] == "the")  # "not the first challenge"
        and not _is_count_word(words, i + 1)
        # "first of all" is no ordinal; "the first to sign", "the third document" are
        and (
            words[i + 1] not in STOPWORDS | {"time", "place", "thing"}
            or words[i + 1] in {"to", "document", "documents"}
        )
    )
    operation = _operation(ask, kind, factual)
    if operation == "span":
        kind = "date"  # "how many years between": the answer comes from two dates
    elif operation == "ratio":
        kind = "percent"  # "what fraction of the officials": a share, whatever the words
    elif operation in ("average", "fraction", "times", "compare", "difference") and kind not in (
        "count",
        "money",
        "percent",
    ):
        kind = "quantity"
    asserted = tuple(m.text for m in mentions(factual) if m.kind in ("money", "percent", "count"))
    asserted += tuple(sorted(years(premise)))  # a year stated as a premise is checked, not required
    # "When it met in December 2017, what month was that?": a date question that gives a
    # year asserts it; the answer is the documents' date, corrected if it differs.
    asked_years = tuple(sorted(years(ask)))
    if not asked_years and re.search(
        r"\b(?:that|the same|this) year\b|\bthen\s*(?:[,?.!]|really|exactly|actually|$)|\bat (?:that|the) time\b",
        ask,
        re.I,
    ):
        # "Back in 2008 it covered ..., right? How many that year?": the year said before
        asked_years = tuple(sorted(years(factual) - years(ask)))
        asserted = tuple(a for a in asserted if a not in asked_years)
    if kind == "date":
        asserted += asked_years
        asked_years = ()
    negated = tuple(dict.fromkeys(t for m in _NEGATION.finditer(factual) for t in content_terms(m.group(1))))
    asked_entities, premise_entities = _entities(ask), _entities(premise)
    ask_terms = set(content_terms(ask))
    positive = _NEGATION.sub(" ", factual)
    return Question(
        text=factual,
        answer_type=kind,
        terms=tuple(dict.fromkeys(content_terms(positive)))[:MAX_TERMS],
        negated=negated,
        focus=_focus(ask),
        years=asked_years,
        entities=asked_entities or premise_entities,
        asks_winner=bool(_WINNER.search(ask)),
        listed=_listed_count(ask) if kind == "name" else 0,
        date_detail=_date_detail(ask) if kind == "date" else "",
        superlative=_ranks(ask),
        identifier=kind == "name" and bool(_NUMBER_OF_THE.search(ask)),
        guess=guess.group(2).strip() if guess else "",
        partitive=bool(
            re.match(r"\s*(?:of|among|out of) (?:the|those|these|all)\b", premise, re.I)
            or re.search(r"\bhow (?:much|many) of (?:the|those|these|its|their|that)\b", ask, re.I)
        ),
        premise_entities=not asked_entities and bool(premise_entities),
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
        operation=operation,
        factor=arithmetic.fraction_of(factual) if operation == "fraction" else 0.0,
        per=_per(factual) if operation == "average" else "",
        wants_person=bool(_WANTS_PERSON.search(ask)),
        several=kind == "name" and _asks_several(ask),
        expands=expands,
        subject=_change_subject(ask),
        asserted=asserted,
        premise_terms=tuple(t for t in dict.fromkeys(content_terms(premise)) if t not in ask_terms),
        had_instructions=had_instructions,
        only_instructions=only_instructions,
        confirm=confirm,
        retrieval_text=factual,
    )


_WANTS_PERSON = re.compile(
    r"\bwho\b[^?]*\b(?:led|leads|lead|directs?|directed|heads?|headed|chairs?|chaired|runs|ran|manages?|managed|"
    r"oversees|oversaw|preceded|succeeded|replaced|came before|came after|founded|co-founded|in charge)\b|\bwho (?:is|was) (?:the )?(?:head|director|"
    r"ambassador|leader|chief|chair|secretary|president)\b|\b(?:predecessor|successor)\b",
    re.I,
)


def _is_count_word(words: list[str], i: int) -> bool:
    return i < len(words) and (words[i].isdigit() or words[i] in {"two", "three", "four", "five", "six", "ten"})


_WHAT_IS = re.compile(r"\bwhat(?:'s|\u2019s| is| was| are| were) (?:(?:the|a|an) )?([\w'-]+)", re.I)


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
        "right",  # "how many countries right now": time, not part of the noun
        "now",
        "today",
        "currently",
        "so",
        "got",
        "get",
        "gets",
        "getting",
        "been",
        "being",
        # "how many initiatives across the globe", "how many years after DS set up ..."
        "across",
        "around",
        "after",
        "before",
        "over",
        "under",
        "between",
        "per",
        "worldwide",
        "globally",
        "altogether",
        "about",
    ]
)
_WHICH = re.compile(rf"\b(?:which|what)\s+(?!{_AUX}\b)([\w'-]+)", re.I)
_WHO_IS = re.compile(r"\bwho(?:'s|\u2019s| is| was| are| were) (?:the|a|an) ([\w'-]+)", re.I)
_HOW_MANY = re.compile(r"\b(?:how many|number of)\s+((?:[\w'-]+\s*){1,4})", re.I)


def _focus(text: str) -> tuple[str, ...]:
    """The noun the answer is about: "how many countries" -> country, "what is the capital of" -> capital."""
    skip = STOPWORDS | _QUESTION_WORDS | _FILLER | _PRONOUNS | _ORDINALS  # "the second one": no noun
    if match := _HOW_MANY.search(text):
        words: list[str] = []
        # "how many people are trafficking victims": the victims are what is counted
        copula = re.match(r"(?:people|persons|individuals)\s+(?:are|were|r)\s+((?:[\w'-]+\s*){1,4})", match.group(1))
        phrase = copula.group(1) if copula else match.group(1)
        phrase = re.sub(r"\b[\w]+-\w+ed\b", " ", phrase)  # "ILEA-trained officers": a modifier
        # "how many of those officers": the partitive "of" comes before the noun, not after it
        phrase = re.sub(r"^of\s+(?:the|those|these|its|their|all)\s+", "", phrase)
        for word in tokens(phrase):
            if re.fullmatch(_AUX, word) or word in _FOCUS_STOP or (words and word.endswith("ed")):
                break  # the noun phrase ends at a verb ("staff received", "people trained")
            if word not in skip and not _is_count_word([word], 0):
                words.append(word)
        return tuple(stem(w) for w in words[:4])  # the last word is the head noun
    for pattern in (_WHICH, _WHAT_IS, _WHO_IS):
        if match := pattern.search(text):
            # "which two international bodies": the number says how many, the noun what
            rest = re.sub(
                r"^(?:\d[\d,]*|two|three|four|five|six|seven|eight|nine|ten|both)\s+",
                "",
                text[match.start(1) :],
                flags=re.I,
            )
            head = _head_noun(rest)
            words = [w for w in tokens(head) if w not in skip and not _is_count_word([w], 0)]
            if not words:  # "what kind of cases" -> "cases"
                after = re.match(r"\s+of\s+(?:the\s+|an?\s+)?", text[match.end() :])
                head = _head_noun(text[match.end() + after.end() :]) if after else ""
                words = [head.lower()] if head else []
            if words:
                return (stem(words[0]),)
    return ()


_POSSESSIVE = re.compile(r"['\u2019]s$")
_SEVERAL = re.compile(
    r"\b(?:which|what|name)\s+(?:the\s+)?(?:two|three|four|five|both)\b|\bwho (?:are|were)\b|\b(?:which|what)\s+(?:\w+\s+){0,2}?(?:\w+ies|\w+[^s\W]s)\s+(?:are|were|have|had|did|do)\b",
    re.I,
)


_LISTED = re.compile(
    r"\b(?:which|what|name)\s+(?:are\s+|were\s+)?(?:the\s+|all\s+)?(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+(?!percent|per\b|million|billion|thousand|times|years?)[a-z][\w-]*",
    re.I,
)


_SUPERLATIVE = re.compile(
    r"\b(?<!at )(?:most|least)\b(?!\s+(?:recent|recently|likely|of all)\b)"
    r"|\b(?:largest|biggest|highest|lowest|greatest|smallest|fewest|maximum|minimum)\b",
    re.I,
)
RANKING_WORDS = re.compile(r"\b(?:most|least|[a-z]{3,}est|top|maximum|minimum|leading|record)\b", re.I)


def _ranks(ask: str) -> bool:
    """A superlative of the main clause ("which country has the most projects"), not one
    that describes something in a relative clause ("the agreement that receives the
    biggest grants", which only says which agreement)."""
    found = _SUPERLATIVE.search(ask)
    if not found:
        return False
    asking = re.search(r"\b(?:what|which|who|how|where|when)\b", ask, re.I)  # the question's own wh-word
    start = asking.end() if asking and asking.start() < found.start() else 0
    return not re.search(r"\b(?:that|which|who|whose)\b", ask[start : found.start()], re.I)


def _date_detail(ask: str) -> str:
    """ "On what exact day ..." needs a day; "in what year ..." a year; "when" takes any date."""
    # "what date" is often a loose "when"; "what day" and "the exact date" are not
    if re.search(r"\b(?:what|which) (?:exact )?day\b|\bexact (?:date|day)\b|\bon what day\b", ask, re.I):
        return "day"
    if re.search(r"\b(?:what|which) year\b", ask, re.I):
        return "year"
    return ""


def _listed_count(ask: str) -> int:
    match = _LISTED.search(ask)
    if not match:
        return 0
    word = match.group(1).lower()
    return int(word) if word.isdigit() else WORD_VALUES[word]


def _asks_several(ask: str) -> bool:
    """ "Which two bodies ...", "which organizations received ...", "who were the partners":
    the answer is a list of names. A plural head noun after which/what says so."""
    if _SEVERAL.search(ask):
        return True
    match = _WHICH.search(ask)
    if not match:
        return False
    head = _head_noun(text=ask[match.start(1) :])
    return bool(re.fullmatch(r"[a-z]+(?:ies|[^s\W]s)|[A-Z]{2,}s", head)) and stem(head) != head.lower()


def _head_noun(text: str) -> str:
    """The head of the noun phrase after "which"/"what": "State Department bureau runs" ->
    "bureau" (capitalised words modify it), "web resource did" -> "resource" (the phrase
    ends at the auxiliary), "executive order sets out" -> "order" (a verb in -s before a
    function word ends it), "country's government" -> "country". Otherwise the first word,
    which is right far more often than not ("program helps victims")."""
    words = re.findall(r"[\w-]+(?:['\u2019]s\b)?", text)[:8]
    if not words:
        return ""

    def function_word(word: str) -> bool:
        return bool(re.fullmatch(_AUX, word.lower())) or word.lower() in STOPWORDS

    capitals = 0
    while capitals < len(words) and words[capitals][0].isupper():
        capitals += 1
    verb_in_s = (  # "Which Ambassador directs the office": "directs" is the verb
        capitals + 1 < len(words)
        and re.fullmatch(r"[a-z]+[^s\W]s", words[capitals]) is not None
        and function_word(words[capitals + 1])
    )
    if (
        0 < capitals < len(words)
        and not function_word(words[capitals])
        and not _verb_like(words[capitals])
        and not verb_in_s
    ):
        words = words[capitals:]  # "State Department bureau": the capitals modify "bureau"
    phrase = [words[0]]
    for word in words[1:3]:
        if _POSSESSIVE.search(phrase[-1]) or function_word(word) or _verb_like(word):
            break
        phrase.append(word)
    after = words[len(phrase)] if len(phrase) < len(words) else ""
    if _POSSESSIVE.search(phrase[-1]):
        return _POSSESSIVE.sub("", phrase[-1])
    for k in range(1, len(phrase)):
        following = phrase[k + 1] if k + 1 < len(phrase) else after
        if (
            re.fullmatch(r"[a-z]+[^s]s", phrase[k])
            and following
            and function_word(following)
            and not re.fullmatch(_AUX, following.lower())  # "bodies had": a verb follows the noun
        ):
            return phrase[k - 1]  # "order sets out": "sets" is the verb
    # A phrase that ends where a function word or a verb begins is a whole noun phrase.
    ended = not after or function_word(after) or _verb_like(after)
    return phrase[-1] if ended else phrase[0]


# Verbs that follow a "which X" subject without -s or -ed ("which team won", "which partners help").
_BARE_VERBS = frozenset(
    "won win led lead ran run made make began begin gave give took take set put held hold met built build sent "
    "got get paid told help fund support provide go went came come saw see brought bring launch sign develop "
    "start join create offer train use oversee oversaw manage wrote write pay".split()
)


def _verb_like(word: str) -> bool:
    lower = word.lower()
    # "-ing" after the head noun is a participle: "the ambassador directing the office"
    return lower in _BARE_VERBS or (lower.endswith(("ed", "ing")) and len(lower) > 4)


def _entities(text: str) -> tuple[str, ...]:
    """Capitalised names in the question (not the first word, not question words)."""
    names = []
    for m in mentions(text):
        if m.kind != "name":
            continue
        words = [w for w in m.text.split() if w.lower() not in STOPWORDS and w.lower() not in _QUESTION_WORDS]
        # "T-visa-holding victims": a modifier that starts with a capital, not a name
        words = [w for w in words if not re.fullmatch(r"[A-Z][\w.]*(?:-[a-z]+)+", w)]
        if m.start == 0 and len(words) <= 1:
            continue  # "How", "What", a sentence-initial word
        if words and not all(w.lower() in {"i", "tip"} for w in words):
            names.append(re.sub(r"['\u2019]s$", "", " ".join(words)))  # "America's" -> "America"
    return tuple(names)


# "per the fact sheet" is "according to", not a rate
_DETERMINER = r"(?:the|a|an|its|their|his|her|our|your|this|that|these|those)\b"
_RATIO = re.compile(
    r"\bwhat (?:share|percentage|percent|per cent|proportion|fraction|portion|ratio)\b(?!\s+(?:more|fewer|less|higher|lower|increase|decrease|rise|drop)\b)|\bhow many percent\b|\bwhat %"
    r"|\bas an? (?:share|percentage|fraction|proportion|percent) of\b|\bratio (?:of|between)\b"
    r"|\bhow (?:big|large) (?:a )?(?:share|part|fraction|portion|proportion)\b",
    re.I,
)
_TIMES = re.compile(
    r"\bhow many times\b|\bas a multiple\b|\b(?:what|which) multiple\b|\bhow many[- ]fold\b|\bby what factor\b",
    re.I,
)
_AVERAGE = re.compile(
    r"\b(?:on average|an average|the average|average|mean|per (?!cent\b)(?!" + _DETERMINER + r")[a-z]+)\b",
    re.I,
)
# "If a third of them ...", "Suppose 10% of the members ...": a share the asker applies (a
# premise that states one, "Given that half of the 50 million ...", is a claim to check)
_HYPOTHETICAL = re.compile(r"^\s*(?:\w+\s+){0,2}(?:if|suppose|supposing|assuming|imagine|say)\b", re.I)
_EACH = re.compile(r"\b(?:each|apiece|every single)\b", re.I)
# the thing a total is shared among: "per project", "each of the 265 projects", "each grantee"
_PER = re.compile(
    r"\bper (?!" + _DETERMINER + r")([a-z][\w-]+)|\beach (?:of (?:the|those|these|its|their|them) )?"
    r"(?:(?:more than|over|about|approximately|some|roughly)\s+)?(?:[\d,.]+\s+)?([a-z][\w-]+(?:\s+[a-z][\w-]+){0,3})",
    re.I,
)
_COMPARE = re.compile(
    r"\b(?:which|who|what)\b[^?]*\b(?:larger|bigger|greater|more|higher|smaller|fewer|less|lower)\b[^?]*\bor\b"
    r"|\b(?:larger|bigger|greater|higher|smaller|lower)\b[^?]*\bor\b[^?]*\?\s*$",
    re.I,
)


def _operation(text: str, kind: str, factual: str = "") -> str:
    """The calculation a question asks for, recognised by its form, not by its topic:
    "what share of" (ratio), "how many times" (times), "per X" or "each of the N" with a
    figure asked (average), "half of" a figure (fraction), "which is larger, X or Y"
    (compare), two points in time or "how many more" (difference), "combined" (sum),
    "how many years between" (span)."""
    whole = factual or text
    if kind == "date" and _YEARS_BETWEEN.search(text) and len(years(text)) < 2:
        return "span"  # the years of two events, subtracted
    if (
        _YEARS_BETWEEN.search(text)
        and re.search(r"\bhow (?:many (?:years|days|weeks|months)|long)\b", text, re.I)
        and len(years(text)) < 2
    ):
        return "span"
    if _RATIO.search(text):
        return "ratio"
    if _TIMES.search(text):
        return "times"
    if (
        kind in ("count", "money", "quantity", "description")
        and (_AVERAGE.search(text) or (_EACH.search(text) and re.search(r"\d", whole)))
        and (_PER.search(whole) or re.search(r"\baverage\b", text, re.I))
    ):
        return "average"
    if kind in ("count", "money", "quantity", "description", "percent") and re.search(
        r"(?:" + arithmetic.FRACTION.pattern + r")\s+of\b", text if not _HYPOTHETICAL.search(whole) else whole, re.I
    ):
        return "fraction"
    if _COMPARE.search(text):
        return "compare"
    anchors = len(years(text)) + bool(_NOW.search(text))
    explicit = re.search(
        r"\b(?:difference|gap)\b|by how many percentage points|" + _COMPARATIVE + "|" + _EXCEEDS, text, re.I
    )
    if kind not in ("count", "money", "percent", "quantity") and not (explicit and kind == "description"):
        return ""
    if _DIFF.search(text) and (anchors >= 2 or explicit):
        return "difference"  # two points in time, or an explicit comparison: compute it
    if _SUM.search(text) and re.search(
        r"\band\b|\bboth\b|\bplus\b|\badd(?:ing)? in\b|\bfirst (?:two|three)\b|\ball (?:two|three)\b", text, re.I
    ):
        return "sum"  # two named things to add up, not a stated total ("the combined value of the projects")
    return ""


def _per(text: str) -> str:
    """What a total is shared among, stemmed: "per project", "each school", "each of the TIP
    Office projects" (the plural head of the phrase, not its first word)."""
    m = _PER.search(text)
    if not m:
        return ""
    words = [w.lower() for w in (m.group(1) or m.group(2)).split()]
    words = words[: next((i for i, w in enumerate(words) if w in STOPWORDS or _verb_like(w)), len(words))] or words[:1]
    word = next((w for w in reversed(words) if w.endswith("s") and len(w) > 3), words[0])
    return stem(word) if word not in STOPWORDS else ""


# --- follow-ups --------------------------------------------------------------------


_COMPOUND = re.compile(r"(?:,\s*|\s+|;\s*)and\s+(?=(?:what|which|who|whom|when|where|why|how)\b)|\?\s+(?=\S)", re.I)


def split_compound(text: str) -> list[str]:
    """ "What share are minors, and how large is the population?" -> two questions."""
    parts = [p.strip(" ,;") for p in _COMPOUND.split(text) if p and p.strip(" ,;?")]
    if len(parts) < 2 or any(len(tokens(p)) < 2 for p in parts):
        return [text]
    if not all(_QUESTION_WORDS & set(tokens(p)) for p in parts):
        return [text]  # "It handed out $300 million, right? What's the actual total?" is one question
    return [p if p.endswith("?") else f"{p}?" for p in parts]


def is_follow_up(question: Question, raw: str) -> bool:
    """Short or pronoun-led questions lean on the previous turn."""
    words = tokens(raw)
    if _ELLIPTIC.search(raw) or not words or re.search(r"\b(?:at (?:the|that) time|back then|by then)\b", raw, re.I):
        return True
    has_wh = any(w in _QUESTION_WORDS for w in words)
    pronoun = any(w in _PRONOUNS for w in words)
    return (
        (not has_wh and len(question.terms) <= 3)
        or (pronoun and len(question.terms) <= 4)
        or (has_wh and len(question.terms) <= 1)  # "in how many countries?", "when?"
        or bool(
            re.match(r"\s*(?:in|at|for|by|with|from|to|on|since)\s+(?:what|which|how|when|where|whom)\b", raw, re.I)
        )
    )


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
