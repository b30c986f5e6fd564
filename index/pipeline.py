"""Papers → LlamaIndex documents → IngestionPipeline → Chroma.

Each paper becomes one ``Document`` whose id is the paper's stable ``paper_id``;
the pipeline (sentence splitter → chunk numbering → our offline embedding) runs
with a persisted docstore and ``DocstoreStrategy.UPSERTS``, so re-ingesting
unchanged digests embeds nothing and an edited entry replaces its old chunks.

Whether a paper is new, updated or unchanged is decided against the records
already in Chroma (not only the local docstore), so a bot that shares a Chroma
server with another machine still reports and writes the truth.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent
from llama_index.core.storage.docstore import SimpleDocumentStore

from index.embedding import MODEL_NAME, embed_batch, embed_query
from index.identity import adopt_stored_ids, combine
from index.models import Paper, ParseResult, Skipped
from index.sqlitedb import storage_problem
from index.store import (
    CHUNK_KEY,
    CHUNK_OVERLAP,
    CHUNK_SIZE,
    PAPER_JSON_KEY,
    CatalogueVersion,
    PaperStore,
    StoreUnavailable,
    as_stored,
    paper_record_json,
)
from index.text import truncate

if TYPE_CHECKING:
    from index.catalogue import Catalogue

log = logging.getLogger(__name__)

#: Papers per pipeline run: bounds memory at 100k papers and lets progress show.
BATCH_PAPERS = 64

_EMBED_KEYS = ("title", "orgs", "topics")
_ALL_KEYS = ("paper_id", "title", "url", "arxiv_id", "date", "date_int", "week", "orgs", "topics", PAPER_JSON_KEY)
#: Characters of each embedded metadata value.  LlamaIndex's splitter counts the
#: embedded metadata against every chunk (it raises when the metadata is longer
#: than a chunk, and prints a warning when under 50 tokens are left), so those
#: values are bounded here, first in characters, then in tokens
#: (:func:`_fit_metadata`).  The full record is kept in ``paper_json``, which
#: the splitter does not count (it is excluded from both embed and LLM text).
_EMBED_LIMITS = {"title": 300, "orgs": 100, "topics": 100}
#: Tokens of embedded metadata a chunk carries at most: half of it, so every
#: chunk keeps 100 tokens of text whatever a digest puts in a title.
_EMBED_METADATA_TOKENS = CHUNK_SIZE // 2

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CatalogueChange:
    """What one ingest wrote, handed to whoever carries a catalogue forward
    (the engine) before the new version is stamped, so that the catalogue of the
    new version is built from the old one plus these records instead of reading
    every record back from Chroma.

    ``base`` is the version read before this ingest's first write; ``version`` is
    the one the ingest stamps next if nobody else stamps meanwhile (compare-and-set:
    see :meth:`~index.store.PaperStore.stamp_catalogue_version`).  ``papers`` are
    the records written (new, updated and moved), as a reader decodes them.
    """

    base: CatalogueVersion
    version: CatalogueVersion
    papers: list[Paper]


#: Builds (and saves) the catalogue of ``change.version``; None when it cannot
#: (no catalogue of ``change.base`` at hand).  Must not raise.
Prepare = Callable[[CatalogueChange], "Catalogue | None"]

#: Seconds between docstore writes during a long ingest (and always at the end).
PERSIST_EVERY_S = 20.0

@dataclass
class IngestReport:
    """The outcome of one ingest, in the shape of the CLI's JSON contract."""

    papers: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    read_anything: bool = False
    #: Whether the catalogue of the version this ingest stamped was built from the
    #: one before it plus the records written (and saved as a snapshot), so no
    #: process needs to read the store to reach it (see :class:`CatalogueChange`).
    carried_forward: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "papers": self.papers,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": [asdict(s) for s in self.skipped],
        }


def paper_document(paper: Paper) -> Document:
    """The LlamaIndex document for a paper; its id is the paper id, its hash covers
    every field, so any edit to the record counts as an update."""
    body = "\n\n".join(part for part in (paper.headline, paper.summary) if part) or paper.title
    metadata = {
        "paper_id": paper.paper_id,
        "title": truncate(paper.title, _EMBED_LIMITS["title"]),
        "url": paper.url or "",
        "arxiv_id": paper.arxiv_id or "",
        "date": paper.date or "",
        "date_int": _date_int(paper.date),
        "week": paper.week or "",
        "orgs": truncate(", ".join(paper.orgs), _EMBED_LIMITS["orgs"]),
        "topics": truncate(", ".join(paper.topics), _EMBED_LIMITS["topics"]),
        PAPER_JSON_KEY: paper_record_json(paper),
    }
    _fit_metadata(metadata)
    hidden = [k for k in _ALL_KEYS if k not in _EMBED_KEYS]
    return Document(
        id_=paper.paper_id,
        text=body,
        metadata=metadata,
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
    )


def _fit_metadata(metadata: dict[str, Any]) -> None:
    """Shorten the embedded metadata values (longest first) until they fit in
    :data:`_EMBED_METADATA_TOKENS`: 300 characters of an unusual title can be
    more tokens than a whole chunk."""
    from llama_index.core.utils import get_tokenizer

    tokenizer = get_tokenizer()
    while True:
        text = "\n".join(f"{k}: {metadata[k]}" for k in _EMBED_KEYS)
        if len(tokenizer(text)) <= _EMBED_METADATA_TOKENS:
            return
        longest = max(_EMBED_KEYS, key=lambda k: len(metadata[k]))
        metadata[longest] = truncate(metadata[longest], max(len(metadata[longest]) * 3 // 4, 2))


def _date_int(date: str | None) -> int:
    """YYYYMMDD as an int, so Chroma can filter date ranges numerically."""
    digits = (date or "").replace("-", "")
    return int(digits) if len(digits) == 8 and digits.isdigit() else 0


def _same_but_position(a: Paper, b: Paper) -> bool:
    """Two records that differ only in where the digests list the paper (line
    numbers, which mention comes first): the embedded text is the same."""

    def content(p: Paper) -> dict[str, Any]:
        d = p.to_dict()
        d.pop("line")
        d.pop("source")
        d["sources"] = sorted((m.source, m.week or "") for m in p.sources)
        return d

    return content(a) == content(b)


class Ingestor:
    """Runs parsed papers through the LlamaIndex pipeline into the paper store."""

    def __init__(
        self, store: PaperStore, embed_model: BaseEmbedding, docstore_dir: Path, prepare: Prepare | None = None
    ) -> None:
        """``prepare``: called after every write succeeded and before the new
        version is stamped, to build the new version's catalogue (and snapshot)
        so that other processes never see the version without it."""
        self.store = store
        self.embed_model = embed_model
        self.docstore_path = Path(docstore_dir) / f"{store.name}.json"
        self.prepare = prepare
        #: After an ingest: the catalogue of the version it stamped, built by
        #: ``prepare``; None when nothing was written, nothing was prepared, or
        #: another process stamped in between.  Kept here, not in the report, which
        #: front ends may hold on to long after the catalogue is replaced.
        self.catalogue: Catalogue | None = None

    def ingest(self, parsed: ParseResult, progress: Progress | None = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(skipped=list(parsed.skipped), read_anything=bool(parsed.papers))
        self.catalogue = None
        # Before anything is read or written: a catalogue of this version holds at
        # least every record stamped so far, the base this ingest's records go on.
        base = self.store.catalogue_version()
        ingested_sources = {m.source for p in parsed.papers for m in p.sources}
        stored = {p.paper_id: p for p in self.store.get_papers([p.paper_id for p in parsed.papers])}
        # A paper already stored under another name (another digest's title for
        # the same arXiv id) keeps its id, so it is updated, not indexed twice.
        # Only papers not found by id are looked up, so a re-ingest asks nothing more.
        unknown = [p.arxiv_id for p in parsed.papers if p.paper_id not in stored and p.arxiv_id]
        fresh_papers = list(parsed.papers)
        if unknown:
            fresh_papers = adopt_stored_ids(fresh_papers, self.store.papers_with_arxiv_ids(unknown))
            adopted = [p.paper_id for p in fresh_papers if p.paper_id not in stored]
            stored.update((p.paper_id, p) for p in self.store.get_papers(adopted))
        changed: list[Paper] = []
        moved: list[Paper] = []
        for fresh in fresh_papers:
            before = stored.get(fresh.paper_id)
            after = combine(before, fresh, ingested_sources)
            if before is None:
                changed.append(after)
            elif before.to_dict() == after.to_dict():
                report.unchanged += 1
            else:
                (moved if _same_but_position(before, after) else changed).append(after)
        changed = self._indexable(changed, report)
        report.new = sum(1 for p in changed if p.paper_id not in stored)
        report.updated = len(changed) - report.new + len(moved)
        prepared: Catalogue | None = None
        try:
            if moved:
                self.store.update_records(moved)
            if changed:
                self._write(changed, progress)
            if (moved or changed) and self.prepare is not None:
                prepared = self._prepare(base, [*changed, *moved])
        finally:
            # Every process reading this collection learns of the change from a new
            # catalogue version, also after a partial write (what was written is
            # kept and should be seen).  A collection without a version yet gets one.
            stamped = self._stamp_version(
                wrote=bool(moved or changed), prepared=prepared.version if prepared else None, base=base
            )
        report.papers = self.store.count_papers()
        if prepared is not None and stamped is not None and stamped.key == prepared.version.key:
            from index.catalogue import Catalogue

            # The same catalogue under the version as stamped (its time is the stamp's).
            self.catalogue = Catalogue(stamped, prepared.papers, prepared.retriever, prepared.lookup, prepared.origin)
        report.seconds = time.perf_counter() - started
        log.info(
            "ingest: %d papers in store; %d new, %d updated, %d unchanged, %d skipped (%.2fs)",
            report.papers, report.new, report.updated, report.unchanged, len(report.skipped), report.seconds,
        )
        return report

    @staticmethod
    def _indexable(papers: Sequence[Paper], report: IngestReport) -> list[Paper]:
        """The papers the splitter accepts; each one it rejects is reported as
        skipped, with its reason, so one odd paper never stops the others.

        Chunking is cheap next to embedding, so every changed paper is split once
        here, before anything is written."""
        kept: list[Paper] = []
        for paper in papers:
            try:
                for transform in _chunking():
                    transform([paper_document(paper)])
            except Exception as exc:  # the splitter raises ValueError, but any failure is this paper's
                log.warning("paper %s cannot be indexed", paper.paper_id, exc_info=True)
                title = paper.title if len(paper.title) <= 80 else paper.title[:79] + "…"
                report.skipped.append(
                    Skipped(paper.source, paper.line, f"paper “{title}” not indexed: {type(exc).__name__}: {str(exc)[:160]}")
                )
                continue
            kept.append(paper)
        return kept

    def _prepare(self, base: CatalogueVersion, written: Sequence[Paper]) -> Catalogue | None:
        """The catalogue of the version about to be stamped, or None (then every
        reader builds it from the store, as after any ingest that prepares none)."""
        assert self.prepare is not None
        change = CatalogueChange(
            base=base,
            version=CatalogueVersion(base.collection_id, uuid.uuid4().hex, time.time()),
            papers=[as_stored(p) for p in written],
        )
        try:
            return self.prepare(change)
        except Exception:  # noqa: BLE001 - an optimisation: the ingest itself succeeded
            log.warning("could not prepare the catalogue of the new version; readers rebuild it", exc_info=True)
            return None

    def _stamp_version(
        self, wrote: bool, prepared: CatalogueVersion | None, base: CatalogueVersion
    ) -> CatalogueVersion | None:
        """Stamp a new version (``prepared``'s if the collection is still at
        ``base``); the version written, or None if none was (or it failed)."""
        try:
            if wrote or not self.store.catalogue_version().stamp:
                with self._stamp_lock():
                    return self.store.stamp_catalogue_version(
                        stamp=prepared.stamp if prepared else None, expect=base if prepared else None
                    )
        except Exception:  # noqa: BLE001 - the store failing now is reported by the write or count
            log.warning("could not record a new catalogue version; other processes see this ingest late", exc_info=True)
        return None

    @contextmanager
    def _stamp_lock(self) -> Iterator[None]:
        """Serialise stamping between the processes of one data dir, so reading the
        version and writing the next one is a true compare-and-set among them
        (Chroma has none).  Processes on other machines sharing a Chroma server
        are not covered; the engine's paper count check catches most of those."""
        path = self.docstore_path.with_name(f"{self.store.name}.stamp.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, papers: Sequence[Paper], progress: Progress | None) -> None:
        pipeline, docstore = self._pipeline()
        done = 0
        persisted_at = time.monotonic()
        for start in range(0, len(papers), BATCH_PAPERS):
            batch = papers[start : start + BATCH_PAPERS]
            last = start + BATCH_PAPERS >= len(papers)
            try:
                # Chunks may exist without a docstore entry (a crash mid-ingest, or
                # another machine's ingest into a shared server): clear them first so
                # a paper never ends up with two sets of chunks.
                self.store.delete_chunks([p.paper_id for p in batch if docstore.get_document_hash(p.paper_id) is None])
                pipeline.run(documents=[paper_document(p) for p in batch])
                # The docstore file holds every paper, so writing it after each batch
                # would make a large ingest quadratic; a crash between writes only
                # leaves chunks that the line above clears on the next run.
                if last or time.monotonic() - persisted_at >= PERSIST_EVERY_S:
                    self._persist(docstore)
                    persisted_at = time.monotonic()
            except StoreUnavailable:
                raise
            except Exception as exc:  # Chroma, SQLite and the file system fail in many types
                log.debug("writing to the index failed", exc_info=True)
                raise StoreUnavailable(
                    f"writing to the index failed after {done} of {len(papers)} changed papers "
                    f"({self._why(exc)}); what was written is kept, run the ingest again to finish"
                ) from exc
            done += len(batch)
            if progress is not None:
                progress(done, len(papers))

    def _why(self, exc: Exception) -> str:
        """A short cause for the user; a full disk is the common one and Chroma's
        own error does not say so."""
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return "the disk is full"
        return storage_problem(self.docstore_path.parent) or f"{type(exc).__name__}: {str(exc)[:200]}"

    def _pipeline(self) -> tuple[IngestionPipeline, SimpleDocumentStore]:
        """The ingestion pipeline and its docstore (what was embedded, by paper id)."""
        docstore = (
            SimpleDocumentStore.from_persist_path(str(self.docstore_path))
            if self.docstore_path.is_file()
            else SimpleDocumentStore()
        )
        pipeline = IngestionPipeline(
            transformations=[*_chunking(), self.embed_model],
            docstore=docstore,
            vector_store=self.store.vector_store(),
            docstore_strategy=DocstoreStrategy.UPSERTS,
            disable_cache=True,
        )
        return pipeline, docstore

    @staticmethod
    def texts_to_embed(papers: Sequence[Paper]) -> list[str]:
        """Exactly the texts the pipeline hands the embedding model for ``papers``
        (chunks with their embedded metadata), so the ingest benchmark can time the
        model alone on the same input as the pipeline."""
        nodes: Sequence[BaseNode] = [paper_document(p) for p in papers]
        for transform in _chunking():
            nodes = transform(nodes)
        return [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]

    def _persist(self, docstore: SimpleDocumentStore) -> None:
        """Write the docstore atomically: a crash mid-write must not corrupt it."""
        self.docstore_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.docstore_path.with_suffix(".json.tmp")
        docstore.persist(str(tmp))
        os.replace(tmp, self.docstore_path)


def _chunking() -> list[TransformComponent]:
    """The pipeline's transformations before embedding: sentence chunks, numbered per paper."""
    splitter = SentenceSplitter(
        chunk_size=CHUNK_SIZE,
        chunk_overlap=CHUNK_OVERLAP,
        id_func=lambda i, doc: f"{doc.id_}#{i}",
    )
    return [splitter, ChunkNumberer()]


class MiniLMEmbedding(BaseEmbedding):
    """The offline model (:mod:`index.embedding`) as a LlamaIndex embedding, for the
    pipeline; always passed explicitly, never through LlamaIndex's global Settings."""

    model_name: str = MODEL_NAME
    embed_batch_size: int = 64

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return embed_query(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return embed_query(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return embed_query(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return embed_batch(texts).tolist()


class ChunkNumberer(TransformComponent):
    """Number each paper's chunks and keep the full record on chunk 0 only.

    The store rebuilds the paper catalogue from chunk 0, so the JSON record need
    not be repeated on every chunk.
    """

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        seen: dict[str, int] = {}
        for node in nodes:
            ref = node.ref_doc_id or node.id_
            n = seen.get(ref, 0)
            seen[ref] = n + 1
            node.metadata[CHUNK_KEY] = n
            if n:
                node.metadata.pop(PAPER_JSON_KEY, None)
            for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
                if CHUNK_KEY not in excluded:
                    excluded.append(CHUNK_KEY)
        return nodes
