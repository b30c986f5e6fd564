"""Re-ingesting a digest that grew: only what changed is embedded again.

A weekly digest file usually gains its new week at the top, which moves every
older entry down; the moved entries must keep their vectors (their text did
not change) while their records learn the new line numbers.
"""

from __future__ import annotations

from pathlib import Path

from config import Settings
from index.digests import parse_digest
from index.pipeline import Ingestor
from index.store import PaperStore, collection_name
from tests.support.embedding import HashEmbedding

OLD_WEEK = """## Week of Sep 30 – Oct 6, 2024

1. **[Differential Transformer](https://arxiv.org/abs/2410.05258)**: attention as the difference of two softmax maps, which cancels noise.
2. **[Were RNNs All We Needed?](https://arxiv.org/abs/2410.01201)**: stripped-down LSTMs and GRUs train in parallel and compete again.
"""

NEW_WEEK = """## Week of Oct 7 – Oct 13, 2024

1. **[Thinking LLMs: General Instruction Following with Thought Generation](https://arxiv.org/abs/2410.10630)**: models learn to think before answering without extra human data.

"""


def ingest(ingestor: Ingestor, text: str):  # noqa: ANN201 - IngestReport
    return ingestor.ingest(parse_digest(text, "weekly.md"))


def indexed_old_week(tmp_path: Path) -> tuple[PaperStore, HashEmbedding, Ingestor]:
    """A store holding the old week, and the embedding whose calls the tests count."""
    store = PaperStore.open(Settings.from_env(environ={}, dotenv_path=None, data_dir=tmp_path), collection_name("test-hash-64"))
    embed = HashEmbedding()
    ingestor = Ingestor(store, embed, tmp_path / "docstore")
    ingest(ingestor, OLD_WEEK)
    return store, embed, ingestor


def test_a_new_week_on_top_embeds_only_the_new_paper(tmp_path: Path) -> None:
    store, embed, ingestor = indexed_old_week(tmp_path)
    calls = embed.calls

    report = ingest(ingestor, NEW_WEEK + OLD_WEEK)
    assert (report.new, report.updated, report.unchanged, report.papers) == (1, 2, 0, 3)
    assert embed.calls == calls + 1  # the two moved papers were not embedded again
    lines = {p.title: p.line for p in store.papers()}
    assert lines["Differential Transformer"] == 7  # the record follows the move
    assert store.count_chunks() == 3

    again = ingest(ingestor, NEW_WEEK + OLD_WEEK)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)


def test_an_edited_summary_is_still_embedded_again(tmp_path: Path) -> None:
    _store, embed, ingestor = indexed_old_week(tmp_path)
    calls = embed.calls
    report = ingest(ingestor, OLD_WEEK.replace("which cancels noise", "which cancels attention noise"))
    assert (report.new, report.updated, report.unchanged) == (0, 1, 1)
    assert embed.calls == calls + 1
