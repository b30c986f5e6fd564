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
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent
from llama_index.core.storage.docstore import SimpleDocumentStore

from index.embedding import MODEL_NAME, embed_batch, embed_query
from index.models import Mention, Paper, ParseResult, Skipped
from index.store import (
    CHUNK_KEY,
    CHUNK_OVERLAP,
    CHUNK_SIZE,
    PAPER_JSON_KEY,
    PaperStore,
    StoreUnavailable,
    paper_record_json,
)

log = logging.getLogger(__name__)

#: Papers per pipeline run: bounds memory at 100k papers and lets progress show.
BATCH_PAPERS = 64

_EMBED_KEYS = ("title", "orgs", "topics")
_ALL_KEYS = ("paper_id", "title", "url", "arxiv_id", "date", "date_int", "week", "orgs", "topics", PAPER_JSON_KEY)

Progress = Callable[[int, int], None]

#: Seconds between docstore writes during a long ingest (and always at the end).
PERSIST_EVERY_S = 20.0

#: Below this much free space a failed write is reported as a full disk.
LOW_DISK_BYTES = 16 * 1024 * 1024


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

    def to_json(self) -> dict[str, Any]:
        return {
            "papers": self.papers,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": [{"source": s.source, "line": s.line, "reason": s.reason} for s in self.skipped],
        }


def paper_document(paper: Paper) -> Document:
    """The LlamaIndex document for a paper; its id is the paper id, its hash covers
    every field, so any edit to the record counts as an update."""
    body = "\n\n".join(part for part in (paper.headline, paper.summary) if part) or paper.title
    metadata = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "url": paper.url or "",
        "arxiv_id": paper.arxiv_id or "",
        "date": paper.date or "",
        "date_int": _date_int(paper.date),
        "week": paper.week or "",
        "orgs": ", ".join(paper.orgs),
        "topics": ", ".join(paper.topics),
        PAPER_JSON_KEY: paper_record_json(paper),
    }
    hidden = [k for k in _ALL_KEYS if k not in _EMBED_KEYS]
    return Document(
        id_=paper.paper_id,
        text=body,
        metadata=metadata,
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
    )


def _date_int(date: str | None) -> int:
    """YYYYMMDD as an int, so Chroma can filter date ranges numerically."""
    digits = (date or "").replace("-", "")
    return int(digits) if len(digits) == 8 and digits.isdigit() else 0


def combine(stored: Paper | None, fresh: Paper, ingested_sources: set[str]) -> Paper:
    """Fold a freshly parsed paper into what the store already holds.

    Mentions from the sources being ingested now are replaced (so an edited entry
    is updated in place, and re-runs never grow the mention list); mentions from
    other digests are kept, and so is the richer text when another digest has it.
    """
    if stored is None:
        return fresh
    kept = [m for m in stored.sources if m.source not in ingested_sources]
    if not kept:
        return fresh
    mentions = sorted(set(kept) | set(fresh.sources), key=_mention_key)
    first = mentions[0]
    return replace(
        fresh,
        url=fresh.url or stored.url,
        arxiv_id=fresh.arxiv_id or stored.arxiv_id,
        date=min(filter(None, (fresh.date, stored.date)), default=None),
        week=first.week or fresh.week or stored.week,
        source=first.source,
        line=first.line,
        headline=fresh.headline or stored.headline,
        summary=max((fresh.summary, stored.summary), key=len),
        orgs=list(dict.fromkeys([*fresh.orgs, *stored.orgs])),
        topics=list(dict.fromkeys([*fresh.topics, *stored.topics])),
        sources=mentions,
    )


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


def _mention_key(m: Mention) -> tuple[str, str, int]:
    return (m.week or "9999", m.source, m.line or 0)


class Ingestor:
    """Runs parsed papers through the LlamaIndex pipeline into the paper store."""

    def __init__(self, store: PaperStore, embed_model: BaseEmbedding, docstore_dir: Path) -> None:
        self.store = store
        self.embed_model = embed_model
        self.docstore_path = Path(docstore_dir) / f"{store.name}.json"

    def ingest(self, parsed: ParseResult, progress: Progress | None = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(skipped=list(parsed.skipped), read_anything=bool(parsed.papers))
        ingested_sources = {m.source for p in parsed.papers for m in p.sources}
        stored = {p.paper_id: p for p in self.store.get_papers([p.paper_id for p in parsed.papers])}
        changed: list[Paper] = []
        moved: list[Paper] = []
        for fresh in parsed.papers:
            before = stored.get(fresh.paper_id)
            after = combine(before, fresh, ingested_sources)
            if before is None:
                report.new += 1
                changed.append(after)
            elif before.to_dict() == after.to_dict():
                report.unchanged += 1
            else:
                report.updated += 1
                (moved if _same_but_position(before, after) else changed).append(after)
        try:
            if moved:
                self.store.update_records(moved)
            if changed:
                self._write(changed, progress)
        finally:
            # Every process reading this collection learns of the change from a new
            # catalogue version, also after a partial write (what was written is
            # kept and should be seen).  A collection without a version yet gets one.
            self._stamp_version(wrote=bool(moved or changed))
        report.papers = self.store.count_papers()
        report.seconds = time.perf_counter() - started
        log.info(
            "ingest: %d papers in store; %d new, %d updated, %d unchanged, %d skipped (%.2fs)",
            report.papers, report.new, report.updated, report.unchanged, len(report.skipped), report.seconds,
        )
        return report

    def _stamp_version(self, wrote: bool) -> None:
        try:
            if wrote or not self.store.catalogue_version().stamp:
                self.store.stamp_catalogue_version()
        except Exception:  # noqa: BLE001 - the store failing now is reported by the write or count
            log.warning("could not record a new catalogue version; other processes see this ingest late", exc_info=True)

    def _write(self, papers: Sequence[Paper], progress: Progress | None) -> None:
        pipeline = self._pipeline()
        done = 0
        persisted_at = time.monotonic()
        for start in range(0, len(papers), BATCH_PAPERS):
            batch = papers[start : start + BATCH_PAPERS]
            last = start + BATCH_PAPERS >= len(papers)
            try:
                # Chunks may exist without a docstore entry (a crash mid-ingest, or
                # another machine's ingest into a shared server): clear them first so
                # a paper never ends up with two sets of chunks.
                self.store.delete_chunks([p.paper_id for p in batch if pipeline.docstore.get_document_hash(p.paper_id) is None])
                pipeline.run(documents=[paper_document(p) for p in batch])
                # The docstore file holds every paper, so writing it after each batch
                # would make a large ingest quadratic; a crash between writes only
                # leaves chunks that the line above clears on the next run.
                if last or time.monotonic() - persisted_at >= PERSIST_EVERY_S:
                    self._persist(pipeline)
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
        where = self.docstore_path.parent
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            free: int | None = shutil.disk_usage(where).free
        except OSError:
            free = None
        if free is not None and free < LOW_DISK_BYTES:
            return f"the disk is full: {free // 1024} KB free"
        return f"{type(exc).__name__}: {str(exc)[:200]}"

    def _pipeline(self) -> IngestionPipeline:
        docstore = (
            SimpleDocumentStore.from_persist_path(str(self.docstore_path))
            if self.docstore_path.is_file()
            else SimpleDocumentStore()
        )
        return IngestionPipeline(
            transformations=[*_chunking(), self.embed_model],
            docstore=docstore,
            vector_store=self.store.vector_store(),
            docstore_strategy=DocstoreStrategy.UPSERTS,
            disable_cache=True,
        )

    @staticmethod
    def texts_to_embed(papers: Sequence[Paper]) -> list[str]:
        """Exactly the texts the pipeline hands the embedding model for ``papers``
        (chunks with their embedded metadata), so the ingest benchmark can time the
        model alone on the same input as the pipeline."""
        nodes: Sequence[BaseNode] = [paper_document(p) for p in papers]
        for transform in _chunking():
            nodes = transform(nodes)
        return [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]

    def _persist(self, pipeline: IngestionPipeline) -> None:
        """Write the docstore atomically: a crash mid-write must not corrupt it."""
        self.docstore_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.docstore_path.with_suffix(".json.tmp")
        pipeline.docstore.persist(str(tmp))
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
