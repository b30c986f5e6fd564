"""One version of the paper catalogue and the indexes built from it, kept fresh
across processes.

A process answers from an in-memory catalogue (the papers, one keyword index
shared by :class:`~index.retrieve.Retriever` and the ``/paper`` lookup, the
retriever's metadata indexes and the lookup's title indexes).  Another
process (a scheduled ``paperbot ingest``, a second bot) may change the shared
collection at any time; every ingest that changes it stamps a new
:class:`~index.store.CatalogueVersion` into the collection's metadata, where every
process can read it with one small request.

* :class:`Catalogue` is immutable once built: a question takes one reference and
  answers from it to the end, so it never mixes two versions, and a new version
  is swapped in by replacing that one reference (atomic under the GIL).  Nothing
  is answered from a half-built index: a catalogue exists only once both of its
  indexes are complete.
* :class:`CatalogueWatcher` checks the version every few seconds in a thread of
  its own and builds a newer catalogue there, so the bot keeps answering from the
  old one meanwhile; the bot only starts and stops it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from index.models import CataloguePaper, Paper

if TYPE_CHECKING:
    from index.lookup import PaperLookup
    from index.retrieve import Retriever
    from index.store import CatalogueVersion, PaperStore

log = logging.getLogger(__name__)


class Catalogue:
    """The papers of one catalogue version, with their retriever and lookup index,
    all complete before anyone can hold it."""

    def __init__(
        self, version: CatalogueVersion, papers: Sequence[Paper], retriever: Retriever, lookup: PaperLookup,
        origin: str,
    ) -> None:
        self.version = version
        self.papers: list[Paper] = list(papers)
        self.retriever = retriever
        self.lookup = lookup
        #: Where it came from: "store" (read from Chroma and built), "snapshot", or
        #: "ingest" (carried forward by this process's ingest).
        self.origin = origin

    @classmethod
    def build(
        cls,
        version: CatalogueVersion,
        papers: Sequence[Paper],
        store: PaperStore,
        embed_query: Callable[[str], Sequence[float]],
        origin: str = "store",
    ) -> Catalogue:
        """Build both indexes over ``papers`` (seconds at 100k papers): one keyword
        index (BM25, document frequencies, postings) that the retriever and the
        lookup share, then the retriever's metadata and the lookup's title indexes,
        and the catalogue facts (weeks, names).  The papers are kept as
        :class:`~index.models.CataloguePaper` (summaries packed), in the keyword
        index's order, newest first."""
        from index.lexical import LexicalIndex
        from index.lookup import PaperLookup
        from index.retrieve import Retriever

        started = time.perf_counter()
        lexical = LexicalIndex([CataloguePaper.of(p) for p in papers])
        retriever = Retriever(lexical.papers, store, embed_query, lexical)
        lookup = PaperLookup(lexical.papers, lexical)
        retriever.facts  # noqa: B018 - the week and name facts too, so a snapshot carries them
        log.info("built the search and lookup indexes of %d papers in %.2f s", len(papers), time.perf_counter() - started)
        return cls(version, lexical.papers, retriever, lookup, origin=origin)


class CatalogueWatcher:
    """Checks the catalogue version every ``interval`` seconds, in a daemon thread,
    and lets ``check`` (the engine's) build and swap in a newer catalogue there.

    A failing check (the store is down) is logged and retried at the next tick;
    the last good catalogue keeps answering meanwhile.
    """

    def __init__(self, check: Callable[[], object], interval: float, name: str = "paperbot-catalogue-watcher") -> None:
        self._check = check
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> CatalogueWatcher:
        self._thread.start()
        log.info("checking the catalogue version every %.3g s", self.interval)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop checking; waits for a check (or a rebuild) in progress up to ``timeout``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(self.interval):
            try:
                self._check()
            except Exception as exc:  # noqa: BLE001 - keep watching whatever one check hit
                failures += 1
                # Once at warning level per outage, then quietly: the bot reports the
                # store being down to users already.
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "checking the catalogue version failed (%s: %s); retrying in %.3g s",
                        type(exc).__name__, exc, self.interval, exc_info=failures == 1)
                continue
            if failures:
                log.info("catalogue version checks work again after %d failures", failures)
                failures = 0
