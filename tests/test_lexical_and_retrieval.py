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


def test_a_saved_index_loads_back_the_same(tmp_path):
    ix = BM25Index.build(
        [
            ("a", "The TIP Report covers 188 countries today.", "x.md"),
            ("b", "The office awarded $200 million in grants to Verité.", "y.md"),
            ("c", "Training reached 4,500 officers in 188 countries.", "x.md"),
        ]
    )
    ix.save(tmp_path / "lex.npz")
    back = BM25Index.load(tmp_path / "lex.npz")
    assert back is not None and len(back) == 3 and back.sources == ix.sources
    for query in ("countries covered", "contries", "grants verite", "officers", "pancake"):
        assert back.search(query, 3) == ix.search(query, 3)
        assert back.search(query, 3, sources={"x.md"}) == ix.search(query, 3, sources={"x.md"})
    assert back.idf(stem("countries")) == ix.idf(stem("countries")) and back.resolve(stem("contries")) == "country"
    empty = BM25Index.build([])
    empty.save(tmp_path / "empty.npz")
    loaded = BM25Index.load(tmp_path / "empty.npz")
    assert loaded is not None and len(loaded) == 0 and loaded.search("countries", 3) == []


def test_a_damaged_or_missing_saved_index_is_not_loaded(tmp_path):
    assert BM25Index.load(tmp_path / "missing.npz") is None
    BM25Index.build([("a", "Grants reached 188 countries.")]).save(tmp_path / "lex.npz")
    data = (tmp_path / "lex.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert BM25Index.load(tmp_path / "cut.npz") is None
    (tmp_path / "junk.npz").write_bytes(b"not an index")
    assert BM25Index.load(tmp_path / "junk.npz") is None
