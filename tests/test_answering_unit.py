"""The rules answerer on a small made-up corpus with the hash embedder: fast, and what
it checks is mechanism (types, constraints, arithmetic, abstention), not tuning. The
learned reader, which uses these rules as one candidate, is tested in test_reader.py."""

import pytest

from rag.assistant import Assistant, QuestionError
from rag.embedding import HashEmbedder

DOC = """Harbor Report

Funding

  • The Harbor Fund awarded $3 million to 12 clinics in 2019 and $5 million to 20 clinics in 2021.
  • The Harbor Fund trained 400 nurses in 2020.
  • The first Harbor clinic opened in Lisbon in March 2018.
"""


def _assistant_over(tmp_path_factory, name: str, text: str) -> Assistant:
    from rag.config import Settings

    root = tmp_path_factory.mktemp(name)
    (root / "corpus").mkdir()
    (root / "corpus" / f"{name}.txt").write_text(text, encoding="utf-8")
    assistant = Assistant(
        Settings(corpus_dir=root / "corpus", data_dir=root / "data", abstain_threshold=0.3, reader="rules"),
        embedder=HashEmbedder(256),
    )
    assistant.ingest(progress=False)
    return assistant


@pytest.fixture(scope="module")
def harbor(tmp_path_factory):
    return _assistant_over(tmp_path_factory, "harbor", DOC)


def test_count_with_a_year_constraint_picks_the_figure_of_that_year(harbor):
    answer = harbor.answer("How many clinics did the Harbor Fund support in 2021?")
    assert answer.short_answer.startswith("20")
    assert "[1]" in answer.text and answer.citations[0].text.startswith("The Harbor Fund awarded")


def test_money_answer_is_verbatim(harbor):
    answer = harbor.answer("How much money did the Harbor Fund award in 2019?")
    assert answer.short_answer == "$3 million"


def test_a_year_the_documents_do_not_cover_is_an_abstention(harbor):
    answer = harbor.answer("How many nurses did the Harbor Fund train in 2015?")
    assert answer.abstained and not answer.citations


def test_date_question(harbor):
    assert harbor.answer("When did the first Harbor clinic open?").short_answer == "March 2018"


def test_sum_is_computed_and_marked(harbor):
    answer = harbor.answer("What is the combined amount the Harbor Fund awarded in 2019 and 2021?")
    assert answer.computed
    assert answer.short_answer == "$8 million"
    assert "computed" in answer.text


def test_out_of_scope_question_abstains(harbor):
    answer = harbor.answer("What is a good recipe for pancakes?")
    assert answer.abstained
    assert answer.text.startswith("The documents don't say")


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01"])
def test_empty_questions_are_refused(harbor, question):
    with pytest.raises(QuestionError, match="empty"):
        harbor.answer(question)


def test_overlong_questions_are_refused(harbor):
    with pytest.raises(QuestionError, match="too long"):
        harbor.answer("why " * 1000)


def test_bad_history_is_refused(harbor):
    with pytest.raises(QuestionError, match="role"):
        harbor.answer("When did it open?", history=[{"role": "system", "content": "x"}])


def test_answers_are_frozen_and_json_serialisable(harbor):
    import dataclasses
    import json

    answer = harbor.answer("How many nurses were trained?")
    data = json.loads(answer.to_json())
    assert set(data) >= {"text", "abstained", "citations", "timings"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.text = "x"  # type: ignore[misc]


def test_years_between_two_events_are_computed_from_both_sentences(harbor):
    a = harbor.answer("How many years after the first Harbor clinic opened did the Harbor Fund train 400 nurses?")
    assert a.short_answer == "2 years" and a.computed
    cited = " ".join(c.text for c in a.citations)
    assert "2018" in cited and "2020" in cited  # both operands cited


def test_in_a_year_is_not_since_that_year():
    from rag.answering import _since

    assert _since("Since 2009, 194 laws passed.", "2009")
    assert not _since("How many laws passed in 2009?", "2009")


def test_a_word_only_inside_an_unasked_name_is_not_a_match():
    from rag.answering import _name_only_terms
    from rag.text import stem

    sentence = "The Bureau of Population, Refugees, and Migration helped 700 victims."
    assert _name_only_terms(sentence, frozenset({stem("population"), stem("victims")})) == {stem("population")}
    # two of the name's words in the question: the name is meant
    assert _name_only_terms(sentence, frozenset({stem("population"), stem("refugees")})) == frozenset()


ATLAS = """Atlas Brief

Programs

  • The Atlas Relief Network (ARN) funds shelters in 14 cities.
  • In 2020, the ARN funded studies by the Global Shelter Alliance and the Northern Housing Institute.
  • The second contest, Open Doors, awarded $40,000 to improve shelter design.
  • The first Atlas compact was signed, with the Government of Peru, in May 2019.
"""


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    return _assistant_over(tmp_path_factory, "atlas", ATLAS)


def test_an_acronym_is_spelled_out_where_the_documents_define_it(atlas):
    answer = atlas.answer("wat does ARN stand for")
    assert answer.short_answer == "Atlas Relief Network" and "(ARN)" in answer.citations[0].text
    assert atlas.answer("What does WHO stand for?").abstained  # not defined in the documents


def test_a_plural_name_question_gets_the_whole_list(atlas):
    answer = atlas.answer("Which two organizations had studies funded by the ARN in 2020?")
    assert answer.short_answer == "Global Shelter Alliance and the Northern Housing Institute"


def test_who_won_is_not_answered_by_what_a_contest_awarded(atlas):
    assert atlas.answer("Who won the Open Doors contest?").abstained


def test_a_stranded_preposition_asks_for_its_object(atlas):
    assert atlas.answer("Who was the first Atlas compact signed with?").short_answer == "Government of Peru"


def test_an_abstention_is_never_joined_to_an_answer_or_its_quotation():
    from rag.assistant import merge_answers
    from rag.types import Answer, Citation

    cited = Citation("corpus/a.txt", "The harbor has 12 cranes.", 0, 25, "c1", 0.9, title="A")
    stated = Answer("12 cranes. [1]\n\n“The harbor has 12 cranes.” [1]", False, (cited,), short_answer="12 cranes")
    silent = Answer("The documents don't say. No passage in them answers this question.", True)
    merged = merge_answers([silent, stated])
    assert "don't say" not in merged.text and merged.text == stated.text and not merged.abstained
    assert merged.citations == (cited,) and merged.note == "The documents don't answer part 1 of the question."
    both = merge_answers([silent, silent])
    assert both.abstained and not both.citations and "“" not in both.text
