"""The engine's public API: front ends and benchmarks import only ``from index import ...``.

``index/__init__.py`` is the one list of what outside code may rely on; a module in
``bot/`` or ``bench/`` that imports ``index.<module>`` couples itself to the engine's
internal layout, which is free to change.  These checks read the source (an AST walk,
nothing is imported), so they also cover bench scripts no test runs.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import index

REPO_ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("bot", "bench")


def index_submodule_imports(source: str) -> list[tuple[int, str]]:
    """(line, imported name) of every import that reaches into ``index.<module>``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("index.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("index."):
                found.append((node.lineno, node.module))
            elif node.module == "index":
                # ``from index import retrieve`` names a submodule, not a public name.
                found += [(node.lineno, f"index.{a.name}") for a in node.names if a.name not in index.__all__]
    return found


def front_end_files() -> list[Path]:
    return sorted(p for package in FRONT_ENDS for p in (REPO_ROOT / package).rglob("*.py"))


def test_the_walk_sees_every_form_of_reaching_in() -> None:
    source = (
        "import index.engine\n"
        "from index.store import StoreUnavailable\n"
        "def f():\n"
        "    from index.embedding import embed_query\n"
        "from index import retrieve\n"
        "from index import Engine, StoreUnavailable\n"
        "import index\n"
    )
    assert sorted(index_submodule_imports(source)) == [
        (1, "index.engine"),
        (2, "index.store"),
        (4, "index.embedding"),
        (5, "index.retrieve"),
    ]


def test_front_ends_import_only_the_public_api() -> None:
    files = front_end_files()
    assert any(p.parts[-2] == "bench" for p in files) and any(p.parts[-2] == "bot" for p in files)
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {name}"
        for path in files
        for line, name in index_submodule_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "import these from `index` (add them to index/__init__.py if public):\n" + "\n".join(offenders)


def test_public_names_are_public() -> None:
    assert not [name for name in index.__all__ if name.startswith("_")]
    assert len(set(index.__all__)) == len(index.__all__)
    assert set(index._HOMES) == set(index.__all__)


@pytest.mark.parametrize("name", index.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(index, name)
    home = index._HOMES[name]
    assert value is getattr(importlib.import_module(home), name)
    assert name in dir(index)
