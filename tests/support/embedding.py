"""Test doubles for what is slow but not under test: a tiny deterministic embedding.

It hashes word unigrams into a fixed-size vector, so similar texts get similar
vectors and tests of the pipeline and store run in milliseconds.  At least one
test in each area also runs the real offline model.
"""

from __future__ import annotations

import hashlib
import math
import re

from llama_index.core.base.embeddings.base import BaseEmbedding

_WORD = re.compile(r"[a-z0-9]+")


def hash_vector(text: str, dim: int = 64) -> list[float]:
    vec = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
        vec[h % dim] += 1.0 if h & 1 << 31 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class HashEmbedding(BaseEmbedding):
    """Bag-of-words hashing embedding; counts how many texts it embedded."""

    model_name: str = "test-hash-64"
    calls: int = 0

    def _get_query_embedding(self, query: str) -> list[float]:
        return hash_vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return hash_vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        self.calls += 1
        return hash_vector(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [hash_vector(t) for t in texts]
