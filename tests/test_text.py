from rag.text import fold, fuzzy_equal, normalise, split_sentences, stem, tokens


def test_normalise_keeps_length_so_offsets_survive():
    raw = "United States\u2019 \u201c3P\u201d paradigm \u2013 prosecution \u2022 item"
    assert len(normalise(raw)) == len(raw)
    assert normalise(raw) == 'United States\' "3P" paradigm - prosecution   item'


def test_split_sentences_does_not_break_on_abbreviations():
    text = "The U.S. Department of State leads. It trains U.S. government employees. Dr. Smith agreed."
    spans = [text[a:b] for a, b in split_sentences(text)]
    assert spans == ["The U.S. Department of State leads.", "It trains U.S. government employees.", "Dr. Smith agreed."]


def test_split_sentences_offsets_are_shifted():
    assert list(split_sentences("One. Two.", offset=100)) == [(100, 104), (105, 109)]


def test_tokens_fold_accents_drop_commas_and_possessives():
    assert tokens("Verité's 30,000 officers") == ["verite", "30000", "officers"]
    assert fold("Verité") == "verite"


def test_stem_matches_plurals_and_tenses():
    assert stem("countries") == stem("country")
    assert stem("trained") == stem("train")
    assert stem("analysis") == "analysis"


def test_fuzzy_equal_tolerates_typos_but_not_other_numbers():
    assert fuzzy_equal("contries", "countries")
    assert fuzzy_equal("trafficing", "trafficking")
    assert not fuzzy_equal("2008", "2009")
    assert not fuzzy_equal("cat", "car")


def test_chat_shorthand_is_spelled_out_but_abbreviations_are_not():
    from rag.text import expand_shorthand

    assert expand_shorthand("how many ppl used it lol") == "how many people used it"
    assert expand_shorthand("ilo + unodc mtgs w/ the govt") == "ilo and unodc meetings with the government"
    assert expand_shorthand("R&D in the U.S. r great") == "R&D in the U.S. are great"


def test_defined_acronyms_are_spelled_out_for_embedding_only_where_used_bare():
    from rag.text import acronym_definitions, acronym_expander

    text = "The annual Trafficking in Persons (TIP) Report grew. The Child Protection Compact (CPC) works."
    found = acronym_definitions(text)
    assert found == {"TIP": "Trafficking in Persons", "CPC": "Child Protection Compact"}
    spelled = acronym_expander(found)
    assert spelled("The TIP Office and the first CPC.") == (
        "The TIP (Trafficking in Persons) Office and the first CPC (Child Protection Compact)."
    )
    assert spelled(text) == text  # the definitions themselves stay as written
    assert acronym_definitions("It costs (USD) 5.") == {}  # no long form before the brackets


def test_a_swap_of_neighbouring_letters_is_one_typo():
    from rag.text import edit_distance_at_most, expand_shorthand

    assert edit_distance_at_most("countires", "countries", 1)
    assert edit_distance_at_most("foriegn", "foreign", 1)
    assert not edit_distance_at_most("kitten", "sitting", 2)
    assert expand_shorthand("projects in how many countries rn") == "projects in how many countries right now"
