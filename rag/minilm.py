"""The bundled MiniLM's forward pass in a few lines of torch, for the answer path.

A first answer used to spend about 2 s importing sentence-transformers (and transformers
under it) to run a 6-layer BERT that is a handful of matrix products. Here it runs on
torch's functional ops alone, with the weights from the same safetensors files and the
tokenizer from the same tokenizer.json through the `tokenizers` library that transformers
wraps. tests/test_minilm.py checks that query vectors equal sentence-transformers' to
1e-5 and that reader logits equal transformers' BertModel's. Ingestion keeps
sentence-transformers; training keeps transformers.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)


def max_seq_length(folder: str | Path) -> int:
    """Where sentence-transformers truncates this model's inputs: its configured
    max_seq_length, capped, as it caps it, at the model's position embeddings."""
    folder = Path(folder)
    config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    positions = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("max_position_embeddings")
    length = int(config.get("max_seq_length") or positions or MAX_LENGTH)
    return min(length, int(positions)) if positions else length


def supported(folder: str | Path) -> bool:
    """Whether a sentence-transformers folder is the kind this module runs: a BERT encoder
    with mean pooling and normalisation, weights in model.safetensors (all-MiniLM-L6-v2).
    Any other model keeps sentence-transformers."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        pooled = next(str(m.get("path", "")) for m, kind in zip(modules, kinds, strict=True) if kind == "Pooling")
        pooling = json.loads((folder / pooled / "config.json").read_text(encoding="utf-8"))
        sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, AttributeError, StopIteration):
        return False
    means_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and kinds == ["Transformer", "Pooling", "Normalize"]
        and not sbert.get("do_lower_case")  # sentence-transformers would lowercase before tokenizing
        and bool(means_only)
        and (folder / "model.safetensors").is_file()
        and (folder / "tokenizer.json").is_file()
    )


@dataclass(frozen=True)
class Batch:
    """Token ids of a padded batch, with what the reader needs to map tokens back."""

    ids: NDArray[np.int64]
    types: NDArray[np.int64]
    mask: NDArray[np.float32]
    offsets: list[list[tuple[int, int]]]  # character span of each token in its own text
    sequence_ids: list[list[int | None]]  # 0 question, 1 passage, None special or padding


class Tokenizer:
    """tokenizer.json, set up as transformers sets it up per call: pad to the longest in the
    batch; truncate single texts longest-first, or (question, passage) pairs in the passage
    only. One kind per tokenizer, because truncation is a tokenizer's state (and parsing
    tokenizer.json takes ~20 ms of a cold start)."""

    def __init__(
        self, folder: str | Path, max_length: int = MAX_LENGTH, *, pairs: bool = False, multiple: int | None = None
    ) -> None:
        from tokenizers import Tokenizer as Fast

        self.pairs = pairs
        self._tokenizer = tok = Fast.from_file(str(Path(folder) / "tokenizer.json"))
        tok.enable_truncation(max_length, strategy="only_second" if pairs else "longest_first")
        # multiple: pad to a multiple of this many tokens, so a batch has one of a few
        # lengths (see SpanReader: oneDNN keeps kernels for each shape it meets)
        tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]", pad_to_multiple_of=multiple)

    def __call__(self, texts: Sequence[str], passages: Sequence[str] | None = None) -> Batch:
        if (passages is not None) != self.pairs:
            raise ValueError("this tokenizer takes " + ("(question, passage) pairs" if self.pairs else "single texts"))
        inputs = list(texts) if passages is None else list(zip(texts, passages, strict=True))
        found = self._tokenizer.encode_batch(inputs)
        return Batch(
            ids=np.array([e.ids for e in found], dtype=np.int64),
            types=np.array([e.type_ids for e in found], dtype=np.int64),
            mask=np.array([e.attention_mask for e in found], dtype=np.float32),
            offsets=[list(e.offsets) for e in found],
            sequence_ids=[list(e.sequence_ids) for e in found],
        )


def load_weights(folder: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The base model's tensors as float32, with ``overrides`` (a trained reader's layers)
    in place of the base's."""
    weights = dict(_base(str(Path(folder).resolve())))
    for name, value in (overrides or {}).items():
        if name not in weights:
            raise ValueError(f"{name}: not a parameter of the base model")
        if tuple(weights[name].shape) != tuple(value.shape):
            raise ValueError(
                f"{name}: shape {tuple(value.shape)} does not fit the base model's {tuple(weights[name].shape)}"
            )
        weights[name] = value.float()
    return weights


@functools.lru_cache(maxsize=2)
def _base(folder: str) -> dict[str, Any]:
    """The base model's tensors, read once per process: the query encoder and the reader
    share them (neither writes to them)."""
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}


def compute_dtype(precision: str = "auto") -> str:
    """The dtype the encoder layers compute in: "auto" takes bfloat16 where the CPU
    multiplies bfloat16 in hardware (AVX512-BF16 or AMX), float32 elsewhere, where the
    kernels would convert every product and gain nothing."""
    from rag.config import READER_PRECISIONS

    if precision not in READER_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(READER_PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's own probes
    return "bfloat16" if any(getattr(torch.cpu, name, lambda: False)() for name in checks) else "float32"


class Bert:
    """BertModel's last hidden state, as transformers computes it in eval mode.

    ``dtype="bfloat16"`` runs the layers' matrix products and GELU in bfloat16; the
    residual stream, the layer norms and attention stay float32 (rounding would add up
    along the residual stream, and attention ran slower in bfloat16). On the reader, with
    AVX512-BF16 on 2 cores: 23 ms a passage of ~200 tokens against 42 ms, with the
    spans and margins of float32 but for a few hundredths (tests/test_minilm.py measures
    how near). The query encoder stays float32, equal to sentence-transformers' vectors."""

    def __init__(self, weights: Mapping[str, Any], config: Mapping[str, Any], dtype: str = "float32") -> None:
        import torch

        self.torch = torch
        self.dtype = getattr(torch, dtype)
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.hidden = int(self.word.shape[1])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            names = ("query", "key", "value")
            # q, k and v in one product: one pass over the hidden state instead of three
            self.layers.append(
                (
                    torch.cat([w[p + f"attention.self.{n}.weight"] for n in names]).to(self.dtype),
                    torch.cat([w[p + f"attention.self.{n}.bias"] for n in names]).to(self.dtype),
                    w[p + "attention.output.dense.weight"].to(self.dtype),
                    w[p + "attention.output.dense.bias"].to(self.dtype),
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    w[p + "intermediate.dense.weight"].to(self.dtype),
                    w[p + "intermediate.dense.bias"].to(self.dtype),
                    w[p + "output.dense.weight"].to(self.dtype),
                    w[p + "output.dense.bias"].to(self.dtype),
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    @classmethod
    def load(cls, folder: str | Path, overrides: Mapping[str, Any] | None = None, dtype: str = "float32") -> Bert:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        return cls(load_weights(folder, overrides), config, dtype)

    def __call__(self, batch: Batch) -> Any:
        """The last hidden state, a (texts, tokens, hidden) float32 tensor."""
        torch = self.torch
        F = torch.nn.functional
        n, length = batch.ids.shape
        size = self.hidden // self.heads
        with torch.inference_mode():
            ids, types = torch.from_numpy(batch.ids), torch.from_numpy(batch.types)
            x = F.embedding(ids, self.word) + self.position[:length] + F.embedding(types, self.token_type)
            x = F.layer_norm(x, (self.hidden,), *self.norm, self.eps)
            # transformers adds the dtype's minimum to a padded key's scores, so it weighs 0
            mask = torch.from_numpy(batch.mask)
            bias = ((1.0 - mask) * torch.finfo(torch.float32).min)[:, None, None, :]
            # In float32 every .to() and .float() below is a no-op; in bfloat16 only the
            # matrix products and GELU take bfloat16 inputs (see the class docstring).
            for qkv, qkv_b, out_w, out_b, norm1, in_w, in_b, ff_w, ff_b, norm2 in self.layers:
                h = F.linear(x.to(self.dtype), qkv, qkv_b).float()
                q, k, v = h.view(n, length, 3, self.heads, size).permute(2, 0, 3, 1, 4)
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0 / math.sqrt(size))
                context = context.transpose(1, 2).reshape(n, length, self.hidden).to(self.dtype)
                x = F.layer_norm(F.linear(context, out_w, out_b).float() + x, (self.hidden,), *norm1, self.eps)
                inner = F.gelu(F.linear(x.to(self.dtype), in_w, in_b))  # BERT's exact (erf) GELU
                x = F.layer_norm(F.linear(inner, ff_w, ff_b).float() + x, (self.hidden,), *norm2, self.eps)
        return x


class SentenceEncoder:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: tokens, BERT, the mean of the
    real tokens' states, unit length."""

    def __init__(self, folder: str | Path) -> None:
        self.tokenizer = Tokenizer(folder, max_seq_length(folder))
        self.bert = Bert.load(folder)
        self.dimension = self.bert.hidden

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        torch = self.bert.torch
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # longest first in batches, as sentence-transformers does: less padding per batch
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for at in range(0, len(order), batch_size):
            rows = order[at : at + batch_size]
            batch = self.tokenizer([texts[i] for i in rows])
            with torch.inference_mode():
                states = self.bert(batch)
                mask = torch.from_numpy(batch.mask)[..., None]
                pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return out
