"""Train the planted-instruction detector (rag.injection) from data/injection/ and the
multi-document suite's real documents; deterministic, about three minutes on a CPU (most of
it embedding the training sentences).

    python -m rag.injection_training [--out rag/models/injection]

Positives: every sentence of the train split's planted texts (the writers' files), the
placeholder {CANARY} filled with random tokens of random shapes. Negatives: the train split's
look-alike ordinary sentences and every sentence of the train documents of the multi-
document suite and of the fact sheet. Two formulations are fitted and both saved: n-grams of
the text alone, and n-grams beside the sentence's embedding (all-MiniLM-L6-v2, the index's
own vectors at ingestion). Each one's threshold (the cut that flags a sentence and its
neighbours) is the lowest score at which the dev documents' sentences (neighbours included)
are flagged at most MAX_DEV_FALSE_RATE of the time; its own_threshold (a lower cut that
flags the sentence alone) the lowest at which both cuts together flag at most
MAX_DEV_KEPT_OUT_RATE of them. Dev recall (a
planted text counts as caught when any of its sentences is flagged) is reported beside it.
The test split (frozen in data/injection/test.sha256) is never read here.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import PROJECT_ROOT
from rag.embedding import Embedder, SentenceTransformerEmbedder
from rag.injection import MIN_WORDS, MODEL_DIR, Detector, WithVectors, prepare
from rag.text import split_sentences

if TYPE_CHECKING:
    from numpy.typing import NDArray

DATA = PROJECT_ROOT / "data" / "injection"
MULTIDOC = PROJECT_ROOT / "data" / "multidoc"
FACT_SHEET = PROJECT_ROOT / "corpus" / "combating-trafficking-in-persons.txt"
MAX_DEV_FALSE_RATE = 0.002  # of real documents' sentences: 1 in 500 lost to a false flag at most
# ... and with the lower cut that flags a sentence alone, 3 in 200 at most in all. Measured
# on the multi-document and fact-sheet dev questions, that cut keeps the evidence of about 1
# answerable question in 500 out of answers (README), and catches planted texts the first
# cut misses by a few hundredths.
MAX_DEV_KEPT_OUT_RATE = 0.015
SEED = 13
RENDERINGS = 4  # each planted text, with this many different tokens
# How much the embedding counts beside the n-grams (unit vectors against tf counts): of
# 0.5 / 1 / 2 / 3 on the dev split, 0.5 caught the most planted texts at the same false rate.
VECTOR_WEIGHT = 0.5


@dataclass(frozen=True)
class Planted:
    id: str
    text: str
    language: str
    split: str


def split_of(item_id: str) -> str:
    """By a hash of the id: 55% train, 20% dev, 25% test, the same on every machine."""
    bucket = int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % 20
    return "train" if bucket < 11 else "dev" if bucket < 15 else "test"


def planted(folder: Path = DATA) -> list[Planted]:
    items = []
    for path in sorted(folder.glob("variants-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                raw = json.loads(line)
                items.append(Planted(raw["id"], raw["text"], raw.get("language", ""), split_of(raw["id"])))
    return items


def negatives(folder: Path = DATA) -> list[Planted]:
    """The writers' look-alike ordinary sentences (negatives.jsonl, negatives-b.jsonl, ...)."""
    rows = [
        json.loads(line)
        for path in sorted(folder.glob("negatives*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [Planted(r["id"], r["text"], r.get("language", ""), split_of(r["id"])) for r in rows]


def shapes(folder: Path = DATA) -> list[str]:
    path = folder / "shapes.jsonl"
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def frozen_digest(folder: Path = DATA) -> str:
    """sha256 of the test split (planted texts and negatives), as frozen in test.sha256."""
    rows = [(p.id, p.text) for p in [*planted(folder), *negatives(folder)] if p.split == "test"]
    return hashlib.sha256(json.dumps(sorted(rows), ensure_ascii=False).encode()).hexdigest()


def canary(item_id: str) -> str:
    """The token planted for one text in the evals (evals.injection): unique, arbitrary."""
    return "KESTREL-" + hashlib.sha256(item_id.encode()).hexdigest()[:6].upper()


def fill(text: str, token: str) -> str:
    return text.replace("{CANARY}", token)


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)] or [text]


def document_chunks(split: str) -> list[list[str]]:
    """The raw sentences of each chunk of the multi-document suite's documents of one split,
    as ingestion reads them (flags are judged a chunk at a time)."""
    from rag.chunking import chunk_document
    from rag.corpus import load

    found: list[list[str]] = []
    for source in json.loads((MULTIDOC / "sources.json").read_text(encoding="utf-8")):
        if source["split"] == split:
            document = load(MULTIDOC / "docs" / source["file"], source["file"])
            found.extend([s.raw for s in c.sentences] for c in chunk_document(document))
    return found


def document_sentences(split: str) -> list[str]:
    return [s for chunk in document_chunks(split) for s in chunk]


Vectors = Callable[[Sequence[str]], "NDArray[np.float32]"]


def flagged_share(detector: Detector, chunks: list[list[str]], embed: Vectors | None = None) -> tuple[int, int]:
    """(sentences flagged, sentences) over whole chunks, neighbours included."""
    flat = [s for chunk in chunks for s in chunk]
    found = detector.flags_blocks(chunks, embed(flat) if embed is not None and flat else None)
    return sum(f is not None for block in found for f in block), len(flat)


def make_features() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import make_union

    return make_union(
        HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=2**18, alternate_sign=False),
        HashingVectorizer(analyzer="word", ngram_range=(1, 2), n_features=2**17, alternate_sign=False),
    )


def make_classifier(seed: int = SEED) -> Any:
    from sklearn.linear_model import LogisticRegression

    # Positives weigh 8x: fewer than ordinary sentences, yet a missed one costs far more.
    return LogisticRegression(C=4.0, class_weight={0: 1, 1: 8}, max_iter=2000, random_state=seed)


def make_model(seed: int = SEED) -> Any:
    """The text-only formulation: n-grams of the prepared sentence."""
    from sklearn.pipeline import make_pipeline

    return make_pipeline(make_features(), make_classifier(seed))


def random_token(rng: random.Random, words: Sequence[str]) -> str:
    """A planted token of a random shape: a word, a code, words and digits. Random, so the
    classifier learns the instruction around the token and never the token itself."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    code = "".join(rng.choice(letters + "0123456789") for _ in range(rng.randint(3, 8)))
    word = rng.choice(words)
    return rng.choice(
        [word, word.upper(), word.capitalize(), code, f"{word.upper()}-{code}", f"{word} {rng.choice(words)}"]
    )


def training_rows(seed: int = SEED) -> tuple[list[str], list[int]]:
    """(sentences as written, labels): the classifiers read prepare(sentence) and its vector."""
    rng = random.Random(seed)
    ordinary = [n.text for n in negatives() if n.split == "train"]
    ordinary += document_sentences("train")
    words = sorted({w for s in ordinary for w in s.split() if w.isalpha() and len(w) > 3})
    texts: list[str] = []
    labels: list[int] = []
    for item in planted():
        if item.split != "train":
            continue
        for _ in range(RENDERINGS):
            for sentence in sentences(fill(item.text, random_token(rng, words))):
                texts.append(sentence)
                labels.append(1)
    ordinary += [s for block in FACT_SHEET.read_text(encoding="utf-8").split("\n\n") for s in sentences(block)]
    ordinary = [s for s in ordinary if len(s.split()) >= MIN_WORDS]  # what the classifier judges
    texts += ordinary
    labels += [0] * len(ordinary)
    return texts, labels


def caught(detector: Detector, items: Iterable[Planted], embed: Vectors | None = None) -> tuple[int, int]:
    """(planted texts with any sentence flagged, planted texts), tokens as the eval plants them."""
    hits = total = 0
    for item in items:
        parts = sentences(fill(item.text, canary(item.id)))
        flags = detector.flags(parts, embed(parts) if embed is not None else None)
        hits += any(f is not None for f in flags)
        total += 1
    return hits, total


# No cut below 0.5: there the (class-weighted) classifier itself calls a sentence ordinary.
THRESHOLDS = [0.5 + 0.01 * i for i in range(49)] + [0.99 + 0.001 * i for i in range(10)]


def choose_threshold(
    detector: Detector,
    chunks: list[list[str]],
    max_rate: float,
    embed: Vectors | None = None,
    above: float | None = None,
) -> float:
    """The lowest threshold (from 0.5) at which at most max_rate of these ordinary documents'
    sentences are flagged, neighbours included. With ``above`` (the cut that flags
    neighbours too), the lowest cut at or below it for flagging a sentence alone, counted
    together with what ``above`` flags. Sentences are scored once; the flags of each
    threshold come from those scores."""
    flat = [s for chunk in chunks for s in chunk]
    scored = detector.scores(flat, embed(flat) if embed is not None and flat else None)
    for threshold in THRESHOLDS if above is None else [t for t in THRESHOLDS if t <= above] + [above]:
        cuts = (threshold, None) if above is None else (above, threshold)
        flagged = sum(f is not None for block in detector.judge(chunks, scored, *cuts) for f in block)
        if flagged <= max_rate * len(flat):
            return threshold
    return THRESHOLDS[-1] if above is None else above


def run(out: Path = MODEL_DIR, embedder: Embedder | None = None) -> dict[str, Any]:
    """Fit both formulations on the train split, choose each one's threshold on the dev
    documents, report both on dev, and save them (the one with vectors is used at ingestion
    whenever the index's embedder is the one it read)."""
    from rag.indexing import embed_by_length

    embedder = embedder or SentenceTransformerEmbedder()
    cache: dict[str, NDArray[np.float32]] = {}  # the train documents' sentences are read twice

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        missing = sorted({t for t in texts if t not in cache})
        cache.update(zip(missing, embed_by_length(embedder, missing), strict=True))
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, embedder.dimension), np.float32)

    texts, labels = training_rows()
    prepared = [prepare(t) for t in texts]
    text_model = make_model().fit(prepared, labels)
    with_vectors = WithVectors(make_features(), make_classifier(), VECTOR_WEIGHT, embedder.name, embedder.dimension)
    with_vectors.classifier.fit(with_vectors.matrix(prepared, embed(texts)), labels)
    dev_chunks = document_chunks("dev")
    threshold = choose_threshold(Detector(text_model), dev_chunks, MAX_DEV_FALSE_RATE)
    own_threshold = choose_threshold(Detector(text_model), dev_chunks, MAX_DEV_KEPT_OUT_RATE, above=threshold)
    with_text = Detector(text_model, threshold, with_vectors)
    vectors_threshold = choose_threshold(with_text, dev_chunks, MAX_DEV_FALSE_RATE, embed)
    vectors_own_threshold = choose_threshold(
        with_text, dev_chunks, MAX_DEV_KEPT_OUT_RATE, embed, above=vectors_threshold
    )
    detector = Detector(text_model, threshold, with_vectors, vectors_threshold, own_threshold, vectors_own_threshold)
    dev_planted = [p for p in planted() if p.split == "dev"]
    dev_negatives = [n.text for n in negatives() if n.split == "dev"]
    report: dict[str, Any] = {
        "threshold": round(threshold, 4),
        "vectors_threshold": round(vectors_threshold, 4),
        "own_threshold": round(own_threshold, 4),
        "vectors_own_threshold": round(vectors_own_threshold, 4),
    }
    for name, reads, cut in (("text", None, own_threshold), ("with_vectors", embed, vectors_own_threshold)):
        report[name] = {
            "dev_planted_caught": list(caught(detector, dev_planted, reads)),
            "dev_document_sentences_flagged": list(flagged_share(detector, dev_chunks, reads)),
            "train_document_sentences_flagged": list(flagged_share(detector, document_chunks("train"), reads)),
            "dev_lookalikes_flagged": [
                sum(s >= cut for s in detector.scores(dev_negatives, reads(dev_negatives) if reads else None)),
                len(dev_negatives),
            ],
        }
    report |= {
        "embedder": embedder.name,
        "vector_weight": VECTOR_WEIGHT,
        "train_sentences": len(texts),
        "train_planted_sentences": sum(labels),
        "max_dev_false_rate": MAX_DEV_FALSE_RATE,
        "max_dev_kept_out_rate": MAX_DEV_KEPT_OUT_RATE,
        "seed": SEED,
    }
    out.mkdir(parents=True, exist_ok=True)
    with (out / "detector.pkl").open("wb") as handle:
        pickle.dump({"text": text_model, "with_vectors": with_vectors}, handle, protocol=5)
    (out / "detector.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rag.injection_training", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args(argv)
    frozen = DATA / "test.sha256"
    if frozen.exists() and frozen.read_text().split()[0] != frozen_digest():
        sys.exit("the frozen test split of data/injection changed: restore it, or refreeze and say why")
    report = run(args.out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
