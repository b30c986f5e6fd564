"""Small corpora for tests: a three-paper digest of real papers and the week after
it, and synthetic :class:`~index.models.Paper` records for pipeline and store tests."""

from __future__ import annotations

from pathlib import Path

from index.models import Mention, Paper

DIGEST = """## Week of Oct 6, 2024

1. **[VPTQ: Extreme Low-bit Vector Post-Training Quantization for Large Language Models](https://arxiv.org/abs/2409.17066)**: Microsoft squeezes LLM weights to about two bits with vector quantization.
2. **[OLMoE: Open Mixture-of-Experts Language Models](https://arxiv.org/abs/2409.02060)**: a fully open sparse mixture-of-experts model from Ai2.
3. **[Contextual Document Embeddings](https://arxiv.org/abs/2410.02525)**: document embeddings that also see their neighbours.
"""

#: A one-paper week after ``DIGEST``: what "another process ingests" in the catalogue tests.
NEXT_WEEK = """## Week of Oct 13, 2024

1. **[RATIONALYST: Pre-training Process-Supervision for Improving Reasoning](https://arxiv.org/abs/2410.01044)**: rationales mined from unlabelled text supervise each step of a model's reasoning.
"""


def write_digest(path: Path, text: str) -> str:
    """Write a digest file; its path as a source spec."""
    path.write_text(text, encoding="utf-8")
    return str(path)


def make_paper(i: int, source: str = "a.md", summary: str | None = None) -> Paper:
    """Paper ``i`` of a synthetic week (long summaries unless ``summary`` is given)."""
    return Paper(
        paper_id=f"p{i:03d}",
        title=f"Paper number {i} on topic {i % 7}",
        url=f"https://arxiv.org/abs/2409.{10000 + i}",
        arxiv_id=f"2409.{10000 + i}",
        date="2024-09-20",
        week="2024-09-22",
        orgs=["Meta"] if i % 2 else ["Google"],
        headline=f"Headline {i}.",
        summary=summary if summary is not None else f"Sentence about quantization and retrieval {i}. " * 30,
        topics=["efficiency"],
        source=source,
        line=i,
        sources=[Mention(source, i, "2024-09-22")],
    )
