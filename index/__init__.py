"""paperbot's knowledge engine: digests → papers → vectors → retrieval → cited answers.

Nothing in this package imports discord; the bot, the CLI and the benchmarks are
thin layers over it and import only the names below (``from index import Engine,
StoreUnavailable``), never ``index.<module>`` (tests/test_public_api.py checks).
Besides the engine, the public surface holds the parts a script measures on their
own: parsing (``parse_digest``, ``parse_sources``), embedding (``embed_batch``,
``embed_query``), the indexes built without Chroma (``LexicalIndex``, ``Retriever``,
``PaperLookup``), the ingest pipeline (``Ingestor``) and the engine's vector store
on its own (``open_store``).  The names resolve on first use (:pep:`562`), so
``import index`` costs nothing: ``paperbot --help`` must not load Chroma, numpy
or LlamaIndex just to print its usage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.answer import Answer, Citation, Turn
    from index.catalogue import CatalogueWatcher
    from index.digests import parse_digest
    from index.embedding import embed_batch, embed_query
    from index.engine import Engine, Stats, open_store
    from index.evaluate import FileReport, QuestionFileError, evaluate_file, load_questions
    from index.formats import score_formats
    from index.freshness import RefreshReport, SourceRecord
    from index.lexical import LexicalIndex
    from index.llm import LLMError
    from index.lookup import LookupMatch, PaperLookup
    from index.models import Paper
    from index.pipeline import Ingestor, IngestReport
    from index.retrieve import MODES, Hit, Retriever, SearchFilters
    from index.sources import parse_sources
    from index.sqlitedb import DatabaseUnavailable, Schema, SQLiteFile
    from index.store import IndexMissing, StoreUnavailable, index_location
    from index.text import truncate

#: Public name → the module that defines it.
_HOMES = {
    "Answer": "index.answer",
    "Citation": "index.answer",
    "Turn": "index.answer",
    "CatalogueWatcher": "index.catalogue",
    "parse_digest": "index.digests",
    "embed_batch": "index.embedding",
    "embed_query": "index.embedding",
    "Engine": "index.engine",
    "Stats": "index.engine",
    "open_store": "index.engine",
    "FileReport": "index.evaluate",
    "QuestionFileError": "index.evaluate",
    "evaluate_file": "index.evaluate",
    "load_questions": "index.evaluate",
    "score_formats": "index.formats",
    "RefreshReport": "index.freshness",
    "SourceRecord": "index.freshness",
    "LexicalIndex": "index.lexical",
    "LLMError": "index.llm",
    "LookupMatch": "index.lookup",
    "PaperLookup": "index.lookup",
    "Paper": "index.models",
    "IngestReport": "index.pipeline",
    "Ingestor": "index.pipeline",
    "Hit": "index.retrieve",
    "MODES": "index.retrieve",
    "Retriever": "index.retrieve",
    "SearchFilters": "index.retrieve",
    "parse_sources": "index.sources",
    "DatabaseUnavailable": "index.sqlitedb",
    "Schema": "index.sqlitedb",
    "SQLiteFile": "index.sqlitedb",
    "IndexMissing": "index.store",
    "StoreUnavailable": "index.store",
    "index_location": "index.store",
    "truncate": "index.text",
}

__all__ = [
    "Answer",
    "CatalogueWatcher",
    "Citation",
    "DatabaseUnavailable",
    "Engine",
    "FileReport",
    "Hit",
    "IndexMissing",
    "IngestReport",
    "Ingestor",
    "LLMError",
    "LexicalIndex",
    "LookupMatch",
    "MODES",
    "Paper",
    "PaperLookup",
    "QuestionFileError",
    "RefreshReport",
    "Retriever",
    "SQLiteFile",
    "Schema",
    "SearchFilters",
    "SourceRecord",
    "Stats",
    "StoreUnavailable",
    "Turn",
    "embed_batch",
    "embed_query",
    "evaluate_file",
    "index_location",
    "load_questions",
    "open_store",
    "parse_digest",
    "parse_sources",
    "score_formats",
    "truncate",
]


def __getattr__(name: str) -> Any:
    """Import the defining module of a public name on first access."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
