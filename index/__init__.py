"""paperbot's knowledge engine: digests → papers → vectors → retrieval → cited answers.

Nothing in this package imports discord; the bot and the CLI are thin layers over
it and import only the names below (``from index import Engine, StoreUnavailable``),
never ``index.<module>``.  The names resolve on first use (:pep:`562`), so
``import index`` costs nothing: ``paperbot --help`` must not load Chroma, numpy
or LlamaIndex just to print its usage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.answer import Answer, Citation, Turn
    from index.catalogue import CatalogueWatcher
    from index.engine import Engine, Stats
    from index.evaluate import QuestionFileError, evaluate_file, load_questions
    from index.formats import score_formats
    from index.freshness import RefreshReport, SourceRecord
    from index.llm import LLMError
    from index.lookup import LookupMatch
    from index.models import Paper
    from index.pipeline import IngestReport
    from index.retrieve import Hit, SearchFilters
    from index.sqlitedb import DatabaseUnavailable, Schema, SQLiteFile
    from index.store import IndexMissing, StoreUnavailable, index_location
    from index.text import truncate

#: Public name → the module that defines it.
_HOMES = {
    "Answer": "index.answer",
    "Citation": "index.answer",
    "Turn": "index.answer",
    "CatalogueWatcher": "index.catalogue",
    "Engine": "index.engine",
    "Stats": "index.engine",
    "QuestionFileError": "index.evaluate",
    "evaluate_file": "index.evaluate",
    "load_questions": "index.evaluate",
    "score_formats": "index.formats",
    "RefreshReport": "index.freshness",
    "SourceRecord": "index.freshness",
    "LLMError": "index.llm",
    "LookupMatch": "index.lookup",
    "Paper": "index.models",
    "IngestReport": "index.pipeline",
    "Hit": "index.retrieve",
    "SearchFilters": "index.retrieve",
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
    "Hit",
    "IndexMissing",
    "IngestReport",
    "LLMError",
    "LookupMatch",
    "Paper",
    "QuestionFileError",
    "RefreshReport",
    "SQLiteFile",
    "Schema",
    "SearchFilters",
    "SourceRecord",
    "Stats",
    "StoreUnavailable",
    "Turn",
    "evaluate_file",
    "index_location",
    "load_questions",
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
