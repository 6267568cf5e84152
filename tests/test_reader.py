"""The learned reader: span decoding, calibration, the committed model, and the training
path end to end on a tiny run (so `make train` keeps working)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rag.reader import MODEL_DIR, Calibration, Span, best_span, snap
from rag.training import Example, choose_threshold, coverage_precision, fit_calibration, locate


def test_snap_widens_word_pieces_and_drops_quotes() -> None:
    passage = 'It uses po4a now. Set "curl+https" as the method.'
    start = passage.index("po4")
    assert passage[slice(*snap(passage, start, start + 3))] == "po4a"
    start = passage.index("curl")
    assert passage[slice(*snap(passage, start - 1, start + 4))] == "curl+https"
    start = passage.index("now")
    assert passage[slice(*snap(passage, start, start + 4))] == "now"  # the full stop is not part of it


def test_best_span_is_well_formed_and_reports_the_null_score() -> None:
    passage = "Debian runs on 9 architectures."
    # tokens: [CLS] q [SEP] Debian runs on 9 architectures . [SEP]
    offsets = [[0, 0], [0, 0], [0, 0], [0, 6], [7, 11], [12, 14], [15, 16], [17, 30], [30, 31], [0, 0]]
    starts = [1.0, 0, 0, 0, 0, 0, 5.0, 0, 0, 9.0]  # the [SEP] scores highest but is not context
    ends = [1.0, 0, 0, 0, 0, 0, 4.0, 0, 0, 9.0]
    span = best_span(0, passage, starts, ends, context=[3, 4, 5, 6, 7, 8], offsets=offsets)
    assert span.text == "9"
    assert span.null == 2.0 and span.score == 9.0 and span.margin == 7.0
    empty = best_span(0, passage, starts, ends, context=[], offsets=offsets)
    assert empty.score == -math.inf


def test_locate_finds_the_answer_next_to_the_evidence() -> None:
    passage = "Release 1 came in 2001. Later, release 2 came in 2003 with 1 new tool."
    assert locate(passage, "release 2 came in 2003", ["2003"]) == (49, 53)
    assert locate(passage, "release 3 came in 2009", ["2009"]) is None  # not this passage's evidence
    assert locate(passage, "release 2 came in 2003", ["1999"]) is None


def test_calibration_is_monotone_and_the_threshold_meets_the_target() -> None:
    margins = [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    right = [False, False, False, True, False, True, True, True, True, True]
    calibration = fit_calibration(margins, right, target_precision=0.9)
    confidences = [calibration.confidence(m) for m in margins]
    assert confidences == sorted(confidences) and all(0.0 <= c <= 1.0 for c in confidences)
    stated = [ok for c, ok in zip(confidences, right, strict=True) if c >= calibration.threshold]
    assert stated and sum(stated) / len(stated) >= 0.9
    lower = choose_threshold(confidences, right, 0.5)
    assert lower <= calibration.threshold
    curve = coverage_precision(confidences, right, points=4)
    assert curve[0][1] == 1.0 and curve[0][2] == sum(right) / len(right)  # t=0: everything stated


def test_no_threshold_reaches_an_impossible_target() -> None:
    threshold = choose_threshold([0.9, 0.8], [False, False], 0.95)
    assert threshold > 0.9  # answer nothing rather than miss the precision


@pytest.fixture(scope="module")
def reader() -> object:
    from rag.reader import SpanReader

    return SpanReader(MODEL_DIR)


def test_the_committed_model_is_small_and_loads_offline(reader: object) -> None:
    size = sum(p.stat().st_size for p in MODEL_DIR.iterdir())
    assert size <= 50 * 2**20, f"the committed reader is {size / 2**20:.1f} MB"
    calibration = reader.calibration  # type: ignore[attr-defined]
    assert isinstance(calibration, Calibration) and 0.0 < calibration.threshold <= 1.0
    assert len(calibration.dev) > 100  # calibrated on the dev documents' items


def test_the_reader_finds_a_stated_figure(reader: object) -> None:
    passages = [
        "The museum opened in 1931. It holds about 40,000 paintings, most of them Dutch.",
        "Tickets cost 12 euros for adults.",
    ]
    spans = reader.read("How many paintings does the museum hold?", passages)  # type: ignore[attr-defined]
    assert [s.passage for s in spans] == [0, 1]
    best = max(spans, key=lambda s: s.margin)
    assert isinstance(best, Span) and "40,000" in best.text
    assert passages[best.passage][best.start : best.end] == best.text  # a verbatim span


def test_the_learned_answerer_answers_with_a_calibrated_confidence(assistant: object) -> None:
    from rag.reading import LearnedAnswerer

    assert isinstance(assistant.answerer, LearnedAnswerer)  # type: ignore[attr-defined]
    answer = assistant.answer("How many countries does the TIP Report cover today?")  # type: ignore[attr-defined]
    assert not answer.abstained and "188" in answer.short_answer
    assert answer.confidence is not None and 0.0 <= answer.confidence <= 1.0
    assert answer.citations and "188" in answer.citations[0].text
    off_topic = assistant.answer("What is the boiling point of mercury in kelvin?")  # type: ignore[attr-defined]
    assert off_topic.abstained and off_topic.confidence is not None
    assert off_topic.confidence < assistant.answerer.threshold  # type: ignore[attr-defined]


def test_training_runs_end_to_end_on_a_tiny_set(tmp_path: Path, assistant: object) -> None:
    """Examples from the real retriever, a few optimiser steps, save, load, read, rank."""
    from evals.runner import load_suite
    from rag import training
    from rag.answering import ExtractiveAnswerer
    from rag.reader import RANKER, SpanReader, TreeRanker

    items = [i for i in load_suite("factsheet") if i.split == "dev"][:8]
    examples = training.suite_examples(assistant, items, negatives=1)
    assert any(e.start >= 0 for e in examples) and any(e.start < 0 for e in examples)
    assert all(isinstance(e, Example) for e in examples)
    positive = next(e for e in examples if e.start >= 0)
    assert positive.passage[positive.start : positive.end]  # the label is a real span
    config = training.TrainConfig(max_steps=2, batch_size=4)
    encoder, head = training.train(examples, config, log=lambda _: None)
    again, again_head = training.train(examples, config, log=lambda _: None)
    for (name, a), (_, b) in zip(encoder.named_parameters(), again.named_parameters(), strict=True):
        assert a.equal(b), f"training is not deterministic: {name} differs between two runs"
    assert head.weight.equal(again_head.weight)
    out = training.save(encoder, head, config, tmp_path / "reader", {})
    rules = ExtractiveAnswerer()
    rows = training.candidate_rows(assistant, rules, SpanReader(out), items)
    assert len(rows) == len(items) and all(len(r.features) == len(r.right) for r in rows)
    ranker = training.train_ranker(rows * 3)
    TreeRanker.from_sklearn(ranker).save(out / RANKER)
    loaded = SpanReader(out)
    features = [f for r in rows for f in r.features]
    scores = loaded.rank(features)
    assert len(scores) == len(features)
    assert max(abs(a - b) for a, b in zip(scores, ranker.decision_function(features), strict=True)) < 1e-9


HARBOR = """Harbor Report

Funding

  • The Harbor Fund awarded $3 million to 12 clinics in 2019 and $5 million to 20 clinics in 2021.
  • The Harbor Fund trained 400 nurses in 2020.
  • The second contest, Open Doors, awarded $40,000 to improve shelter design.
"""


@pytest.fixture(scope="module")
def harbor(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The learned answerer (the default) over a made-up corpus, with the fast hash embedder."""
    from rag.assistant import Assistant
    from rag.config import Settings
    from rag.embedding import HashEmbedder

    root = tmp_path_factory.mktemp("harbor-learned")
    (root / "corpus").mkdir()
    (root / "corpus" / "harbor.txt").write_text(HARBOR, encoding="utf-8")
    assistant = Assistant(Settings(corpus_dir=root / "corpus", data_dir=root / "data"), embedder=HashEmbedder(256))
    assistant.ingest(progress=False)
    return assistant


def test_named_checks_reject_what_the_question_rules_out(harbor: object) -> None:
    from rag.reading import CHECKS

    assert {c.name for c in CHECKS} >= {"years-hold", "type-fits"}
    # a year the documents do not cover: the 2020 figure is not given for 2015
    answer = harbor.answer("How many nurses did the Harbor Fund train in 2015?")  # type: ignore[attr-defined]
    assert answer.abstained and not answer.citations and "2015" not in answer.text
    # "who" wants a name: an amount from the right sentence is not one
    assert harbor.answer("Who won the Open Doors contest?").abstained  # type: ignore[attr-defined]


def test_a_version_asked_for_is_a_numbered_one() -> None:
    from rag.question import analyse
    from rag.reading import CHECKS

    fits = next(c for c in CHECKS if c.name == "type-fits").test
    which = analyse("Which bundled urllib3 version shipped with 2.14.0?")
    for sentence in ("Updated bundled urllib3 version.", "Updated bundled pywin32 version for builds."):
        assert fits(which, sentence, None) == "no passage gives the version asked for"  # type: ignore[arg-type]
    for answer in ("1.21.1", "v1.21.1", "Bundled urllib3 is now 1.21.1.", "Relicensed under GPLv3 since then."):
        assert fits(which, answer, None) is None, answer  # type: ignore[arg-type]
    assert fits(analyse("Which Debian version is it?"), "testing", None) is None  # type: ignore[arg-type]  # a name
    assert fits(analyse("Which HTTP version stopped being accepted?"), "HTTP/0.9", None) is None  # type: ignore[arg-type]
    assert fits(analyse("How many versions is that?"), "three", None) is None  # type: ignore[arg-type]  # a count
    how = analyse("how do I see which version I have installed?")  # asks how, not which
    assert fits(how, "Run dpkg --status with the package name.", None) is None  # type: ignore[arg-type]


def test_every_learned_answer_is_a_verbatim_span_of_its_citation(harbor: object) -> None:
    for question in ("How many nurses did the Harbor Fund train?", "How much did Open Doors award?"):
        answer = harbor.answer(question)  # type: ignore[attr-defined]
        if not answer.abstained:
            assert answer.short_answer in answer.citations[0].passage or answer.short_answer in (
                answer.citations[0].heading + answer.citations[0].passage
            )
            assert answer.confidence is not None and 0.0 <= answer.confidence <= 1.0


def test_reader_precision_is_a_setting_the_learned_answerer_reads_with() -> None:
    import torch

    from rag.config import Settings
    from rag.reading import LearnedAnswerer

    settings = Settings.from_env({"FACTSHEET_QA_READER_PRECISION": "float32"})
    assert settings.reader_precision == "float32" and Settings.from_env({}).reader_precision == "auto"
    with pytest.raises(ValueError, match="reader_precision must be"):
        Settings.from_env({"FACTSHEET_QA_READER_PRECISION": "fp8"})
    for precision, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        assert LearnedAnswerer(precision=precision).reader.encoder.dtype == dtype
