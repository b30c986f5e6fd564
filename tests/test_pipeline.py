"""Ingestion into a real Chroma store through the real LlamaIndex pipeline.

The embedding is the tiny hashing fake from ``tests/support/embedding.py`` (the real model
has its own tests and is used end to end in ``test_engine.py``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from config import Settings
from index.models import ParseResult, Skipped
from index.pipeline import Ingestor, combine
from index.store import PaperStore, collection_name
from tests.conftest import TEST_CHROMA, chroma_env
from tests.support.digests import make_paper
from tests.support.embedding import HashEmbedding, hash_vector

#: Also run against a real Chroma server by `make test-server` (tests/conftest.py).
RUNS_ON_CHROMA_SERVER = True


@pytest.fixture
def store(tmp_path: Path) -> PaperStore:
    settings = Settings.from_env(environ=chroma_env(tmp_path), dotenv_path=None, data_dir=tmp_path)
    return PaperStore.open(settings, collection_name("test-hash-64"))


@pytest.fixture
def ingestor(store: PaperStore, tmp_path: Path) -> Ingestor:
    return Ingestor(store, HashEmbedding(), tmp_path / "docstore")


def test_first_ingest_writes_every_paper(ingestor: Ingestor, store: PaperStore) -> None:
    report = ingestor.ingest(ParseResult(papers=[make_paper(i) for i in range(20)]))
    assert (report.papers, report.new, report.updated, report.unchanged) == (20, 20, 0, 0)
    assert store.count_chunks() > 20  # long summaries are split into several chunks
    assert {p.paper_id for p in store.papers()} == {f"p{i:03d}" for i in range(20)}


def test_reingest_unchanged_writes_nothing(ingestor: Ingestor, store: PaperStore) -> None:
    papers = [make_paper(i) for i in range(20)]
    ingestor.ingest(ParseResult(papers=papers))
    embedded = ingestor.embed_model.calls
    chunks = store.count_chunks()
    report = ingestor.ingest(ParseResult(papers=[make_paper(i) for i in range(20)]))
    assert (report.new, report.updated, report.unchanged, report.papers) == (0, 0, 20, 20)
    assert ingestor.embed_model.calls == embedded
    assert store.count_chunks() == chunks


def test_edited_entry_is_updated_in_place(ingestor: Ingestor, store: PaperStore) -> None:
    ingestor.ingest(ParseResult(papers=[make_paper(i) for i in range(5)]))
    edited = [make_paper(i) for i in range(5)]
    edited[2] = make_paper(2, summary="A much shorter, corrected summary.")
    report = ingestor.ingest(ParseResult(papers=edited))
    assert (report.new, report.updated, report.unchanged, report.papers) == (0, 1, 4, 5)
    paper = {p.paper_id: p for p in store.papers()}["p002"]
    assert paper.summary == "A much shorter, corrected summary."
    # the old chunks are gone: only one chunk remains for the short summary
    chunks = store.collection.get(where={"paper_id": "p002"})
    assert len(chunks["ids"]) == 1


def test_same_paper_from_a_second_digest_keeps_both_mentions(ingestor: Ingestor, store: PaperStore) -> None:
    ingestor.ingest(ParseResult(papers=[make_paper(1, source="a.md")]))
    report = ingestor.ingest(ParseResult(papers=[make_paper(1, source="b.md")]))
    assert (report.updated, report.papers) == (1, 1)
    paper = store.papers()[0]
    assert sorted(m.source for m in paper.sources) == ["a.md", "b.md"]
    again = ingestor.ingest(ParseResult(papers=[make_paper(1, source="b.md")]))
    assert (again.unchanged, again.papers) == (1, 1)


def test_chunks_left_by_an_interrupted_ingest_are_replaced(ingestor: Ingestor, store: PaperStore, tmp_path: Path) -> None:
    ingestor.ingest(ParseResult(papers=[make_paper(i) for i in range(3)]))
    chunks = store.count_chunks()
    # A crash before the docstore was written: vectors exist, the docstore does not.
    ingestor.docstore_path.unlink()
    store.collection.delete(where={"paper_id": "p001"})
    report = Ingestor(store, HashEmbedding(), tmp_path / "docstore").ingest(
        ParseResult(papers=[make_paper(i) for i in range(3)])
    )
    assert report.papers == 3
    assert store.count_chunks() == chunks


def test_texts_to_embed_are_the_chunks_the_pipeline_embeds(ingestor: Ingestor, store: PaperStore) -> None:
    """bench/ingest.py times the model alone on these texts as the pipeline's ceiling."""
    papers = [make_paper(i) for i in range(5)]
    texts = Ingestor.texts_to_embed(papers)
    ingestor.ingest(ParseResult(papers=papers))
    assert len(texts) == store.count_chunks() == ingestor.embed_model.calls
    assert texts[0].startswith(f"title: {papers[0].title}\n")
    assert all("paper_json" not in t and "url:" not in t for t in texts)


def test_the_catalogue_is_read_in_pages(ingestor: Ingestor, store: PaperStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 10,000 ids and batches of 1,000 records in production; three and
    two here, so that 7 papers take several of each with a short last one."""
    import index.store

    ingestor.ingest(ParseResult(papers=[make_paper(i) for i in range(7)]))
    monkeypatch.setattr(index.store, "_ID_PAGE", 3)
    monkeypatch.setattr(index.store, "_RECORD_BATCH", 2)
    assert [p.paper_id for p in store.papers()] == [f"p{i:03d}" for i in range(7)]
    assert store.count_papers() == 7


def test_id_lists_longer_than_sqlite_allows(ingestor: Ingestor, store: PaperStore) -> None:
    """A 100k-paper ingest asks the store about every paper at once, and a wide
    date filter hands dense search tens of thousands of ids: more than the 32,766
    variables SQLite accepts in one statement."""
    ingestor.ingest(ParseResult(papers=[make_paper(i) for i in range(6)]))
    unknown = [f"missing-{i}" for i in range(40_000)]
    assert [p.paper_id for p in store.get_papers([*unknown, "p004", "p001"])] == ["p004", "p001"]

    vector = hash_vector("quantization and retrieval 3")
    allowed = ["p001", "p003", "p005"]
    expected = store.query(vector, 4, paper_ids=allowed)
    wide = store.query(vector, 4, paper_ids=[*unknown[:20_000], *allowed, *unknown[20_000:]])
    assert [h.paper_id for h in wide] == [h.paper_id for h in expected]
    assert {h.paper_id for h in wide} <= set(allowed)

    store.delete_chunks([*unknown, "p002"])
    assert {p.paper_id for p in store.papers()} == {"p000", "p001", "p003", "p004", "p005"}


def test_the_store_is_where_this_run_says(store: PaperStore, tmp_path: Path) -> None:
    """Embedded: under the data dir.  Server pass (PAPERBOT_TEST_CHROMA): on the
    server, in this data dir's own database, with nothing written locally."""
    assert store.count_chunks() == 0
    if TEST_CHROMA:
        assert not (tmp_path / "chroma").exists()
        assert store._client.database == chroma_env(tmp_path)["CHROMA_DATABASE"]
    else:
        assert (tmp_path / "chroma").is_dir()


def test_skipped_entries_are_reported(ingestor: Ingestor) -> None:
    skipped = [Skipped("bad.md", 3, "broken table row")]
    report = ingestor.ingest(ParseResult(papers=[make_paper(1)], skipped=skipped))
    assert report.to_json()["skipped"] == [{"source": "bad.md", "line": 3, "reason": "broken table row"}]


def test_combine_prefers_fresh_fields_from_the_same_source() -> None:
    stored = make_paper(1, summary="old text that is long enough")
    fresh = replace(make_paper(1, summary="new"), orgs=["Apple"])
    merged = combine(stored, fresh, {"a.md"})
    assert merged.summary == "new" and merged.orgs == ["Apple"]


def test_collection_name_depends_on_the_model() -> None:
    assert collection_name("model-a") != collection_name("model-b")
    assert 3 <= len(collection_name("x" * 600)) <= 512
