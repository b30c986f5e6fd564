"""The engine a front end holds: settings in, ingest / stats / search / answers out.

The CLI and the Discord bot build exactly one of these and never reach past it
to Chroma, the parser or the models.  Heavy parts (Chroma client, ONNX model,
BM25 index) are created on first use so a command only pays for what it needs.

Answers come from a :class:`~index.catalogue.Catalogue` of one catalogue version
(loaded from its snapshot or built from the store); a newer version, stamped by
any process's ingest, is built and swapped in whole by :meth:`Engine.sync_catalogue`,
which the bot's watcher calls every few seconds and a miss calls at once.  The
ingest that stamps a version has already saved that version's snapshot, built
from the catalogue before it plus the papers it wrote (:meth:`Engine._prepare_catalogue`),
so catching up loads a file instead of reading every record from the store.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from config import Settings
from index.models import Paper
from index.store import StoreUnavailable

if TYPE_CHECKING:
    from index.answer import Answer, Answerer, Turn
    from index.catalogue import Catalogue, CatalogueWatcher
    from index.facts import CatalogueFacts
    from index.freshness import RefreshReport, SourceLedger, SourceRecord
    from index.llm import ChatModel
    from index.lookup import LookupMatch, PaperLookup
    from index.models import ParseResult
    from index.pipeline import CatalogueChange, IngestReport, MiniLMEmbedding
    from index.retrieve import Hit, Mode, Retriever, SearchFilters
    from index.store import CatalogueVersion, PaperStore

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: A miss that a newer catalogue might explain (``/paper`` finds nothing, an
#: answer abstains) checks the version at most this often...
MISS_CHECK_INTERVAL_S = 1.0
#: ...and waits at most this long for the newer catalogue before answering from the old one.
MISS_WAIT_S = 20.0


def _store_failure(exc: BaseException) -> bool:
    """Did this come from a Chroma that went away after it was opened?

    Opening is checked by the store (``StoreUnavailable``); a server that dies
    later surfaces as its HTTP client's transport error or a Chroma error.  LLM
    failures never get here: the answerer turns them into its extractive fallback.
    """
    import httpx
    from chromadb.errors import ChromaError

    return isinstance(exc, (httpx.TransportError, ChromaError, ConnectionError))


def _preload_search(store: PaperStore) -> None:
    """Load the embedding model and the store's vector index; a failure here is
    the first search's to report, so it is only logged."""
    from index.embedding import embed_query

    try:
        store.query(embed_query("warm up"), 1)
    except Exception:  # noqa: BLE001 - best effort; the search itself raises what matters
        log.debug("preloading the vector index failed", exc_info=True)


def reports_store_failures(method: F) -> F:
    """Turn a lost Chroma connection during ``method`` into :class:`StoreUnavailable`,
    so front ends can tell users "the index is unavailable" instead of "something
    went wrong", whether the store failed to open or failed later."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if _store_failure(exc):
                raise StoreUnavailable(f"lost the connection to the paper index: {type(exc).__name__}: {exc}") from exc
            raise

    return wrapper  # type: ignore[return-value]


def open_store(settings: Settings, create: bool = True) -> PaperStore:
    """The Chroma collection an engine on ``settings`` reads and writes, opened on
    its own: for what an engine does not offer, such as a bench reading the raw
    vectors (HNSW recall against exact cosine) or counting chunks, or standing in
    for another process's ingest by stamping a new catalogue version."""
    from index.embedding import MODEL_NAME
    from index.store import PaperStore, collection_name

    return PaperStore.open(settings, collection_name(MODEL_NAME), create=create)


@dataclass
class Stats:
    """What is in the index, in the shape of the CLI's ``stats`` JSON contract."""

    papers: int
    weeks: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    collection: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"papers": self.papers, "weeks": self.weeks, "sources": self.sources}


class Engine:
    """Owns the store and models for one data dir (or Chroma server).

    Front ends call the methods below; the parts (store, models, indexes) are
    built on first use and stay behind it.  ``embed_model`` and the catalogue
    accessors are public for the benches and tests that measure them; a script
    that measures the vectors themselves opens the store with :func:`open_store`.
    """

    def __init__(self, settings: Settings, create: bool = True, preload_search: bool = False) -> None:
        """``create``: make the data dir and the collection on first use, as ingest
        and the bot do.  Read-only front ends (``paperbot search``, ``stats``...)
        pass False: an index that does not exist raises
        :class:`~index.store.IndexMissing` rather than being created empty.
        ``preload_search``: when the catalogue first loads, load the embedding model
        and Chroma's vector index in a thread meanwhile (what a first search needs
        next; ~1 s saved at 100k papers).  For processes that will search; a
        ``/paper`` lookup would only pay the vector index's memory for nothing."""
        self.settings = settings
        self.create = create
        self._preload_search = preload_search
        #: Held by an ingest (minutes) so two ingests of this process never interleave.
        self._ingest_lock = threading.RLock()
        #: The catalogue answers come from; replaced whole, never changed in place.
        self._catalogue: Catalogue | None = None
        #: Held while a catalogue is built, so concurrent callers share one build.
        self._build_lock = threading.Lock()
        self._miss_checked_at = float("-inf")
        self._chat_model: ChatModel | None = None
        self._chat_model_built = False
        #: Not ``_ingest_lock``: questions never wait for an ingest.
        self._chat_lock = threading.Lock()

    # -- the parts -------------------------------------------------------------------
    @cached_property
    def embed_model(self) -> MiniLMEmbedding:
        from index.pipeline import MiniLMEmbedding

        return MiniLMEmbedding()

    @cached_property
    def _store(self) -> PaperStore:
        return open_store(self.settings, create=self.create)

    @cached_property
    def _ledger(self) -> SourceLedger:
        """What each polled source looked like when it was last ingested (see index/freshness.py)."""
        from index.freshness import SourceLedger

        return SourceLedger(Path(self.settings.data_dir) / "sources.sqlite3")

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_digest_mb * 1024 * 1024)

    # -- ingest ----------------------------------------------------------------------
    def ingest(
        self, specs: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Read, parse and index digest sources; bad input is reported, not raised."""
        from index.sources import parse_sources

        parsed = parse_sources(specs, max_bytes=self._max_bytes, timeout=self.settings.fetch_timeout)
        return self._ingest_parsed(parsed, progress)

    def _ingest_parsed(
        self, parsed: ParseResult, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        from index.pipeline import Ingestor

        docstore_dir = Path(self.settings.data_dir) / "docstore"
        with self._ingest_lock:
            ingestor = Ingestor(self._store, self.embed_model, docstore_dir, prepare=self._prepare_catalogue)
            report = ingestor.ingest(parsed, progress)
        fresh = ingestor.catalogue
        if fresh is not None and len(fresh.papers) != report.papers:
            # Another machine's ingest into the same server stamped in the instant
            # between this one's compare and set (the stamp lock covers one data dir
            # only): its papers are missing here, so nobody may load this snapshot.
            log.warning("the catalogue prepared by this ingest has %d papers, the store %d: discarding it",
                        len(fresh.papers), report.papers)
            from index import snapshot

            snapshot.discard(self.snapshot_path, fresh.version)
            fresh = None
        report.carried_forward = fresh is not None
        if fresh is not None:
            with self._build_lock:  # after a rebuild in progress, never overwritten by it
                self._catalogue = fresh
            log.info("catalogue now at version %s (%d papers, carried forward by this ingest)",
                     fresh.version.key, len(fresh.papers))
        elif (report.new or report.updated) and self._catalogue is not None:
            # Every read after this returns sees the change (the announcement of a
            # freshly ingested week relies on it); other threads keep answering
            # from the old catalogue while the new one is built here.
            self.sync_catalogue()
        return report

    def _prepare_catalogue(self, change: CatalogueChange) -> Catalogue | None:
        """The catalogue of the version an ingest is about to stamp, built from the
        one before it plus the records it wrote (no read of every record from
        Chroma), and saved as that version's snapshot before the version is
        stamped, so no other process ever sees the version without its snapshot.

        None (nothing saved; readers rebuild from the store, as before) unless a
        catalogue of exactly ``change.base`` is at hand (this engine's, or the
        base version's snapshot) and nobody stamped since ``change.base``.
        """
        from index import snapshot
        from index.catalogue import Catalogue
        from index.embedding import embed_query

        started = time.perf_counter()
        current = self._catalogue
        base_papers: Sequence[Paper] | None = None
        if current is not None and current.version.key == change.base.key:
            base_papers = current.papers
        elif change.base.stamp:
            loaded = snapshot.load(self.snapshot_path, change.base, self._store, embed_query)
            base_papers = loaded.papers if loaded is not None else None
        elif self._store.count_papers() == len(change.papers):
            # A collection never stamped that holds just what this ingest wrote (its
            # first ingest): the base is empty.
            base_papers = []
        if base_papers is None:
            log.info("no catalogue of version %s at hand: the next process rebuilds version %s from the store",
                     change.base.key, change.version.key)
            return None
        if self._read_version().key != change.base.key:
            log.info("another process stamped a catalogue version during this ingest: not preparing one")
            return None
        by_id = {p.paper_id: p for p in base_papers}
        by_id.update((p.paper_id, p) for p in change.papers)
        papers = list(by_id.values())  # the catalogue puts them in its own order
        prepared = Catalogue.build(change.version, papers, self._store, embed_query, origin="ingest")
        snapshot.save(self.snapshot_path, prepared)  # if it fails, readers rebuild: not this ingest's error
        log.info("prepared the catalogue of version %s (%d papers, %d written) in %.2f s", change.version.key,
                 len(papers), len(change.papers), time.perf_counter() - started)
        return prepared

    def refresh(self, specs: Sequence[str] | None = None) -> RefreshReport:
        """Ingest only the sources (default: the configured ones) that changed since
        the last refresh (see :class:`~index.freshness.Refresher`).  Blocking: call
        it off the event loop."""
        from index.freshness import Refresher

        refresher = Refresher(
            self._ledger, self._ingest_parsed, max_bytes=self._max_bytes, timeout=self.settings.fetch_timeout
        )
        return refresher.refresh(list(self.settings.sources if specs is None else specs))

    def source_records(self) -> list[SourceRecord]:
        """The ledger's view of every source polled so far."""
        return self._ledger.records()

    # -- the catalogue ---------------------------------------------------------------
    @property
    def snapshot_path(self) -> Path:
        from index.snapshot import snapshot_path

        return snapshot_path(Path(self.settings.data_dir), self._store.name)

    def catalogue(self) -> Catalogue:
        """The current catalogue; the first call loads the snapshot of the current
        version, or reads the store and builds it."""
        current = self._catalogue
        if current is not None:
            return current
        with self._build_lock:
            if self._catalogue is None:
                version = self._read_version()
                if self._preload_search:
                    # Chroma reads a collection's vector index on its first query.  Not
                    # a daemon: a process that exits meanwhile (an error, a quick
                    # command) waits for it, as onnxruntime and hnswlib abort when
                    # the interpreter shuts down under a thread inside them.
                    threading.Thread(target=_preload_search, args=(self._store,), name="paperbot-search-preload").start()
                self._catalogue = self._build(version)
            return self._catalogue

    def catalogue_version(self) -> CatalogueVersion:
        """The collection's version now (one small request to Chroma)."""
        return self._read_version()

    @reports_store_failures
    def _read_version(self) -> CatalogueVersion:
        return self._store.catalogue_version()

    def sync_catalogue(self, wait: float | None = None) -> bool:
        """Bring the catalogue up to the store's current version, building the new
        one in this thread and swapping it in; the old one answers meanwhile.

        ``wait`` bounds how long to wait for a build another thread is already
        running (None: as long as it takes).  Returns whether the catalogue is now
        at the version read at the start.  Blocking: call it off the event loop.
        """
        version = self._read_version()
        current = self._catalogue
        if current is not None and current.version.key == version.key:
            return True
        if not self._build_lock.acquire(timeout=-1 if wait is None else wait):
            return False
        try:
            current = self._catalogue
            if current is not None and current.version.key == version.key:
                return True  # built by whoever held the lock
            version = self._read_version()  # the newest, in case it moved on while waiting
            fresh = self._build(version)
            self._catalogue = fresh
            log.info("catalogue now at version %s (%d papers, from %s; was %s)", version.key, len(fresh.papers),
                     fresh.origin, current.version.key if current is not None else None)
            return True
        finally:
            self._build_lock.release()

    def _build(self, version: CatalogueVersion) -> Catalogue:
        """The catalogue of ``version``: its snapshot when one matches, else read
        from the store and built, then saved for the next process.  ``version`` is
        read *before* the papers, so a change made meanwhile shows up as a newer
        version at the next check, never as a gap."""
        from index import snapshot
        from index.catalogue import Catalogue
        from index.embedding import embed_query

        path = self.snapshot_path
        loaded = snapshot.load(path, version, self._store, embed_query)
        if loaded is not None:
            return loaded
        started = time.perf_counter()
        papers = self._read_papers()
        log.info("read %d papers from the store in %.2f s", len(papers), time.perf_counter() - started)
        built = Catalogue.build(version, papers, self._store, embed_query)
        if self.create or Path(self.settings.data_dir).is_dir():  # a read command never makes a data dir
            snapshot.save(path, built)
        return built

    @reports_store_failures
    def _read_papers(self) -> list[Paper]:
        return self._store.papers()

    def watch_catalogue(self, interval: float | None = None) -> CatalogueWatcher:
        """Start checking the catalogue version in the background (the bot does, for
        as long as it runs); stop the returned watcher to end it."""
        from index.catalogue import CatalogueWatcher

        every = self.settings.catalogue_check_seconds if interval is None else interval
        return CatalogueWatcher(self.sync_catalogue, every).start()

    def _newer_catalogue_after_miss(self) -> bool:
        """After a miss: is there a newer catalogue, and is it in place now?

        Checked at most every MISS_CHECK_INTERVAL_S; waits up to MISS_WAIT_S for
        the rebuild (the caller is a worker thread, and the user asked for
        something this catalogue does not have)."""
        now = time.monotonic()
        if now - self._miss_checked_at < MISS_CHECK_INTERVAL_S:
            return False
        self._miss_checked_at = now
        before = self._catalogue
        try:
            self.sync_catalogue(wait=MISS_WAIT_S)
        except StoreUnavailable:
            log.info("could not check the catalogue version after a miss", exc_info=True)
            return False
        return self._catalogue is not before

    @reports_store_failures
    def _retriever(self) -> Retriever:
        return self.catalogue().retriever

    @reports_store_failures
    def _lookup(self) -> PaperLookup:
        return self.catalogue().lookup

    @reports_store_failures
    def _facts(self) -> CatalogueFacts:
        """Weeks, sources and names of the current version, built once per version
        and shared with the answerer."""
        return self.catalogue().retriever.facts

    # -- what front ends ask ---------------------------------------------------------
    @reports_store_failures
    def warm_up(self) -> None:
        """Everything the first question needs, loaded now: the catalogue with its
        indexes and facts, and the embedding model (a long-running process calls
        this once, off the event loop, so its first answer is as fast as any other)."""
        from index.embedding import embed_query

        self._facts()
        embed_query("warm up")

    @reports_store_failures
    def papers(self) -> list[Paper]:
        """The paper catalogue of the current version."""
        return self.catalogue().papers

    def stats(self) -> Stats:
        facts = self._facts()
        return Stats(papers=len(facts.papers), weeks=facts.weeks, sources=facts.sources, collection=self._store.name)

    def weeks(self) -> list[str]:
        """The digest weeks of the current version, oldest first."""
        return self._facts().weeks

    def week_papers(self, week: str | None = None) -> tuple[str | None, list[Paper]]:
        """The papers of one digest week (the latest by default), in digest order."""
        facts = self._facts()
        if week is not None and week not in facts.weeks and self._newer_catalogue_after_miss():
            return self.week_papers(week)
        chosen = (facts.weeks[-1] if facts.weeks else None) if week is None else week
        if chosen is None or chosen not in facts.weeks:
            return None, []
        return chosen, facts.week_papers(chosen)

    def answerer(self) -> Answerer:
        """An answerer bound to the current catalogue's retriever, so one answer
        never mixes two catalogue versions.  The first call builds the configured
        chat model (:class:`~index.llm.LLMError` when it cannot be built)."""
        from index.answer import Answerer
        from index.llm import build_chat_model

        with self._chat_lock:
            if not self._chat_model_built:
                self._chat_model = build_chat_model(self.settings)
                self._chat_model_built = True
        return Answerer(self._retriever(), self._chat_model, self.settings.top_k)

    @reports_store_failures
    def search(
        self, query: str, k: int = 10, mode: Mode = "hybrid", filters: SearchFilters | None = None
    ) -> list[Hit]:
        return self._retriever().search(query, k=k, mode=mode, filters=filters)

    @reports_store_failures
    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        filters: SearchFilters | None = None,
        *,
        prefer_week: str | None = None,
    ) -> Answer:
        """The answer to ``question``; ``prefer_week`` (a week's announcement thread)
        answers from that week's papers first (the answerer's policy)."""
        answer = self.answerer().answer(question, history=history, filters=filters, prefer_week=prefer_week)
        if answer.abstained and self._newer_catalogue_after_miss():
            return self.answerer().answer(question, history=history, filters=filters, prefer_week=prefer_week)
        return answer

    @reports_store_failures
    def find_papers(self, query: str, limit: int = 5) -> list[LookupMatch]:
        """Lookup for ``/paper``: a paper id (an autocomplete pick), link, title or keywords."""
        matches = self._lookup().find(query, limit=limit)
        if not matches and self._newer_catalogue_after_miss():
            return self._lookup().find(query, limit=limit)
        return matches

    @reports_store_failures
    def autocomplete(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return self._lookup().autocomplete(prefix, limit=limit)
