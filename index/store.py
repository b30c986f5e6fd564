"""The only module that opens Chroma.

Embedded (``PersistentClient`` under the data dir) by default, a Chroma server
(``HttpClient``) when ``CHROMA_HOST`` is set, in the database ``CHROMA_DATABASE``
(created on first use).  Keeping every Chroma call here
means the rest of the engine sees papers and scores, never Chroma's types, and a
switch to server mode touches one file.

Chroma holds one node per chunk of a paper.  The first chunk of every paper
(``chunk == 0``) carries the whole :class:`Paper` record as JSON, so the paper
catalogue can be rebuilt from the store alone: a bot talking to a shared Chroma
server needs no local copy of the digests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from index.models import Paper

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Metadata, Where
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from config import Settings

log = logging.getLogger(__name__)

#: Bumped whenever parsing or chunking changes what goes into a vector.
PARSE_VERSION = "2"
CHUNK_SIZE = 200
CHUNK_OVERLAP = 30
PAPER_JSON_KEY = "paper_json"
CHUNK_KEY = "chunk"
#: Ids per page when listing papers.  Chroma pages by offset, and a page costs
#: more the further in it starts: at 100k papers, reading whole records in pages
#: of 1,000 took 40 s, pages of 10,000 held ~270 MB more at peak.  So ids are
#: listed in large pages (they are small) and the records fetched by id, which
#: is indexed: 12.6 s at 100k papers, 1.2 s at 10k.
_ID_PAGE = 10_000
_RECORD_BATCH = 1000
#: Ids per ``$in`` filter: SQLite refuses a statement with more than 32,766
#: variables, which a 100k-paper ingest or a wide date filter would exceed.
_ID_BATCH = 5000
#: Chroma's own default database name (``CHROMA_DATABASE`` default).
DEFAULT_DATABASE = "default_database"
#: HNSW search breadth.  Against an exact cosine search (bench/query.py), recall@10
#: of the papers with Chroma's default (100) was 0.93 at 10k papers; 400 gave 0.99
#: at 10k but 0.925 at 100k; 1000 gave 0.971 and 2000 0.991 at 100k, for a dense
#: query p95 of 50 ms there.  It can change on an existing collection in place.
HNSW_EF_SEARCH = 2000
#: Collection metadata keys of the catalogue version (see :meth:`PaperStore.catalogue_version`).
VERSION_KEY = "paperbot_catalogue_version"
CHANGED_AT_KEY = "paperbot_catalogue_changed_at"


class StoreUnavailable(RuntimeError):
    """Chroma cannot be reached or opened; the message is safe to show users."""


class IndexMissing(RuntimeError):
    """Nothing was ever indexed where the settings point (opened with ``create=False``).

    Read commands open the store this way so that a mistyped ``--data-dir`` is an
    error instead of a new, empty index that answers "no papers found".
    """

    def __init__(self, where: str) -> None:
        super().__init__(f"no papers indexed in {where}")
        self.where = where


def index_location(settings: Settings) -> str:
    """Where the index lives, as users name it: the data dir, or the server and database."""
    if settings.chroma_host:
        return (
            f"database {settings.chroma_database} on the Chroma server "
            f"{settings.chroma_host}:{settings.chroma_port or 8000}"
        )
    return str(settings.data_dir)


@dataclass(frozen=True)
class CatalogueVersion:
    """Which state of the collection a catalogue was read from.

    ``stamp`` is new after every ingest that changed the collection (any process,
    any machine); ``collection_id`` is Chroma's id of the collection itself, so a
    collection deleted and made again under the same name is never taken for the
    old one.  ``changed_at`` (epoch seconds) says how old the stamp is.
    """

    collection_id: str
    stamp: str
    changed_at: float = 0.0

    @property
    def key(self) -> str:
        """What a persisted snapshot must match to be used for this version."""
        return f"{self.collection_id}/{self.stamp}"


@dataclass(frozen=True)
class DenseHit:
    """One chunk returned by a vector query, reduced to what retrieval needs."""

    paper_id: str
    similarity: float
    text: str


def collection_name(embed_model: str) -> str:
    """A Chroma collection name unique to the embedding model and parse settings.

    Vectors from different models (or chunked differently) must never share a
    collection, so both go into the name; the hash keeps it within Chroma's
    3-512 character, restricted-alphabet rule.
    """
    signature = f"{embed_model}|parse={PARSE_VERSION};chunk={CHUNK_SIZE}/{CHUNK_OVERLAP}"
    digest = hashlib.sha1(signature.encode()).hexdigest()[:12]
    return f"papers-{digest}"


def open_client(settings: Settings, create: bool = True) -> ClientAPI:
    """Open Chroma as configured; raise :class:`StoreUnavailable` with a clear reason.

    With ``create=False`` nothing is created: no data dir, no ``chroma/`` folder, no
    server database; :class:`IndexMissing` says that there is nothing to open.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.errors import NotFoundError

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    database = settings.chroma_database
    try:
        if settings.chroma_host:
            port = settings.chroma_port or 8000
            log.info("connecting to Chroma server at %s:%s, database %s", settings.chroma_host, port, database)
            try:
                return _http_client(settings.chroma_host, port, database, chroma_settings, create)
            except NotFoundError:
                if create:
                    raise
                raise IndexMissing(index_location(settings)) from None
        path = Path(settings.data_dir) / "chroma"
        if not create and not (path / "chroma.sqlite3").is_file():
            raise IndexMissing(index_location(settings))
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except IndexMissing:
        raise
    except Exception as exc:  # chromadb raises many types (ValueError, ConnectError, OSError...)
        where = (
            f"Chroma server {settings.chroma_host}:{settings.chroma_port or 8000} (database {database})"
            if settings.chroma_host
            else f"the Chroma store in {Path(settings.data_dir) / 'chroma'}"
        )
        log.debug("opening Chroma failed", exc_info=True)
        raise StoreUnavailable(f"cannot open {where}: {type(exc).__name__}: {exc}") from exc


def _http_client(host: str, port: int, database: str, chroma_settings: Any, create: bool) -> ClientAPI:
    """``HttpClient`` on ``database``, creating the database on first use (if ``create``).

    One Chroma server can hold several paperbots (or test runs), each in its own
    database; collection names only need to be unique within a database.
    """
    import chromadb
    from chromadb.errors import NotFoundError

    try:
        return chromadb.HttpClient(host=host, port=port, settings=chroma_settings, database=database)
    except NotFoundError:
        if database == DEFAULT_DATABASE or not create:
            raise
    # HttpClient filled in the server address in chroma_settings: the admin client reuses it.
    admin = chromadb.AdminClient(chroma_settings)
    try:
        admin.create_database(database)
        log.info("created database %s on the Chroma server", database)
    except Exception:  # noqa: BLE001 - created meanwhile by another process? the retry below tells
        log.debug("creating database %s failed", database, exc_info=True)
    return chromadb.HttpClient(host=host, port=port, settings=chroma_settings, database=database)


class PaperStore:
    """Papers and their vectors in one Chroma collection."""

    def __init__(self, client: ClientAPI, name: str, create: bool = True, location: str = "") -> None:
        """``create=False``: a missing collection raises :class:`IndexMissing` naming
        ``location`` instead of being created (a store opened only to read)."""
        self._client = client
        self.name = name
        self._create = create
        self._location = location
        self._collection: Collection | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, name: str, create: bool = True) -> PaperStore:
        """The store as configured; ``create=False`` opens only an index that exists
        and raises :class:`IndexMissing` otherwise (see :func:`open_client`)."""
        return cls(open_client(settings, create), name, create, index_location(settings))

    @property
    def collection(self) -> Collection:
        with self._lock:
            if self._collection is None:
                try:
                    collection = self._get_collection()
                    hnsw = (collection.configuration_json or {}).get("hnsw") or {}
                    if hnsw.get("ef_search") != HNSW_EF_SEARCH:
                        # A collection made before this setting: search breadth can
                        # change in place, the vectors stay valid.
                        collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})
                    self._collection = collection
                except IndexMissing:
                    raise
                except Exception as exc:
                    raise StoreUnavailable(f"cannot open collection {self.name}: {exc}") from exc
            return self._collection

    def _get_collection(self) -> Collection:
        from chromadb.errors import NotFoundError

        if self._create:
            return self._client.get_or_create_collection(
                self.name,
                configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
                embedding_function=None,
            )
        try:
            return self._client.get_collection(self.name, embedding_function=None)
        except NotFoundError:
            raise IndexMissing(self._location) from None

    def catalogue_version(self) -> CatalogueVersion:
        """The collection's current version, read fresh from Chroma (one small request).

        It lives in the collection's own metadata, so every process that can open
        the collection reads the same value, embedded or on a server, with no file
        beside the data that could drift from it.  A collection that no ingest has
        stamped yet (made before versions existed) has the stamp ``""``.
        """
        _ = self.collection  # made on first use, as every read does
        # The Collection object caches the metadata it was fetched with: ask again.
        fresh = self._client.get_collection(self.name, embedding_function=None)
        meta = fresh.metadata or {}
        changed_at = meta.get(CHANGED_AT_KEY)
        return CatalogueVersion(
            collection_id=str(fresh.id),
            stamp=str(meta.get(VERSION_KEY) or ""),
            changed_at=float(changed_at) if isinstance(changed_at, (int, float)) else 0.0,
        )

    def stamp_catalogue_version(
        self, stamp: str | None = None, expect: CatalogueVersion | None = None
    ) -> CatalogueVersion:
        """Record that the collection changed: every engine that reads the version
        next sees a new one and refreshes.  Call after the writes, never before, so
        that a reader who sees the new stamp also sees what it stands for.

        ``stamp`` (default: a new random one) is written only if the version is
        still ``expect`` (when given); otherwise another process stamped since
        ``expect`` was read, and a new random stamp is written instead, so a
        catalogue prepared for ``stamp`` (an ingest's snapshot) is never taken for
        the collection's state.  Returns the version written; the caller compares.
        """
        collection = self.collection
        meta = dict(self._client.get_collection(self.name, embedding_function=None).metadata or {})
        if stamp is None or (expect is not None and str(meta.get(VERSION_KEY) or "") != expect.stamp):
            if stamp is not None:
                log.info("catalogue version of %s moved on from %s meanwhile: not stamping %s",
                         self.name, expect.stamp if expect else None, stamp)
            stamp = uuid.uuid4().hex
        # modify() replaces the whole metadata: keep what others put there.
        meta[VERSION_KEY] = stamp
        meta[CHANGED_AT_KEY] = time.time()
        collection.modify(metadata=meta)
        log.info("catalogue version of %s is now %s", self.name, meta[VERSION_KEY])
        written = CatalogueVersion(str(collection.id), stamp, float(meta[CHANGED_AT_KEY]))
        # As readers will see it: a Chroma server gives the time back a little rounded.
        now = self.catalogue_version()
        return now if now.key == written.key else written

    def vector_store(self) -> ChromaVectorStore:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    def count_papers(self) -> int:
        return len(self._first_chunk_ids())

    def count_chunks(self) -> int:
        return self.collection.count()

    def _first_chunk_ids(self) -> list[str]:
        ids: list[str] = []
        offset = 0
        while True:
            page = self.collection.get(where={CHUNK_KEY: 0}, include=[], limit=_ID_PAGE, offset=offset)
            ids.extend(page["ids"])
            if len(page["ids"]) < _ID_PAGE:
                return ids
            offset += _ID_PAGE

    def papers(self) -> list[Paper]:
        """Every paper in the store, rebuilt from the first chunk's metadata."""
        found: dict[str, Paper] = {}
        ids = self._first_chunk_ids()
        for start in range(0, len(ids), _RECORD_BATCH):
            page = self.collection.get(ids=ids[start : start + _RECORD_BATCH], include=["metadatas"])
            for meta in page["metadatas"] or []:
                paper = _paper_from_metadata(meta)
                if paper is not None:
                    found[paper.paper_id] = paper
        return sorted(found.values(), key=lambda p: p.paper_id)

    def get_papers(self, paper_ids: Iterable[str]) -> list[Paper]:
        wanted = list(dict.fromkeys(paper_ids))
        if not wanted:
            return []
        by_id: dict[str, Paper] = {}
        for batch in _batches(wanted):
            page = self.collection.get(where=_first_chunks_where(_where_in("paper_id", batch)), include=["metadatas"])
            by_id.update((p.paper_id, p) for p in filter(None, map(_paper_from_metadata, page["metadatas"] or [])))
        return [by_id[i] for i in wanted if i in by_id]

    def papers_with_arxiv_ids(self, arxiv_ids: Iterable[str]) -> list[Paper]:
        """Stored papers under any of these arXiv ids, so an ingest can tell that
        a paper another digest already brought in is the same paper."""
        wanted = sorted(set(filter(None, arxiv_ids)))
        found: dict[str, Paper] = {}
        for batch in _batches(wanted):
            page = self.collection.get(where=_first_chunks_where(_where_in("arxiv_id", batch)), include=["metadatas"])
            found.update((p.paper_id, p) for p in filter(None, map(_paper_from_metadata, page["metadatas"] or [])))
        return sorted(found.values(), key=lambda p: p.paper_id)

    def update_records(self, papers: Sequence[Paper]) -> None:
        """Rewrite the stored record of papers whose text is unchanged, without
        re-embedding (a digest that gained a week at the top moves every older
        entry's line number, and that alone must not cost an embedding pass)."""
        by_id = {p.paper_id: p for p in papers}
        if not by_id:
            return
        for batch in _batches(list(by_id)):
            found = self.collection.get(where=_first_chunks_where(_where_in("paper_id", batch)), include=["metadatas"])
            ids: list[str] = []
            metadatas: list[Metadata] = []
            for chunk_id, meta in zip(found["ids"], found["metadatas"] or [], strict=False):
                paper = by_id.get(str((meta or {}).get("paper_id", "")))
                if paper is not None:
                    ids.append(chunk_id)
                    metadatas.append({PAPER_JSON_KEY: paper_record_json(paper)})
            if ids:
                self.collection.update(ids=ids, metadatas=metadatas)

    def delete_chunks(self, paper_ids: Sequence[str]) -> None:
        """Remove every chunk of these papers (one lookup and one delete, not one per paper)."""
        if not paper_ids:
            return
        for batch in _batches(list(paper_ids)):
            found = self.collection.get(where=_where_in("paper_id", batch), include=[])
            if found["ids"]:
                self.collection.delete(ids=found["ids"])

    def query(
        self, embedding: Sequence[float], n: int, paper_ids: Sequence[str] | None = None
    ) -> list[DenseHit]:
        """Nearest chunks by cosine similarity, optionally within a set of papers."""
        total = self.count_chunks()
        if total == 0 or n <= 0:
            return []
        if paper_ids is None:
            return self._query(embedding, min(n, total), None)
        # A wide filter is split; the nearest n of each part merge into the nearest n overall.
        hits = [
            hit
            for batch in _batches(list(paper_ids))
            for hit in self._query(embedding, min(n, total), _where_in("paper_id", batch))
        ]
        return sorted(hits, key=lambda h: -h.similarity)[:n]

    def _query(self, embedding: Sequence[float], n: int, where: Where | None) -> list[DenseHit]:
        queries: list[Sequence[float]] = [embedding]
        result = self.collection.query(
            query_embeddings=queries,
            n_results=n,
            where=where,
            include=["metadatas", "distances", "documents"],
        )
        metadatas, distances = result["metadatas"], result["distances"]
        if not metadatas or not distances:
            return []
        hits: list[DenseHit] = []
        for meta, distance, doc in zip(
            metadatas[0], distances[0], (result.get("documents") or [[]])[0] or [], strict=False
        ):
            hits.append(DenseHit(str(meta.get("paper_id", "")), 1.0 - float(distance), doc or ""))
        return hits


def _where_in(key: str, values: Sequence[str]) -> Where:
    """Chroma's filter "the metadata ``key`` is one of ``values``"."""
    members: dict[Literal["$in", "$nin"], list[str | int | float | bool]] = {"$in": list(values)}
    return {key: members}


def _first_chunks_where(clause: Where) -> Where:
    """``clause``, on the first chunk of each paper only (the one holding the paper record)."""
    return {"$and": [{CHUNK_KEY: 0}, clause]}


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _ID_BATCH):
        yield ids[start : start + _ID_BATCH]


def paper_record_json(paper: Paper) -> str:
    """The paper record as stored on its first chunk."""
    return json.dumps(paper.to_dict(), sort_keys=True, ensure_ascii=False)


def as_stored(paper: Paper) -> Paper:
    """``paper`` exactly as a reader decodes it from its stored record, so a
    catalogue carried forward from an ingest's own records equals one read back."""
    decoded = _paper_from_metadata({PAPER_JSON_KEY: paper_record_json(paper)})
    if decoded is None:  # the record was written by this very function: cannot happen
        raise ValueError(f"paper {paper.paper_id} does not survive its own record")
    return decoded


def _paper_from_metadata(meta: Any) -> Paper | None:
    if not meta or PAPER_JSON_KEY not in meta:
        return None
    try:
        return Paper.from_dict(json.loads(meta[PAPER_JSON_KEY]))
    except (TypeError, ValueError, AttributeError) as exc:  # not JSON, or not a record's shape
        log.warning("unreadable paper record in the store: %s", exc)
        return None
