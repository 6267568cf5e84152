from rag.figures import format_value, mentions, value


def kinds(sentence: str) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in mentions(sentence) if m.kind != "name"]


def test_money_percent_count_and_date_spans_with_qualifiers():
    assert kinds("The Office has awarded approximately $200 million to fund more than 265 projects.") == [
        ("money", "approximately $200 million"),
        ("count", "more than 265"),
    ]
    assert kinds("It saw 238 percent more prosecutions when compared to data from 2009.") == [
        ("percent", "238 percent"),
        ("date", "2009"),
    ]
    assert kinds("The first partnership was signed in June 2015.") == [("date", "June 2015")]


def test_a_range_is_one_figure_and_years_are_not_counts():
    assert kinds("Half of the 20 million to 30 million victims.") == [
        ("percent", "Half"),
        ("count", "20 million to 30 million"),
    ]
    assert kinds("It grew from 154 countries in 2008 to 188 today.") == [
        ("count", "154"),
        ("date", "2008"),
        ("count", "188"),
    ]


def test_counts_carry_their_noun_and_share_it_across_to():
    found = {m.text: m.noun for m in mentions("It grew from 154 countries in 2008 to 188 today.") if m.kind == "count"}
    assert found == {"154": "countries", "188": "countries"}
    found = {
        m.text: m.noun
        for m in mentions("It helped 1,545 eligible family members join nearly 700 victims.")
        if m.kind == "count"
    }
    assert found == {"1,545": "eligible family members", "nearly 700": "victims"}


def test_identifiers_are_not_counts():
    assert kinds("Executive Order 13627 applies.") == []


def test_names_skip_sentence_initial_function_words():
    names = [
        m.text
        for m in mentions("The first CPC Partnership was signed with the Government of Ghana.")
        if m.kind == "name"
    ]
    assert names == ["CPC Partnership", "Government of Ghana"]


def test_values_and_formatting():
    assert value("$1.8 million") == 1_800_000
    assert value("three") == 3
    assert format_value(2_300_000, "$1.8 million") == "$2.3 million"
    assert format_value(34, "188") == "34"


def names(sentence: str) -> list[str]:
    return [m.text for m in mentions(sentence) if m.kind == "name"]


def test_listed_names_join_only_when_they_are_one_name():
    sentence = (
        "The Bureau of Population, Refugees, and Migration\u2019s Return, Reintegration, and Family "
        "Reunification Program helped."
    )
    assert names(sentence) == [
        "Bureau of Population, Refugees, and Migration",
        "Return, Reintegration, and Family Reunification Program",
    ]
    assert names("It works with Ghana, Kenya, and Nigeria.") == ["Ghana", "Kenya", "Nigeria"]


def test_identifier_numbers_and_bracketed_acronyms_belong_to_the_name():
    assert names("set forth by Executive Order 13627 and the Federal Acquisition Regulation") == [
        "Executive Order 13627",
        "Federal Acquisition Regulation",
    ]
    assert "Child Protection Compact (CPC) Partnership" in names(
        "Grants go through the Child Protection Compact (CPC) Partnership program."
    )


def test_a_title_with_a_subtitle_is_one_name():
    names = [
        m.text
        for m in mentions("The first challenge, Reimagine: Opportunity, awarded $1.8 million.")
        if m.kind == "name"
    ]
    assert names == ["Reimagine: Opportunity"]


def test_a_range_shares_its_scale():
    assert value("20 to 30 million") == value("20 million to 30 million") == 20_000_000
