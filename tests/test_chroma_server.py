"""Server mode: the same ingest and search against a real ``chroma run`` on 127.0.0.1.

The server comes from the chromadb package's own CLI (``tests/support/chroma.py``),
started on a free port with its data in a temp dir and stopped when the module's
tests end (the ``chroma_server`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from index.engine import Engine
from index.store import StoreUnavailable
from tests.support.chroma import ChromaServer, free_port
from tests.support.digests import DIGEST


def server_engine(host: str, port: int, data_dir: Path, database: str | None = None) -> Engine:
    env = {"CHROMA_HOST": host, "CHROMA_PORT": str(port)}
    if database is not None:
        env["CHROMA_DATABASE"] = database
    return Engine(Settings.from_env(environ=env, dotenv_path=None, data_dir=data_dir))


def test_ingest_and_search_through_a_chroma_server(chroma_server: tuple[str, int], tmp_path: Path) -> None:
    digest = tmp_path / "digest.md"
    digest.write_text(DIGEST, encoding="utf-8")
    engine = server_engine(*chroma_server, tmp_path / "a")
    first = engine.ingest([str(digest)])
    assert (first.papers, first.new) == (3, 3)
    assert not (tmp_path / "a" / "chroma").exists()  # nothing embedded locally
    assert engine.search("VPTQ", k=1)[0].paper.arxiv_id == "2409.17066"

    # A second machine (its own data dir, no local docstore) sharing the server sees
    # the same papers and writes nothing for unchanged digests.
    other = server_engine(*chroma_server, tmp_path / "b")
    again = other.ingest([str(digest)])
    assert (again.papers, again.new, again.updated, again.unchanged) == (3, 0, 0, 3)
    assert other.stats().papers == 3


def test_bots_in_their_own_databases_share_a_server_without_seeing_each_other(
    chroma_server: tuple[str, int], tmp_path: Path
) -> None:
    import chromadb

    digest = tmp_path / "digest.md"
    digest.write_text(DIGEST, encoding="utf-8")
    first = server_engine(*chroma_server, tmp_path / "a", database="bot-one")
    second = server_engine(*chroma_server, tmp_path / "b", database="bot-two")
    assert first.ingest([str(digest)]).new == 3  # the database is created on first use
    assert second.stats().papers == 0  # same collection name, other database: empty
    assert second.ingest([str(digest)]).new == 3
    names = {d["name"] for d in chromadb.AdminClient(chromadb.config.Settings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host=chroma_server[0],
        chroma_server_http_port=chroma_server[1], anonymized_telemetry=False)).list_databases()}
    assert {"bot-one", "bot-two", "default_database"} <= names


def test_chroma_database_is_checked_when_settings_are_read() -> None:
    from config import SettingsError

    with pytest.raises(SettingsError, match="CHROMA_DATABASE"):
        Settings.from_env(environ={"CHROMA_DATABASE": "bot-one"}, dotenv_path=None)  # no server to hold it
    for bad in ("ab", "has space", "-dash-first", "a/b"):
        with pytest.raises(SettingsError, match="CHROMA_DATABASE"):
            Settings.from_env(environ={"CHROMA_HOST": "h", "CHROMA_DATABASE": bad}, dotenv_path=None)
    assert Settings.from_env(environ={}, dotenv_path=None).chroma_database == "default_database"


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    engine = server_engine("127.0.0.1", free_port(), tmp_path)
    with pytest.raises(StoreUnavailable) as info:
        engine.stats()
    assert "127.0.0.1" in str(info.value)


def test_server_killed_mid_ingest_then_a_rerun_completes_without_duplicates(tmp_path: Path) -> None:
    from index.models import ParseResult
    from index.pipeline import BATCH_PAPERS, Ingestor
    from index.store import PaperStore, collection_name
    from tests.support.digests import make_paper
    from tests.support.embedding import HashEmbedding

    server = ChromaServer(tmp_path)
    server.start()
    try:
        settings = Settings.from_env(environ={"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(server.port)}, dotenv_path=None, data_dir=tmp_path / "data")
        papers = [make_paper(i, summary=f"Short summary number {i}.") for i in range(3 * BATCH_PAPERS)]

        def kill_after_first_batch(done: int, total: int) -> None:
            if done == BATCH_PAPERS:
                server.kill()

        ingestor = Ingestor(PaperStore.open(settings, collection_name("test-hash-64")), HashEmbedding(), tmp_path / "docstore")
        with pytest.raises(StoreUnavailable) as info:
            ingestor.ingest(ParseResult(papers=papers), progress=kill_after_first_batch)
        assert f"after {BATCH_PAPERS} of {len(papers)}" in str(info.value)

        server.start()
        store = PaperStore.open(settings, collection_name("test-hash-64"))
        report = Ingestor(store, HashEmbedding(), tmp_path / "docstore").ingest(ParseResult(papers=papers))
        assert report.papers == len(papers)
        assert store.count_chunks() == len(papers)  # one chunk each: nothing written twice
        again = Ingestor(store, HashEmbedding(), tmp_path / "docstore").ingest(ParseResult(papers=papers))
        assert (again.new, again.updated, again.unchanged, again.papers) == (0, 0, len(papers), len(papers))
    finally:
        server.stop()
