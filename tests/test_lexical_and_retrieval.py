from rag.lexical import BM25Index
from rag.retrieval import reciprocal_rank_fusion
from rag.text import stem


def index() -> BM25Index:
    return BM25Index.build(
        [
            ("a", "The TIP Report covers 188 countries today."),
            ("b", "The office awarded $200 million in grants."),
            ("c", "Training reached 4,500 officers."),
        ]
    )


def test_bm25_ranks_the_matching_chunk_first():
    assert index().search("how many countries does the report cover", 3)[0][0] == "a"


def test_bm25_resolves_typos_to_indexed_terms():
    ix = index()
    assert ix.resolve(stem("contries")) == "country"  # the index holds stems
    assert ix.search("contries covered", 1)[0][0] == "a"


def test_bm25_returns_nothing_for_unknown_words():
    assert index().search("pancake recipe", 3) == []


def test_idf_is_highest_for_unseen_words_and_falls_as_a_word_gets_common():
    ix = BM25Index.build(
        [
            ("a", "Grants reached 188 countries."),
            ("b", "Grants paid for training."),
            ("c", "Grants and training in 70 countries."),
            ("d", "Grants funded shelters."),
        ]
    )
    unseen, once, twice, everywhere = (ix.idf(stem(w)) for w in ("pancake", "shelters", "countries", "grants"))
    assert ix.df_ratio(stem("countries")) == 0.5 and ix.df_ratio(stem("grants")) == 1.0  # the stems were indexed
    assert unseen > once > twice > everywhere > 0


def test_rrf_prefers_items_ranked_well_by_both():
    fused = reciprocal_rank_fusion([["x", "y", "z"], ["y", "z", "x"]])
    assert fused[0][0] == "y"
    assert {i for i, _ in fused} == {"x", "y", "z"}
