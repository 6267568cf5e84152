"""Ingest a folder into an index with the fast hash embedder (for crash and concurrency
tests, where the embedding model is beside the point). Prints the report as JSON.

    python tests/scripts/ingest_worker.py CORPUS DATA [--answer QUESTION] [--repeat N]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag.assistant import Assistant
from rag.config import Settings
from rag.embedding import HashEmbedder


def main() -> None:
    corpus, data = Path(sys.argv[1]), Path(sys.argv[2])
    assistant = Assistant(Settings(corpus_dir=corpus, data_dir=data, abstain_threshold=0.2), embedder=HashEmbedder(128))
    if "--answer" in sys.argv:
        question = sys.argv[sys.argv.index("--answer") + 1]
        repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
        assistant.ensure_index(progress=False)  # as `factsheet-qa ask` does
        shorts = [assistant.answer(question).short_answer for _ in range(repeat)]
        print(json.dumps({"answers": shorts, "count": assistant.store.count()}))
        return
    report = assistant.ingest(progress=False)
    print(
        json.dumps(
            {"indexed": report.files_indexed, "vectors": report.vectors, "sentences": assistant.store.sentence_count()}
        )
    )


if __name__ == "__main__":
    main()
