"""An ingest carries the catalogue forward (index/pipeline.py ``CatalogueChange``,
``Engine._prepare_catalogue``): the process that ingests builds the catalogue of
the version it stamps from the previous one plus the records it wrote, and saves
its snapshot before stamping, so no process after it reads every record from
Chroma.  Real store, pipeline and offline model; two engines on one data dir
stand for two processes (tests/test_catalogue.py says why that is faithful).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from index.catalogue import Catalogue
from index.embedding import MODEL_NAME
from index.engine import Engine
from index.pipeline import Ingestor
from index.snapshot import Header
from index.store import PaperStore, collection_name
from tests.conftest import chroma_env
from tests.support.digests import DIGEST, NEXT_WEEK, write_digest
from tests.support.waiting import until

RUNS_ON_CHROMA_SERVER = True

QUERIES = ("quantization of language models", "mixture of experts", "RATIONALYST reasoning", "document embeddings")
LOOKUPS = ("VPTQ", "2410.01044", "olmoe open mixture", "contextual document embedings", "reasoning rationales")


def settings(data_dir: Path) -> Settings:
    return Settings.from_env(environ=chroma_env(data_dir), dotenv_path=None, data_dir=data_dir)


def snapshot_key(engine: Engine) -> str | None:
    """The version key in the header of the data dir's snapshot, None when there is none."""
    if not engine.snapshot_path.is_file():
        return None
    with open(engine.snapshot_path, "rb") as f:
        header = pickle.load(f)
    assert isinstance(header, Header)
    return header.key


def answers(engine: Engine) -> dict[str, Any]:
    """Everything a user can get out of a catalogue, in comparable form."""

    def hit(h: Any) -> dict[str, Any]:
        return {**vars(h), "paper": h.paper.to_dict()}

    return {
        "papers": [p.to_dict() for p in engine.papers()],
        "stats": engine.stats().to_json(),
        "search": {(q, mode): [hit(h) for h in engine.search(q, k=5, mode=mode)]
                   for q in QUERIES for mode in ("hybrid", "bm25", "dense")},
        "lookup": {q: [(m.paper.paper_id, m.score, m.how) for m in engine.find_papers(q)] for q in LOOKUPS},
        "autocomplete": {q: engine.autocomplete(q) for q in ("v", "olm", "rat", "doc")},
    }


def test_the_catalogue_an_ingest_carries_forward_equals_a_full_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    digest = tmp_path / "digest.md"
    first = Engine(settings(data))
    assert first.ingest([write_digest(digest, DIGEST)]).carried_forward
    # The collection's first ingest: its base is the empty catalogue.
    assert first.catalogue().origin == "ingest" and len(first.papers()) == 3

    # A second process: a week added at the top of the same digest (a new paper,
    # and the older entries' line numbers move) and one summary edited.
    edited = NEXT_WEEK + "\n" + DIGEST.replace("a fully open sparse mixture-of-experts model from Ai2",
                                                 "an open mixture-of-experts model with 1B active parameters")
    moved: list[str] = []
    real_update = PaperStore.update_records

    def spy(store: PaperStore, papers: Any) -> None:
        moved.extend(p.paper_id for p in papers)
        real_update(store, papers)

    monkeypatch.setattr(PaperStore, "update_records", spy)
    writer = Engine(settings(data))
    report = writer.ingest([write_digest(digest, edited)])
    assert (report.new, report.updated, report.unchanged) == (1, 3, 0)
    assert len(moved) == 2  # two records rewritten without embedding, one paper re-embedded, one new
    assert report.carried_forward
    carried = writer.catalogue()
    assert carried.origin == "ingest"
    assert carried.version == writer.catalogue_version() and snapshot_key(writer) == carried.version.key

    from_snapshot = Engine(settings(data))
    assert from_snapshot.catalogue().origin == "snapshot"
    incremental = answers(from_snapshot)
    writer.snapshot_path.unlink()
    rebuilt = Engine(settings(data))
    assert rebuilt.catalogue().origin == "store"
    assert rebuilt.catalogue().version.key == carried.version.key
    full = answers(rebuilt)
    assert incremental == full
    assert answers(writer) == full  # the ingesting engine answers from the carried catalogue itself
    assert any(p["summary"].startswith("an open mixture-of-experts") for p in full["papers"])
    assert full["lookup"]["2410.01044"][0][0] == next(p["paper_id"] for p in full["papers"] if p["arxiv_id"] == "2410.01044")


def test_a_fresh_process_after_an_ingest_starts_from_its_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    Engine(settings(data)).ingest([write_digest(tmp_path / "first.md", DIGEST)])
    # A scheduled ingest in a process of its own, with no catalogue in memory:
    # its base is the snapshot of the version before it.
    Engine(settings(data)).ingest([write_digest(tmp_path / "second.md", NEXT_WEEK)])

    fresh = Engine(settings(data))
    monkeypatch.setattr(fresh, "_read_papers", lambda: pytest.fail("read every record from the store"))
    assert fresh.catalogue().origin == "snapshot" and fresh.catalogue().version == fresh.catalogue_version()
    assert fresh.find_papers("2410.01044")[0].paper.title.startswith("RATIONALYST")
    assert fresh.search("RATIONALYST", k=1)[0].paper.arxiv_id == "2410.01044"
    assert len(fresh.papers()) == 4


@pytest.mark.parametrize("when", ["during the writes", "after the catalogue was prepared"])
def test_a_foreign_stamp_during_an_ingest_means_no_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Another process stamps between this ingest's base version and its own stamp:
    its catalogue may lack that process's papers, so none is saved or used."""
    data = tmp_path / "data"
    Engine(settings(data)).ingest([write_digest(tmp_path / "first.md", DIGEST)])
    foreign = PaperStore.open(settings(data), collection_name(MODEL_NAME))

    def foreign_stamp() -> None:
        foreign.stamp_catalogue_version()

    writer = Engine(settings(data))
    if when == "during the writes":
        real_write = Ingestor._write

        def write_then_stamp(self: Ingestor, *args: Any) -> None:
            real_write(self, *args)
            foreign_stamp()

        monkeypatch.setattr(Ingestor, "_write", write_then_stamp)
    else:
        real_prepare = writer._prepare_catalogue

        def prepare_then_stamp(change: Any) -> Catalogue | None:
            prepared = real_prepare(change)
            assert prepared is not None  # prepared and saved, then overtaken
            foreign_stamp()
            return prepared

        monkeypatch.setattr(writer, "_prepare_catalogue", prepare_then_stamp)
    report = writer.ingest([write_digest(tmp_path / "second.md", NEXT_WEEK)])
    assert report.new == 1 and not report.carried_forward
    current = writer.catalogue_version()
    assert snapshot_key(writer) != current.key  # whatever is on disk is never this version's

    fresh = Engine(settings(data))
    assert fresh.catalogue().origin == "store" and fresh.catalogue().version == current
    assert len(fresh.papers()) == 4
    assert writer.catalogue().version == current and len(writer.papers()) == 4


def test_a_running_bot_loads_the_snapshot_an_ingest_saved_instead_of_rebuilding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    bot = Engine(settings(data))
    bot.ingest([write_digest(tmp_path / "first.md", DIGEST)])
    bot.warm_up()
    old = bot.catalogue()
    monkeypatch.setattr(bot, "_read_papers", lambda: pytest.fail("the bot read every record from the store"))
    watcher = bot.watch_catalogue(interval=0.05)
    try:
        other = Engine(settings(data))
        other.ingest([write_digest(tmp_path / "second.md", NEXT_WEEK)])
        until(lambda: bot.catalogue() is not old, "the bot at the new version")
    finally:
        watcher.stop()
    assert bot.catalogue().origin == "snapshot" and bot.catalogue().version == other.catalogue_version()
    assert bot.find_papers("2410.01044")[0].paper.title.startswith("RATIONALYST")
    answer = bot.ask("What is RATIONALYST?")
    assert not answer.abstained and answer.citations[0].arxiv_id == "2410.01044"


# -- the records a snapshot holds --------------------------------------------------------------
def test_decoded_records_share_repeated_strings_and_pickle_whole() -> None:
    """A catalogue of 100k papers holds a few weeks, dates, sources, orgs and
    topics over and over: decoded records share one object for each (and for a
    title repeated as own title, headline or alias), and a record survives the
    store's JSON and a snapshot's pickle unchanged."""
    from index.models import Mention, Paper
    from index.store import as_stored

    def paper(i: int) -> Paper:
        title = f"Paper {i} on sparse attention"
        return Paper(
            paper_id=f"p{i}", title=title, url=f"https://arxiv.org/abs/2410.{10000 + i}", arxiv_id=f"2410.{10000 + i}",
            date="2024-10-02", week="2024-10-06", orgs=["Meta", "MIT"], headline=title, summary=f"Summary {i}.",
            topics=["efficiency"], source="digests/a.md", line=i, authors=["A. Author"], aliases=[title], own_title=title,
            sources=[Mention("digests/a.md", i, "2024-10-06"), Mention("digests/b.md", None, None)],
        )

    originals = [paper(1), paper(2)]
    a, b = (as_stored(p) for p in originals)
    assert [a.to_dict(), b.to_dict()] == [p.to_dict() for p in originals]
    for name in ("week", "date", "source"):
        assert getattr(a, name) is getattr(b, name)
    assert a.orgs[0] is b.orgs[0] and a.topics[0] is b.topics[0]
    assert a.sources[0].source is b.sources[0].source and a.sources[0].week is b.sources[0].week
    assert a.own_title is a.title and a.headline is a.title and a.aliases[0] is a.title
    assert not hasattr(a, "__dict__") and not hasattr(a.sources[0], "__dict__")  # slots: no per-object dict

    again = pickle.loads(pickle.dumps([a, b], protocol=pickle.HIGHEST_PROTOCOL))
    assert [p.to_dict() for p in again] == [a.to_dict(), b.to_dict()] and again == [a, b]
    assert again[0].week is again[1].week  # shared in the snapshot too: written once
    assert isinstance(again[0].sources[1], Mention) and again[0].sources[1] == Mention("digests/b.md", None, None)


def test_a_catalogue_keeps_summaries_packed_and_reads_them_back_whole() -> None:
    """Summaries are most of a catalogue's memory: a catalogue paper keeps its
    summary zlib-packed, reads back exactly what it was given (curly quotes,
    dashes, emoji), equals the plain record, and a snapshot pickles it packed."""
    from index.models import CataloguePaper, Paper

    text = "Meta published a paper “Scylla” – it measures 🧪 generalisation. " * 20
    plain = Paper(paper_id="p1", title="Scylla", summary=text, headline="Scylla")
    packed = CataloguePaper.of(plain)
    assert packed.summary == text and packed == plain and plain == packed and packed.to_dict() == plain.to_dict()
    assert len(packed._packed) < len(text.encode("utf-8")) / 4  # the repeated sentence packs well
    assert CataloguePaper.of(packed) is packed and CataloguePaper.of(Paper(paper_id="p2", title="T")).summary == ""
    again = pickle.loads(pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(again) is CataloguePaper and again._packed == packed._packed and again.summary == text
    packed.summary = "changed"
    assert packed.summary == "changed" and packed != plain
