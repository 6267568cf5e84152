"""The light forward pass (rag.minilm) against the real thing: query vectors equal
sentence-transformers' to 1e-5, the reader's logits equal transformers' BertModel's, the
numpy ranker equals scikit-learn's, and answering in a fresh process imports neither
transformers nor sentence-transformers nor scikit-learn."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag import minilm
from rag.embedding import SentenceTransformerEmbedder, default_model_path
from rag.reader import MODEL_DIR, PAD_MULTIPLE, SpanReader, best_span, encode

ROOT = Path(__file__).resolve().parent.parent

TEXTS = [
    "How many victims are there?",
    "what's the TIP office's budget in 2015??",
    "  leading and trailing spaces  ",
    "Ünïcödé, emoji 🚀 and 中文 characters; tabs\tand\nnewlines.",
    "x",
    "",
    # longer than 256 tokens: truncation must cut where sentence-transformers cuts
    " ".join(f"word{i} of a very long rambling question about release {i}.{i}" for i in range(80)),
]


@pytest.fixture(scope="module")
def base() -> str:
    return default_model_path()


def test_query_vectors_equal_sentence_transformers(base: str) -> None:
    from sentence_transformers import SentenceTransformer

    ours = minilm.SentenceEncoder(base).encode(TEXTS, batch_size=3)  # batches mix lengths: padding
    theirs = SentenceTransformer(base, device="cpu").encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    worst = float(np.abs(ours - theirs).max())
    print(f"rag.minilm vs sentence-transformers, {len(TEXTS)} texts: max |difference| {worst:.2e}")
    assert worst <= 1e-5


def test_the_embedder_answers_queries_with_numpy_and_documents_with_sentence_transformers(base: str) -> None:
    embedder = SentenceTransformerEmbedder()
    queries = embedder.embed_queries(TEXTS[:3])
    assert embedder._queries and embedder._model is None  # no sentence-transformers yet
    documents = embedder.embed_documents(TEXTS[:3])
    assert embedder._model is not None
    assert float(np.abs(queries - documents).max()) <= 1e-5
    plain = SentenceTransformerEmbedder(light_queries=False)
    assert float(np.abs(plain.embed_queries(TEXTS[:3]) - queries).max()) <= 1e-5 and plain._queries is None


def test_other_kinds_of_model_keep_sentence_transformers(base: str, tmp_path: Path) -> None:
    assert minilm.supported(base)
    folder = tmp_path / "cls-pooled"
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    assert not minilm.supported(folder)  # no weights file it can read
    (folder / "model.safetensors").symlink_to(Path(base) / "model.safetensors")
    assert minilm.supported(folder)
    assert minilm.max_seq_length(base) == 256
    sbert = folder / "sentence_bert_config.json"
    sbert.write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    assert minilm.max_seq_length(folder) == 128 and minilm.supported(folder)
    sbert.write_text(json.dumps({"max_seq_length": 4096, "do_lower_case": False}))
    assert minilm.max_seq_length(folder) == 512  # capped at the position embeddings, as sentence-transformers caps it
    sbert.write_text(json.dumps({"max_seq_length": 256, "do_lower_case": True}))
    assert not minilm.supported(folder)  # sentence-transformers would lowercase first
    sbert.write_text(json.dumps({"max_seq_length": 256, "do_lower_case": False}))
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert not minilm.supported(folder)
    (folder / "modules.json").write_text("not json")
    assert not minilm.supported(folder)


def _torch_reader(base: str) -> tuple[Any, Any, Any]:
    """The reader as training builds it: transformers' BertModel with the trained layers."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    tensors = load_file(str(MODEL_DIR / "reader.safetensors"))
    encoder = AutoModel.from_pretrained(base)
    encoder.load_state_dict(
        {k.removeprefix("encoder."): v.float() for k, v in tensors.items() if k.startswith("encoder.")}, strict=False
    )
    head = torch.nn.Linear(encoder.config.hidden_size, 2)
    head.load_state_dict({k.removeprefix("head."): v.float() for k, v in tensors.items() if k.startswith("head.")})
    return AutoTokenizer.from_pretrained(base), encoder.eval(), head.eval()


def test_reader_logits_and_tokens_equal_torch(base: str) -> None:
    import torch

    question = "When was the first stable release, and how many developers were there?"
    passages = [
        "Debian 1.1 (Buzz) was released on June 17, 1996, with 474 packages.",
        "In 2024 there were about 1,000 developers — “Debian Developers” — in 60 countries.",
        " ".join(["The archive keeps growing, release after release, with more packages."] * 40),  # truncated
        "x",
    ]
    tokenizer, encoder, head = _torch_reader(base)
    enc, offsets = encode(tokenizer, [question] * len(passages), passages)
    with torch.inference_mode():
        expected = head(encoder(**enc).last_hidden_state).numpy()
    reader = SpanReader(MODEL_DIR, base, precision="float32")
    logits, batch = reader.logits(question, passages)
    assert batch.ids.tolist() == enc["input_ids"].tolist()
    assert batch.types.tolist() == enc["token_type_ids"].tolist()
    assert [[list(o) for o in row] for row in batch.offsets] == offsets
    assert [batch.sequence_ids[i] for i in range(len(passages))] == [enc.sequence_ids(i) for i in range(len(passages))]
    real = batch.mask.astype(bool)
    worst = float(np.abs(logits - expected)[real].max())
    print(
        f"rag.minilm vs transformers reader logits: max |difference| {worst:.2e} (logits up to {np.abs(expected).max():.1f})"
    )
    assert worst <= 1e-4
    # read() takes one passage at a time, unpadded: the same spans as transformers' batch
    expected_spans = [
        best_span(
            i,
            p,
            expected[i, :, 0].tolist(),
            expected[i, :, 1].tolist(),
            [j for j, s in enumerate(enc.sequence_ids(i)) if s == 1],
            offsets[i],
        )
        for i, p in enumerate(passages)
    ]
    spans = reader.read(question, passages)
    assert [(s.start, s.end) for s in spans] == [(s.start, s.end) for s in expected_spans]
    assert max(abs(a.margin - b.margin) for a, b in zip(spans, expected_spans, strict=True)) <= 1e-4


def test_answering_in_a_fresh_process_imports_neither_transformers_nor_sklearn(tmp_path: Path) -> None:
    """Index in one process (sentence-transformers), answer in another: the answer path
    (query vectors, the learned reader and its ranker) must not import the libraries that
    were half a cold start."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(
        "# Lighthouse\n\nThe Harbour Lighthouse was built in 1874. Its lamp can be seen 18 miles away.\n"
    )
    env_code = f"""
        import os, sys
        os.environ['FACTSHEET_QA_CORPUS_DIR'] = {str(corpus)!r}
        os.environ['FACTSHEET_QA_DATA_DIR'] = {str(tmp_path / "data")!r}
        from rag.assistant import Assistant
        from rag.config import Settings
        assistant = Assistant(Settings.from_env())
    """
    build = textwrap.dedent(env_code) + "assistant.ensure_index()\n"
    subprocess.run([sys.executable, "-c", build], check=True, cwd=ROOT, timeout=600)
    ask = textwrap.dedent(env_code) + textwrap.dedent("""
        a = assistant.answer('When was the Harbour Lighthouse built?')
        heavy = sorted(m for m in ('transformers', 'sentence_transformers', 'sklearn') if m in sys.modules)
        print(repr(a.text), a.abstained, assistant.settings.reader, heavy)
        assert not heavy, heavy
        assert '1874' in a.text and not a.abstained
    """)
    done = subprocess.run([sys.executable, "-c", ask], cwd=ROOT, timeout=600, capture_output=True, text=True)
    print(done.stdout, done.stderr[-2000:])
    assert done.returncode == 0


def test_bfloat16_reading_reads_the_spans_float32_reads(base: str) -> None:
    """The reader's bfloat16 arithmetic (the default where the CPU has it) must not change
    its decisions: on the fact sheet's dev questions, each read in the paragraph that holds
    its evidence, the same best span nearly always, and margins a few hundredths apart."""
    items = [json.loads(line) for line in (ROOT / "evals" / "datasets" / "factsheet.jsonl").open(encoding="utf-8")]
    text = (ROOT / "corpus" / "combating-trafficking-in-persons.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    pairs = []
    for item in items:
        if item["split"] == "dev" and not item["abstain"] and not item.get("history"):
            holding = [p for p in paragraphs if item["evidence"][:50] in p]
            if holding:
                pairs.append((item["question"], holding[0][:1200]))
    pairs = pairs[::4][:60]
    exact, fast = SpanReader(MODEL_DIR, base, precision="float32"), SpanReader(MODEL_DIR, base, precision="bfloat16")
    assert fast.encoder.dtype != exact.encoder.dtype
    # bfloat16 pads each passage to one of a few lengths: oneDNN keeps kernels per shape
    assert {fast.tokenizer([q], [p]).ids.shape[1] % PAD_MULTIPLE for q, p in pairs} == {0}
    a = [exact.read(q, [p])[0] for q, p in pairs]
    b = [fast.read(q, [p])[0] for q, p in pairs]
    same = sum((x.start, x.end) == (y.start, y.end) for x, y in zip(a, b, strict=True))
    moved = [abs(x.margin - y.margin) for x, y in zip(a, b, strict=True)]
    print(
        f"bfloat16 vs float32 reading, {len(pairs)} questions: same span {same}, "
        f"margin |difference| mean {np.mean(moved):.3f}, max {max(moved):.3f}"
    )
    assert len(pairs) >= 40
    assert same >= 0.95 * len(pairs)
    assert np.mean(moved) <= 0.05


def test_reader_precision_auto_is_a_real_dtype() -> None:
    assert minilm.compute_dtype("auto") in ("float32", "bfloat16")
    assert minilm.compute_dtype("float32") == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        minilm.compute_dtype("int4")
