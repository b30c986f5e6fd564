"""A fast stand-in for the embedding model, for building big benchmark indexes.

Why: at the realistic corpus shape a 100k-paper index holds ~270k chunks, and
the offline model embeds ~30 chunks/s on this 2-core box: about 3 hours, more
than a benchmark session has.  Start-up, first-answer time, memory and catalogue
staleness depend on the number and size of the stored records and vectors, not
on what the vectors mean, so a big index for those measurements is built through
the real pipeline (``Ingestor``: the real chunking, docstore and Chroma, via
``Engine.ingest``) with these vectors instead of the model's.

The vectors are deterministic 384-d unit vectors, the model's dimension: a
hashed bag of words (every lower-cased word adds ``_TOUCHES`` signed unit
components at positions drawn from a hash of the word), so texts that share
words get similar vectors and the HNSW graph has a realistic neighbourhood
structure rather than uniform noise.  They are *not* the model's vectors:
questions are still embedded by the real model, so **dense ranking on such an
index is meaningless**; every table that measures one says so
(``bench.common.STANDIN_LABEL``), and the index lives in its own folder
(``bench/out/index-<N>-<shape>-standin``) with a ``STANDIN.txt`` beside it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from bench.common import STANDIN_LABEL

DIMENSIONS = 384
#: Signed components each word adds (several, so two words rarely collide entirely).
_TOUCHES = 8
_WORD = re.compile(r"[a-z0-9]+")
MARKER = "STANDIN.txt"


class StandInEmbedding(BaseEmbedding):
    """Hashed bag-of-words vectors as a LlamaIndex embedding (see the module docstring)."""

    model_name: str = "standin-hashed-bag-of-words-384"
    embed_batch_size: int = 256
    _words: dict[str, tuple[np.ndarray, np.ndarray]] = PrivateAttr(default_factory=dict)

    @classmethod
    def class_name(cls) -> str:
        return "StandInEmbedding"

    def _word(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """The positions and signs a word adds, from a stable hash (not ``hash()``,
        which differs between processes)."""
        known = self._words.get(word)
        if known is None:
            digest = np.frombuffer(hashlib.blake2b(word.encode(), digest_size=2 * _TOUCHES).digest(), dtype=np.uint16)
            known = (digest % DIMENSIONS).astype(np.intp), np.where(digest & 0x8000, 1.0, -1.0)
            self._words[word] = known
        return known

    def vector(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower()) or ["empty"]
        parts = [self._word(w) for w in words]
        positions = np.concatenate([p for p, _s in parts])
        signs = np.concatenate([s for _p, s in parts])
        vec = np.bincount(positions, weights=signs, minlength=DIMENSIONS)
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # every component cancelled out: any fixed unit vector will do
            vec[0], norm = 1.0, 1.0
        return (vec / norm).astype(np.float32).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.vector(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]


def mark(data_dir: Path) -> None:
    """Say in the index's folder what its vectors are, for anyone who finds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text(
        f"This index was built by bench/ingest.py --standin with {StandInEmbedding.class_name()} "
        f"(bench/standin.py), not the embedding model.\n{STANDIN_LABEL}.\n",
        encoding="utf-8",
    )


def is_standin(data_dir: Path) -> bool:
    return (Path(data_dir) / MARKER).is_file()
