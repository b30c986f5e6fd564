"""The engine a front end holds: settings in, ingest / stats / search / answers out.

The CLI and the Discord bot build exactly one of these and never reach past it
to Chroma, the parser or the models.  Heavy parts (Chroma client, ONNX model,
BM25 index) are created on first use so a command only pays for what it needs.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from config import Settings
from index.models import Paper
from index.store import StoreUnavailable

if TYPE_CHECKING:
    from index.answer import Answer, Answerer, Turn
    from index.freshness import RefreshReport, SourceLedger, SourceRecord
    from index.models import ParseResult
    from index.pipeline import MiniLMEmbedding
    from index.lookup import LookupMatch, PaperLookup
    from index.pipeline import IngestReport
    from index.retrieve import Hit, Mode, Retriever, SearchFilters
    from index.store import PaperStore

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _store_failure(exc: BaseException) -> bool:
    """Did this come from a Chroma that went away after it was opened?

    Opening is checked by the store (``StoreUnavailable``); a server that dies
    later surfaces as its HTTP client's transport error or a Chroma error.  LLM
    failures never get here: the answerer turns them into its extractive fallback.
    """
    import httpx
    from chromadb.errors import ChromaError

    return isinstance(exc, (httpx.TransportError, ChromaError, ConnectionError))


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
    """Owns the store and models for one data dir (or Chroma server)."""

    def __init__(self, settings: Settings, create: bool = True) -> None:
        """``create``: make the data dir and the collection on first use, as ingest
        and the bot do.  Read-only front ends (``paperbot search``, ``stats``...)
        pass False: an index that does not exist raises
        :class:`~index.store.IndexMissing` rather than being created empty."""
        self.settings = settings
        self.create = create
        self._lock = threading.RLock()
        self._papers: list[Paper] | None = None
        self._retriever: Retriever | None = None
        self._lookup: PaperLookup | None = None
        self._answerer: Answerer | None = None

    @cached_property
    def embed_model(self) -> "MiniLMEmbedding":
        from index.pipeline import MiniLMEmbedding

        return MiniLMEmbedding()

    @cached_property
    def store(self) -> "PaperStore":
        from index.embedding import MODEL_NAME
        from index.store import PaperStore, collection_name

        return PaperStore.open(self.settings, collection_name(MODEL_NAME), create=self.create)

    @property
    def docstore_dir(self) -> Path:
        return Path(self.settings.data_dir) / "docstore"

    def ingest(
        self, specs: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> "IngestReport":
        """Read, parse and index digest sources; bad input is reported, not raised."""
        from index.sources import parse_sources

        parsed = parse_sources(specs, max_bytes=self.max_bytes, timeout=self.settings.fetch_timeout)
        return self._ingest_parsed(parsed, progress)

    @property
    def max_bytes(self) -> int:
        return int(self.settings.max_digest_mb * 1024 * 1024)

    def _ingest_parsed(
        self, parsed: "ParseResult", progress: Callable[[int, int], None] | None = None
    ) -> "IngestReport":
        from index.pipeline import Ingestor

        with self._lock:
            report = Ingestor(self.store, self.embed_model, self.docstore_dir).ingest(parsed, progress)
            if report.new or report.updated:
                self.invalidate()
        return report

    @cached_property
    def ledger(self) -> "SourceLedger":
        """What each polled source looked like when it was last ingested (see index/freshness.py)."""
        from index.freshness import SourceLedger

        return SourceLedger(Path(self.settings.data_dir) / "sources.sqlite3")

    def refresh(self, specs: Sequence[str] | None = None) -> "RefreshReport":
        """Ingest only the sources (default: the configured ones) that changed since
        the last refresh.  A source that cannot be read is reported and retried next
        time; the others still go through.  Blocking: call it off the event loop."""
        from index.digests import merge_papers
        from index.freshness import RefreshReport, SourceCheck, probe
        from index.models import ParseResult
        from index.sources import parse_loaded

        specs = list(self.settings.sources if specs is None else specs)
        probes = [
            probe(spec, self.ledger.get(spec), max_bytes=self.max_bytes, timeout=self.settings.fetch_timeout)
            for spec in specs
        ]
        batch = ParseResult()
        for result in probes:
            if result.status != "changed":
                continue
            parsed = parse_loaded(result.loaded, result.skipped)
            if not parsed.papers:
                result.fail("no papers found: is this a digest?")
                continue
            batch.papers.extend(parsed.papers)
            batch.skipped.extend(parsed.skipped)
        report = RefreshReport()
        if batch.papers:
            batch.papers = merge_papers(batch.papers)
            report.ingest = self._ingest_parsed(batch)
        now = time.time()
        for result in probes:
            self.ledger.settle(result, now)
            report.checks.append(SourceCheck(result.spec, result.status, result.reason))
            if result.status == "failed":
                log.warning("digest source %s failed (%s); retrying at the next poll", result.spec, result.reason)
        return report

    def source_records(self) -> list["SourceRecord"]:
        """The ledger's view of every source polled so far."""
        return self.ledger.records()

    def invalidate(self) -> None:
        """Forget the cached catalogue and the indexes built from it."""
        with self._lock:
            self._papers = None
            self._retriever = None
            self._lookup = None

    @reports_store_failures
    def papers(self) -> list[Paper]:
        """The paper catalogue, read once from the store and cached until the next ingest."""
        with self._lock:
            if self._papers is None:
                self._papers = self.store.papers()
            return self._papers

    def stats(self) -> Stats:
        papers = self.papers()
        weeks = sorted({w for p in papers for w in p.weeks})
        sources = sorted({m.source for p in papers for m in p.sources})
        return Stats(papers=len(papers), weeks=weeks, sources=sources, collection=self.store.name)

    def retriever(self) -> "Retriever":
        from index.embedding import embed_query, preload
        from index.retrieve import Retriever

        with self._lock:
            if self._retriever is None:
                preload()
                self._retriever = Retriever(self.papers(), self.store, embed_query)
            return self._retriever

    def lookup(self) -> "PaperLookup":
        from index.lookup import PaperLookup

        with self._lock:
            if self._lookup is None:
                self._lookup = PaperLookup(self.papers())
            return self._lookup

    def answerer(self) -> "Answerer":
        from index.answer import Answerer
        from index.llm import build_chat_model

        with self._lock:
            if self._answerer is None:
                self._answerer = Answerer(self.retriever, build_chat_model(self.settings), self.settings.top_k)
            return self._answerer

    @reports_store_failures
    def search(
        self, query: str, k: int = 10, mode: "Mode" = "hybrid", filters: "SearchFilters | None" = None
    ) -> list["Hit"]:
        return self.retriever().search(query, k=k, mode=mode, filters=filters)

    @reports_store_failures
    def ask(
        self, question: str, history: Sequence["Turn"] = (), filters: "SearchFilters | None" = None
    ) -> "Answer":
        return self.answerer().answer(question, history=history, filters=filters)

    @reports_store_failures
    def ask_week(self, question: str, week: str, history: Sequence["Turn"] = ()) -> "Answer":
        """A question in a week's announcement thread (the answerer decides how
        that week's papers come first)."""
        return self.answerer().answer(question, history=history, prefer_week=week)

    def week_papers(self, week: str | None = None) -> tuple[str | None, list[Paper]]:
        """The papers of one digest week (the latest by default), in digest order."""
        papers = self.papers()
        weeks = sorted({w for p in papers for w in p.weeks})
        if not weeks:
            return None, []
        chosen = week if week in weeks else (weeks[-1] if week is None else None)
        if chosen is None:
            return None, []
        in_week = [p for p in papers if chosen in p.weeks]
        return chosen, sorted(in_week, key=lambda p: (p.source, p.line or 0))

    def weeks(self) -> list[str]:
        return sorted({w for p in self.papers() for w in p.weeks})

    @reports_store_failures
    def find_papers(self, query: str, limit: int = 5) -> list["LookupMatch"]:
        """Lookup for ``/paper``: a paper id (an autocomplete pick), link, title or keywords."""
        return self.lookup().find(query, limit=limit)

    @reports_store_failures
    def autocomplete(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return self.lookup().autocomplete(prefix, limit=limit)
