"""Training the learned reader (``make train``): data from the repo, deterministic, CPU.

1. Each train item's question goes through the real retriever over its documents'
   index; every retrieved passage becomes an example, labelled with the answer span when
   the passage holds the item's evidence and an accepted answer, and "no answer"
   otherwise (always, for unanswerable items). The evidence passage is added when
   retrieval missed it, so the reader learns the answer even where retrieval was weak.
2. The upper encoder layers and a span head are trained from the bundled MiniLM.
3. The margin (best span − no answer) is calibrated on the dev documents into a
   confidence, and the abstention threshold set for the target precision.

Heavy imports live inside the functions.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.reader import MODEL_DIR, Calibration, encode, passage_text, reader_question, trained_names
from rag.text import normalise


@dataclass(frozen=True)
class Example:
    """One (question, passage) pair; ``start``/``end`` are character offsets of the
    answer in the passage, or -1 when the passage does not answer."""

    question: str
    passage: str
    start: int = -1
    end: int = -1
    item: str = ""


def locate(passage: str, evidence: str, answers: Sequence[str]) -> tuple[int, int] | None:
    """Where an accepted answer sits in a passage that holds the evidence, or None."""
    low = normalise(passage).lower()
    ev = " ".join(normalise(evidence).lower().split())
    flat = " ".join(low.split())
    if not ev or (ev[:60] not in flat and ev[-60:] not in flat):
        return None
    anchor = low.find(ev[:30]) if ev[:30] in low else 0
    found: list[tuple[int, int, int]] = []
    for answer in answers:
        a = normalise(answer).lower().strip()
        if len(a) < 1:
            continue
        start = low.find(a)
        while start >= 0:
            found.append((abs(start - anchor), start, start + len(a)))
            start = low.find(a, start + 1)
    if not found:
        return None
    _, start, end = min(found)
    return start, end


def collect(
    items: Iterable[Any],
    retrieve: Callable[[str, list[dict[str, str]]], tuple[Any, list[Any]]],
    evidence_chunks: Callable[[str], list[Any]],
    negatives: int = 3,
) -> list[Example]:
    """Examples from items; ``retrieve`` gives (resolved question, hits) for a question."""
    examples: list[Example] = []
    for item in items:
        question, hits = retrieve(item.question, list(item.history))
        asked = reader_question(question)
        positives, negs = [], []
        seen = set()
        for hit in hits:
            seen.add(hit.chunk.id)
            text = passage_text(hit.chunk)
            where = None if item.abstain else locate(text, item.evidence, item.answers)
            if where is not None:
                positives.append(Example(asked, text, where[0], where[1], item.id))
            elif item.abstain or not _holds(text, item.evidence):
                negs.append(Example(asked, text, item=item.id))
        if not item.abstain and not positives and item.evidence:
            for chunk in evidence_chunks(item.evidence):
                text = passage_text(chunk)
                where = locate(text, item.evidence, item.answers)
                if where is not None and chunk.id not in seen:
                    positives.append(Example(asked, text, where[0], where[1], item.id))
                    break
        examples += positives[:1] + negs[:negatives]
    return examples


def _holds(passage: str, evidence: str) -> bool:
    ev = " ".join(normalise(evidence).lower().split())
    flat = " ".join(normalise(passage).lower().split())
    return bool(ev) and (ev[:60] in flat or ev[-60:] in flat)


@dataclass(frozen=True)
class TrainConfig:
    from_layer: int = 2  # layers below this and the embeddings stay the bundled model's
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 6e-5
    seed: int = 13
    threads: int = 2
    max_steps: int | None = None  # a cap, for the smoke test


def train(examples: Sequence[Example], config: TrainConfig, log: Callable[[str], None] = print) -> tuple[Any, Any]:
    """Fine-tune; returns (encoder, head). Deterministic for a given thread count."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from rag.reader import base_model_path

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    base = base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoder = AutoModel.from_pretrained(base)
    head = torch.nn.Linear(encoder.config.hidden_size, 2)
    trainable = set(trained_names(encoder, config.from_layer))
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad = name in trainable
    parameters = [p for n, p in encoder.named_parameters() if n in trainable] + list(head.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.01)
    batches = _batches(examples, tokenizer, config)
    total = len(batches) * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, 1 - step / max(1, total))
    )
    encoder.train()
    step, started = 0, time.perf_counter()
    order = random.Random(config.seed)
    for epoch in range(config.epochs):
        order.shuffle(batches)
        running = 0.0
        for n, (inputs, starts, ends, mask) in enumerate(batches, 1):
            if step >= total:
                break
            logits = head(encoder(**inputs).last_hidden_state)
            loss = _loss(torch, logits, mask, starts, ends)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad()
            step += 1
            running += float(loss.detach())
            if n % 50 == 0:
                log(
                    f"epoch {epoch + 1} batch {n}/{len(batches)} loss {running / 50:.3f} ({time.perf_counter() - started:.0f} s)"
                )
                running = 0.0
    encoder.eval()
    return encoder, head


def _loss(torch: Any, logits: Any, mask: Any, starts: Any, ends: Any) -> Any:
    bias = (1 - mask) * -1e4  # padding and question tokens can't be the answer; [CLS] (no answer) can
    return (
        torch.nn.functional.cross_entropy(logits[..., 0] + bias, starts)
        + torch.nn.functional.cross_entropy(logits[..., 1] + bias, ends)
    ) / 2


def _batches(examples: Sequence[Example], tokenizer: Any, config: TrainConfig) -> list[tuple[Any, Any, Any, Any]]:
    """Tokenised batches of similar length (less padding), answer offsets as token indices."""
    import torch

    ordered = sorted(examples, key=lambda e: (len(e.question) + len(e.passage), e.item, e.start))
    batches = []
    for i in range(0, len(ordered), config.batch_size):
        group = ordered[i : i + config.batch_size]
        enc, offsets = encode(tokenizer, [e.question for e in group], [e.passage for e in group])
        starts, ends, masks = [], [], []
        for j, example in enumerate(group):
            ids = enc.sequence_ids(j)
            mask = [1 if s == 1 else 0 for s in ids]
            mask[0] = 1
            s_tok = e_tok = 0
            if example.start >= 0:
                for k, (sid, (a, b)) in enumerate(zip(ids, offsets[j], strict=True)):
                    if sid != 1:
                        continue
                    if a <= example.start < b or (s_tok == 0 and a >= example.start):
                        s_tok = s_tok or k
                    if a < example.end:
                        e_tok = k
                if s_tok == 0 or e_tok < s_tok:  # the answer fell past the truncation
                    s_tok = e_tok = 0
            starts.append(s_tok)
            ends.append(e_tok)
            masks.append(mask)
        batches.append((enc, torch.tensor(starts), torch.tensor(ends), torch.tensor(masks, dtype=torch.float)))
    return batches


def save(encoder: Any, head: Any, config: TrainConfig, out: Path, meta: dict[str, Any]) -> Path:
    """The trained layers and head as fp16 safetensors, and the reader's settings."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    trained = set(trained_names(encoder, config.from_layer))
    tensors = {f"encoder.{n}": p.detach().half().contiguous() for n, p in encoder.named_parameters() if n in trained}
    tensors.update({f"head.{n}": p.detach().half().contiguous() for n, p in head.named_parameters()})
    save_file(tensors, str(out / "reader.safetensors"))
    (out / "reader.json").write_text(
        json.dumps({"train": asdict(config), **meta}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return out


def fit_calibration(margins: Sequence[float], right: Sequence[bool], target_precision: float) -> Calibration:
    """Platt scaling of margins to P(right), and the lowest confidence threshold whose stated
    answers reach the target precision on these items (unanswerable ones included)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array(margins, dtype=float).reshape(-1, 1)
    y = np.array(right, dtype=int)
    if len(set(y.tolist())) < 2:
        return Calibration(target_precision=target_precision)
    model = LogisticRegression(C=1.0).fit(x, y)
    calibration = Calibration(float(model.coef_[0][0]), float(model.intercept_[0]), 0.5, target_precision)
    confidences = [calibration.confidence(m) for m in margins]
    threshold = choose_threshold(confidences, right, target_precision)
    return Calibration(calibration.slope, calibration.intercept, threshold, target_precision)


def choose_threshold(confidences: Sequence[float], right: Sequence[bool], target: float) -> float:
    """The lowest threshold at which the answers stated (confidence ≥ it) reach the target
    precision; the highest confidence seen (answer almost nothing) when none does."""
    pairs = sorted(zip(confidences, right, strict=True), reverse=True)
    best, correct = None, 0
    for n, (confidence, ok) in enumerate(pairs, 1):
        correct += ok
        if correct / n >= target:
            best = confidence
    return round(best, 4) if best is not None else round(pairs[0][0] + 1e-4, 4) if pairs else 1.0


def coverage_precision(
    confidences: Sequence[float], right: Sequence[bool], points: int = 10
) -> list[tuple[float, float, float]]:
    """(threshold, coverage, precision) at evenly spaced thresholds."""
    out = []
    for k in range(points + 1):
        t = k / points
        stated = [ok for c, ok in zip(confidences, right, strict=True) if c >= t]
        out.append((t, len(stated) / len(right) if right else 0.0, sum(stated) / len(stated) if stated else 1.0))
    return out


# --- the ranker: which candidate, if any, is the answer ----------------------------------


@dataclass(frozen=True)
class Row:
    """An item's candidates, their features and whether each would be right."""

    item: str
    abstain: bool
    features: tuple[tuple[float, ...], ...]
    right: tuple[bool, ...]
    sources: tuple[str, ...]


def candidate_rows(assistant: Any, rules: Any, reader: Any, items: Sequence[Any]) -> list[Row]:
    """Run retrieval, the rules and the reader on each item, as the answerer does."""
    from evals import metrics
    from rag.reading import candidates

    rows = []
    for item in items:
        state = assistant._retrieve(assistant._understand({"question": item.question, "history": list(item.history)}))
        evidence = state["evidence"]
        hits = list(evidence.hits)
        if not hits:
            rows.append(Row(item.id, item.abstain, (), (), ()))
            continue
        q = evidence.question
        spans = reader.read(reader_question(q), [passage_text(h.chunk) for h in hits])
        found = candidates(evidence, spans, rules.answer(evidence))
        right = tuple((not item.abstain) and metrics.any_answer_matches(item.answers, c.text) for c in found)
        rows.append(Row(item.id, item.abstain, tuple(c.features for c in found), right, tuple(c.source for c in found)))
    return rows


def train_ranker(rows: Sequence[Row], seed: int = 0) -> Any:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.array([f for r in rows for f in r.features], dtype=float)
    y = np.array([ok for r in rows for ok in r.right], dtype=int)
    model = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=seed,
    )
    return model.fit(x, y)


def choose(ranker: Any, rows: Sequence[Row]) -> list[tuple[float, bool]]:
    """(score of the chosen candidate, whether it is right) per item; no candidate: (-20, False)."""
    import numpy as np

    out = []
    for row in rows:
        if not row.features:
            out.append((-20.0, False))
            continue
        scores = ranker.decision_function(np.array(row.features, dtype=float))
        k = int(np.argmax(scores))
        out.append((float(scores[k]), bool(row.right[k])))
    return out


# --- the whole run: make train --------------------------------------------------------

TRAIN_SUITES = (("multidoc", "train"), ("factsheet", "dev"))  # what the reader learns from
CALIBRATION_SUITE = ("multidoc", "dev")  # other documents than it learned from


def suite_assistant(suite: str, settings: Any) -> Any:
    """An assistant over a suite's documents, its index built if needed."""
    from evals.runner import suite_corpus
    from rag.assistant import Assistant

    corpus = suite_corpus(suite)
    if corpus is not None:
        settings = settings.with_(corpus_dir=corpus, data_dir=settings.data_dir / "suites" / suite)
    assistant = Assistant(settings)
    assistant.ingest()
    return assistant


def suite_examples(assistant: Any, items: Sequence[Any], negatives: int = 3) -> list[Example]:
    chunks = list(assistant.store.iter_chunks())

    def retrieve(question: str, history: list[dict[str, str]]) -> tuple[Any, list[Any]]:
        from rag.question import resolve

        return resolve(question, history), assistant.retrieve(question, history)

    def evidence_chunks(evidence: str) -> list[Any]:
        return [c for c in chunks if _holds(passage_text(c), evidence)]

    return collect(items, retrieve, evidence_chunks, negatives)


def run(
    settings: Any,
    out: Path = MODEL_DIR,
    config: TrainConfig | None = None,
    target_precision: float = 0.6,
    negatives: int = 2,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the reader, then the ranker over its and the rules' candidates, calibrate on
    the dev documents and write the model. ``limit`` caps the items per suite (the smoke
    test trains a tiny model this way)."""
    from evals.runner import load_suite
    from rag.answering import ExtractiveAnswerer
    from rag.reader import RANKER, SpanReader, TreeRanker
    from rag.wordsim import WordSimilarity

    config = config or TrainConfig()
    started = time.perf_counter()
    examples: list[Example] = []
    counts: dict[str, int] = {}
    assistants = {}
    train_items = {}
    for suite, split in TRAIN_SUITES:
        items = [i for i in load_suite(suite) if i.split == split][:limit]
        assistants[suite] = assistant = suite_assistant(suite, settings.with_(reader="rules"))
        found = suite_examples(assistant, items, negatives)
        counts[f"{suite}/{split}"] = len(items)
        train_items[suite] = items
        examples += found
        log(
            f"{suite} {split}: {len(items)} items -> {len(found)} examples ({sum(e.start >= 0 for e in found)} with an answer)"
        )
    encoder, head = train(examples, config, log)
    log(f"reader trained in {time.perf_counter() - started:.0f} s on {len(examples)} examples")
    save(encoder, head, config, out, {})
    # float32 whatever the CPU: the committed ranker and calibration do not depend on
    # where `make train` ran (bfloat16 reading, where it is the default, reads the same
    # spans with margins a few hundredths away; tests/test_minilm.py)
    reader = SpanReader(out, precision="float32")

    def rows_of(suite: str, items: Sequence[Any]) -> list[Row]:
        assistant = assistants.get(suite) or suite_assistant(suite, settings.with_(reader="rules"))
        assistants[suite] = assistant
        rules = ExtractiveAnswerer(
            WordSimilarity(assistant.embedder), settings.abstain_threshold, settings.focus_penalty
        )
        return candidate_rows(assistant, rules, reader, items)

    train_rows = [r for suite, items in train_items.items() for r in rows_of(suite, items)]
    ranker = train_ranker(train_rows)
    TreeRanker.from_sklearn(ranker).save(out / RANKER)  # plain arrays: reading needs no scikit-learn
    suite, split = CALIBRATION_SUITE
    dev_items = [i for i in load_suite(suite) if i.split == split][:limit]
    chosen = choose(ranker, rows_of(suite, dev_items))
    right = [ok for _, ok in chosen]
    calibration = fit_calibration([score for score, _ in chosen], right, target_precision)
    confidences = [calibration.confidence(score) for score, _ in chosen]
    meta = {
        "calibration": {
            **asdict(calibration),
            "dev": [[round(c, 4), ok] for c, ok in zip(confidences, right, strict=True)],
        },
        "examples": len(examples),
        "items": counts,
        "calibrated_on": f"{suite}/{split} ({len(dev_items)} items)",
    }
    save(encoder, head, config, out, meta)
    answerable = [ok for ok, item in zip(right, dev_items, strict=True) if not item.abstain]
    log(f"trained in {time.perf_counter() - started:.0f} s; written to {out}")
    log(
        f"dev: chosen candidate right for {sum(answerable)}/{len(answerable)} answerable items; "
        f"threshold {calibration.threshold} for precision {target_precision}"
    )
    for threshold, coverage, precision in coverage_precision(confidences, right):
        log(f"  confidence >= {threshold:.1f}: coverage {coverage:.3f}, precision {precision:.3f}")
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from rag.config import Settings

    parser = argparse.ArgumentParser(prog="python -m rag.training", description="Train the learned reader.")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--limit", type=int, default=None, help="items per suite (a quick smoke run)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--target-precision", type=float, default=0.6)
    args = parser.parse_args(argv)
    config = TrainConfig(epochs=args.epochs, max_steps=args.max_steps)
    run(Settings.from_env(), args.out, config, args.target_precision, limit=args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
