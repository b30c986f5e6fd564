"""Catalogue versions, background refresh and start-up snapshots (index/catalogue.py,
index/snapshot.py), with the real store, pipeline and offline model.

Two engines on one data dir stand for two processes: each has its own catalogue
and learns of the other's ingest only through the collection's version, exactly
as a separate process does (tests/test_many_processes.py runs real processes).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from index.catalogue import Catalogue
from index.engine import Engine
from tests.conftest import chroma_env
from tests.support.digests import DIGEST, NEXT_WEEK, write_digest
from tests.support.waiting import DEADLINE_S, until

RUNS_ON_CHROMA_SERVER = True

def settings(data_dir: Path, **env: str) -> Settings:
    return Settings.from_env(environ={**chroma_env(data_dir), **env}, dotenv_path=None, data_dir=data_dir)


@pytest.fixture
def digests(tmp_path: Path) -> tuple[str, str]:
    return write_digest(tmp_path / "first.md", DIGEST), write_digest(tmp_path / "second.md", NEXT_WEEK)


def test_an_ingest_that_changes_the_collection_stamps_a_new_version(tmp_path: Path, digests: tuple[str, str]) -> None:
    engine = Engine(settings(tmp_path / "data"))
    engine.ingest([digests[0]])
    first = engine.catalogue_version()
    assert first.stamp and first.changed_at > 0
    engine.ingest([digests[0]])  # unchanged: nothing written, same version
    assert engine.catalogue_version() == first
    engine.ingest([digests[1]])
    second = engine.catalogue_version()
    assert second.stamp != first.stamp and second.collection_id == first.collection_id


def test_an_engine_sees_what_another_ingests_on_its_next_check(tmp_path: Path, digests: tuple[str, str]) -> None:
    data = tmp_path / "data"
    bot = Engine(settings(data))
    bot.ingest([digests[0]])
    assert [p.arxiv_id for p in bot.papers()].count("2410.01044") == 0
    before = bot.catalogue()

    other = Engine(settings(data))  # the second process
    other.ingest([digests[1]])
    assert bot.catalogue() is before  # nothing changes until it checks

    assert bot.sync_catalogue()
    assert bot.catalogue() is not before and bot.catalogue().version == other.catalogue_version()
    assert bot.search("RATIONALYST", k=1)[0].paper.arxiv_id == "2410.01044"
    assert bot.find_papers("2410.01044")[0].paper.title.startswith("RATIONALYST")
    assert not before.lookup.find("2410.01044")  # the old catalogue was never changed in place


def test_a_lookup_miss_checks_for_a_newer_catalogue_at_once(tmp_path: Path, digests: tuple[str, str]) -> None:
    data = tmp_path / "data"
    bot = Engine(settings(data))
    bot.ingest([digests[0]])
    bot.find_papers("VPTQ")
    Engine(settings(data)).ingest([digests[1]])
    # No watcher runs: the miss itself finds the newer version and waits for it.
    (match,) = bot.find_papers("2410.01044")
    assert match.paper.title.startswith("RATIONALYST")
    answer = bot.ask("What is RATIONALYST?")
    assert not answer.abstained and answer.citations[0].arxiv_id == "2410.01044"


def test_the_watcher_rebuilds_in_the_background_while_the_old_catalogue_answers(
    tmp_path: Path, digests: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    bot = Engine(settings(data))
    bot.ingest([digests[0]])
    old = bot.catalogue()

    # Hold every build until the test lets it go, to look at the bot mid-rebuild.
    gate, building = threading.Event(), threading.Event()
    real_build = Catalogue.build.__func__  # type: ignore[attr-defined]

    def held_build(cls: type[Catalogue], *args: Any) -> Catalogue:
        building.set()
        assert gate.wait(DEADLINE_S), "the test never released the build"
        return real_build(cls, *args)

    other = Engine(settings(data))
    other.ingest([digests[1]])
    # That ingest saved the new version's snapshot; without it, the bot rebuilds.
    other.snapshot_path.unlink()
    monkeypatch.setattr(Catalogue, "build", classmethod(held_build))
    watcher = bot.watch_catalogue(interval=0.05)
    try:
        assert building.wait(DEADLINE_S), "the watcher did not start a rebuild"
        # Mid-rebuild: answers keep coming, from the complete old catalogue.
        assert bot.catalogue() is old
        assert bot.find_papers("VPTQ", 1)[0].paper.arxiv_id == "2409.17066"
        assert bot.search("mixture of experts", k=1)[0].paper.arxiv_id == "2409.02060"
        gate.set()
        until(lambda: bot.catalogue() is not old, "the rebuilt catalogue swapped in")
        assert bot.find_papers("2410.01044")[0].paper.arxiv_id == "2410.01044"
        assert len(bot.papers()) == 4
    finally:
        gate.set()
        watcher.stop()
    assert not watcher.running


# -- snapshots ------------------------------------------------------------------------------
def test_a_new_process_starts_from_the_snapshot_of_the_current_version(tmp_path: Path, digests: tuple[str, str]) -> None:
    data = tmp_path / "data"
    first = Engine(settings(data))
    first.ingest(list(digests))
    built = first.catalogue()
    # Built by the ingest from the catalogue before it plus what it wrote, and saved.
    assert built.origin == "ingest" and first.snapshot_path.is_file()

    again = Engine(settings(data))
    loaded = again.catalogue()
    assert loaded.origin == "snapshot" and loaded.version == built.version
    assert [p.to_dict() for p in loaded.papers] == [p.to_dict() for p in built.papers]
    # One keyword index, saved once and shared again after loading.
    assert built.retriever.lexical is built.lookup.lexical
    assert loaded.retriever.lexical is loaded.lookup.lexical
    # The week and name facts come with it (built with the catalogue, not on the first question).
    assert "facts" in vars(loaded.retriever) and loaded.retriever.facts.lexical is loaded.retriever.lexical
    assert loaded.retriever.facts.weeks == built.retriever.facts.weeks
    for engine in (first, again):
        assert engine.search("RATIONALYST", k=1)[0].paper.arxiv_id == "2410.01044"
        assert engine.find_papers("vptq extrme low bit")[0].paper.arxiv_id == "2409.17066"
        assert engine.autocomplete("olm")[0][0].startswith("OLMoE")
        assert engine.ask("what is VPTQ?").citations[0].arxiv_id == "2409.17066"


def test_a_stale_snapshot_is_never_used(tmp_path: Path, digests: tuple[str, str]) -> None:
    data = tmp_path / "data"
    first = Engine(settings(data))
    first.ingest([digests[0]])
    first.catalogue()
    stale_key = first.catalogue().version.key
    stale = first.snapshot_path.read_bytes()
    # Another process changes the collection, and this data dir keeps the old
    # snapshot (the other process has a data dir of its own, as on a second
    # machine sharing a Chroma server).
    other = Engine(settings(data))
    other.ingest([digests[1]])
    first.snapshot_path.write_bytes(stale)

    fresh = Engine(settings(data)).catalogue()
    assert fresh.origin == "store" and fresh.version.key != stale_key
    assert "2410.01044" in {p.arxiv_id for p in fresh.papers}


def test_a_foreign_snapshot_is_never_used(tmp_path: Path, digests: tuple[str, str]) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    a = Engine(settings(one))
    a.ingest([digests[0]])
    a.catalogue()
    b = Engine(settings(two))
    b.ingest([digests[1]])
    b.catalogue()
    # Data dir one's snapshot copied over two's: same file name, another collection.
    shutil.copyfile(a.snapshot_path, b.snapshot_path)
    loaded = Engine(settings(two)).catalogue()
    assert loaded.origin == "store"
    assert [p.arxiv_id for p in loaded.papers] == ["2410.01044"]


def test_a_snapshot_of_other_code_or_a_torn_one_is_rebuilt(
    tmp_path: Path, digests: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from index import snapshot

    data = tmp_path / "data"
    Engine(settings(data)).ingest([digests[0]])
    monkeypatch.setattr(snapshot, "code_signature", lambda: "older code")
    writer = Engine(settings(data))
    assert writer.catalogue().origin == "store"  # written by "older code"
    monkeypatch.undo()
    assert Engine(settings(data)).catalogue().origin == "store"  # so not used, and rewritten
    assert Engine(settings(data)).catalogue().origin == "snapshot"

    path = writer.snapshot_path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reread = Engine(settings(data)).catalogue()
    assert reread.origin == "store" and len(reread.papers) == 3


def test_questions_during_repeated_refreshes_always_see_one_whole_catalogue(tmp_path: Path, digests: tuple[str, str]) -> None:
    """Readers in several threads while another process keeps adding papers and the
    watcher keeps swapping catalogues: no error, and every answer comes from one
    complete catalogue (its hits are papers of a catalogue the engine held)."""
    data = tmp_path / "data"
    bot = Engine(settings(data))
    bot.ingest([digests[0]])
    bot.warm_up()
    seen: dict[str, frozenset[str]] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(i: int) -> None:
        while not stop.is_set():
            try:
                hits = bot.search("quantization of language models" if i % 2 else "mixture of experts", k=5)
                # Papers are only added here, so the catalogue now holds every paper of
                # the one the search used, whichever that was.
                catalogue = bot.catalogue()
                seen.setdefault(catalogue.version.key, frozenset(p.paper_id for p in catalogue.papers))
                assert hits and all(h.paper.paper_id in seen[catalogue.version.key] for h in hits)
                assert bot.find_papers("VPTQ", 1)[0].paper.arxiv_id == "2409.17066"
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
                return

    watcher = bot.watch_catalogue(interval=0.05)
    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        writer = Engine(settings(data))
        for n in range(4):  # four more ingests by "another process", each a new version
            extra = tmp_path / f"extra-{n}.md"
            write_digest(extra, f"## Week of Oct {20 + n}, 2024\n\n1. **[Paper number {n} on sparse attention](https://arxiv.org/abs/2410.1{n}000)**: "
                         f"a study of sparse attention, part {n}.\n")
            writer.ingest([str(extra)])
            until(lambda n=n: len(bot.papers()) == 4 + n, f"the bot at {4 + n} papers")
    finally:
        stop.set()
        for t in threads:
            t.join(DEADLINE_S)
        watcher.stop()
    assert not errors, errors[0]
    assert len(seen) >= 2 and len(bot.papers()) == 7
