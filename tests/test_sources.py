"""Reading digest sources: bad input is reported, never raised, and never stops the rest.

These tests prove, at the level of ``load_sources`` / ``parse_sources``, that each
kind of broken input an ingest meets in practice becomes a :class:`Skipped` entry
(source, line when there is one, reason) while every good source next to it still
loads and parses:

* a missing path, a file that cannot be read, a FIFO or dangling ``*.md`` link,
  a binary file, an empty file, a file over ``max_bytes`` (the default 20 MB);
* one line of invalid UTF-8 (reported with its line number; the other lines and
  their papers still parse) and a table row with the wrong cell count;
* a folder without ``*.md`` files;
* http URLs served from 127.0.0.1: a good one is loaded and parsed, a 404 and a
  refused connection become skipped entries instead of exceptions.

The only network used is a local ``ThreadingHTTPServer`` on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.models import Skipped
from index.sources import load_sources, parse_sources

MAX_BYTES = 20 * 1024 * 1024  # the default PAPERBOT_MAX_DIGEST_MB of 20.0
TIMEOUT = 5.0

GOOD_DIGEST = """# Reading list

## Week of Sep 30 – Oct 6, 2024

1. **Tiny Adapters for Sparse Retrieval**: A small lab shows that low-rank adapters let a sparse retriever match dense models on short queries. [paper](https://arxiv.org/abs/2410.00001)
2. **Counting Tokens Without Counting**: Researchers estimate prompt length from byte statistics alone, cutting tokenizer calls. [paper](https://arxiv.org/abs/2410.00002)
3. **Quiet Gradients in Long Training Runs**: A study of why loss spikes vanish when the optimizer warms up twice. [paper](https://arxiv.org/abs/2410.00003)
"""
GOOD_TITLES = {
    "Tiny Adapters for Sparse Retrieval",
    "Counting Tokens Without Counting",
    "Quiet Gradients in Long Training Runs",
}

URL_DIGEST = """## Week of Sep 23 – Sep 29, 2024

1. **Served Over HTTP as a Retrieval Note**: A short note fetched from a local server to check URL sources. [paper](https://arxiv.org/abs/2409.90001)
2. **Second Fetched Paper on Caching**: Caching key-value states across requests halves latency in a toy setup. [paper](https://arxiv.org/abs/2409.90002)
"""


def _load(*specs: str | Path) -> tuple[list, list[Skipped]]:
    return load_sources([str(s) for s in specs], max_bytes=MAX_BYTES, timeout=TIMEOUT)


def _parse(*specs: str | Path):  # noqa: ANN202 - ParseResult
    return parse_sources([str(s) for s in specs], max_bytes=MAX_BYTES, timeout=TIMEOUT)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good-2024.md"
    path.write_text(GOOD_DIGEST, encoding="utf-8")
    return path


def _only_good_loaded(loaded: list) -> None:
    assert [s.name for s in loaded] == ["good-2024.md"]
    assert loaded[0].text == GOOD_DIGEST


def _one_skip(skipped: list[Skipped], source: str) -> Skipped:
    matches = [s for s in skipped if s.source == source]
    assert len(matches) == 1, f"expected one skipped entry for {source!r}, got {skipped}"
    return matches[0]


# -- files and folders -----------------------------------------------------------------------
def test_good_file_parses_into_papers(good: Path) -> None:
    result = _parse(good)
    assert {p.title for p in result.papers} == GOOD_TITLES
    assert result.skipped == []
    assert all(p.source == "good-2024.md" and p.week == "2024-10-06" for p in result.papers)


def test_missing_path_is_skipped_and_the_rest_loads(good: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "digest.md"
    loaded, skipped = _load(missing, good)
    _only_good_loaded(loaded)
    assert skipped == [Skipped(str(missing), None, "no such file or folder")]

    result = _parse(missing, good)
    assert {p.title for p in result.papers} == GOOD_TITLES


def test_unreadable_file_chmod_000(good: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.md"
    locked.write_text(GOOD_DIGEST.replace("2410.0000", "2410.0009"), encoding="utf-8")
    locked.chmod(0)
    try:
        try:
            with locked.open("rb"):
                readable = True
        except PermissionError:
            readable = False
        if readable and os.geteuid() == 0:
            pytest.skip("running as root: chmod 000 does not stop reading (see the /proc/self/mem case)")
        loaded, skipped = _load(locked, good)
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    _only_good_loaded(loaded)
    entry = _one_skip(skipped, "locked.md")
    assert entry.line is None
    assert entry.reason.startswith("cannot read")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_file_that_fails_while_reading_is_skipped(good: Path, tmp_path: Path) -> None:
    # /proc/self/mem opens fine (even as root) but reading offset 0 raises EIO:
    # a robust stand-in for a file that exists and cannot be read.
    broken = tmp_path / "broken.md"
    broken.symlink_to("/proc/self/mem")
    loaded, skipped = _load(broken, good)
    _only_good_loaded(loaded)
    entry = _one_skip(skipped, "broken.md")
    assert entry.line is None
    assert entry.reason.startswith("cannot read:"), entry.reason


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_named_md_is_skipped_without_blocking(good: Path, tmp_path: Path) -> None:
    """A named pipe nobody writes to must not hang the ingest forever."""
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    out: dict[str, tuple] = {}
    worker = threading.Thread(target=lambda: out.setdefault("result", _load(fifo, good)), daemon=True)
    worker.start()
    worker.join(timeout=5)
    blocked = worker.is_alive()
    if blocked:
        # Release the reader stuck in open(): open and close the write end, so it sees EOF.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(timeout=5)
    assert not blocked, "load_sources blocked (>5 s) opening a FIFO named pipe.md that has no writer"
    loaded, skipped = out["result"]
    _only_good_loaded(loaded)
    assert _one_skip(skipped, "pipe.md").line is None


def test_dangling_md_symlink_in_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "digests"
    folder.mkdir()
    (folder / "good-2024.md").write_text(GOOD_DIGEST, encoding="utf-8")
    (folder / "gone.md").symlink_to(tmp_path / "deleted-target.md")
    loaded, skipped = _load(folder)
    _only_good_loaded(loaded)
    assert [s for s in skipped if "gone.md" in s.source], (
        f"a dangling gone.md link in the folder was dropped silently; skipped={skipped}"
    )


def test_binary_file_is_skipped(good: Path, tmp_path: Path) -> None:
    binary = tmp_path / "image.md"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    loaded, skipped = _load(binary, good)
    _only_good_loaded(loaded)
    assert skipped == [Skipped("image.md", None, "binary file, not a markdown digest")]


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \r\n"], ids=["zero-bytes", "whitespace-only"])
def test_empty_file_is_skipped(good: Path, tmp_path: Path, content: bytes) -> None:
    empty = tmp_path / "empty.md"
    empty.write_bytes(content)
    loaded, skipped = _load(empty, good)
    _only_good_loaded(loaded)
    assert skipped == [Skipped("empty.md", None, "empty file")]


def test_file_over_max_bytes_is_skipped(good: Path, tmp_path: Path) -> None:
    huge = tmp_path / "huge.md"
    line = b"1. **A line of filler text** that repeats to make a very large digest file.\n"
    with huge.open("wb") as fh:
        fh.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert huge.stat().st_size > 50 * 1024 * 1024
    try:
        loaded, skipped = _load(huge, good)
    finally:
        huge.unlink()  # do not leave 50 MB behind in pytest's kept temp dirs
    _only_good_loaded(loaded)
    entry = _one_skip(skipped, "huge.md")
    assert entry.line is None
    assert "too large" in entry.reason and "20.0 MB" in entry.reason and "50.0 MB" in entry.reason, entry.reason


def test_invalid_utf8_line_is_reported_and_other_lines_parse(tmp_path: Path) -> None:
    lines = GOOD_DIGEST.encode("utf-8").split(b"\n")
    # lines[5] is item 2 (line 6 of the file); corrupt it with bytes that are not UTF-8.
    assert lines[5].startswith(b"2. **Counting Tokens")
    lines[5] = lines[5].replace(b"byte statistics", b"byte \xff\xfe statistics")
    path = tmp_path / "mixed-2024.md"
    path.write_bytes(b"\n".join(lines))

    result = _parse(path)
    assert result.skipped == [Skipped("mixed-2024.md", 6, "invalid UTF-8; line skipped")]
    assert {p.title for p in result.papers} == GOOD_TITLES - {"Counting Tokens Without Counting"}
    by_title = {p.title: p for p in result.papers}
    assert by_title["Quiet Gradients in Long Training Runs"].line == 7
    assert "warms up twice" in by_title["Quiet Gradients in Long Training Runs"].summary


def test_folder_without_md_files_is_skipped(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a digest\n", encoding="utf-8")
    (folder / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    loaded, skipped = _load(folder, good)
    _only_good_loaded(loaded)
    assert skipped == [Skipped(str(folder), None, "no .md files in this folder")]


def test_folder_of_md_files_loads_each(tmp_path: Path) -> None:
    folder = tmp_path / "digests"
    (folder / "nested").mkdir(parents=True)
    (folder / "good-2024.md").write_text(GOOD_DIGEST, encoding="utf-8")
    (folder / "nested" / "empty.md").write_text("", encoding="utf-8")
    loaded, skipped = _load(folder)
    _only_good_loaded(loaded)
    assert skipped == [Skipped("empty.md", None, "empty file")]


def test_broken_table_row_is_reported_and_other_rows_parse(tmp_path: Path) -> None:
    path = tmp_path / "table-2024.md"
    path.write_text(
        "| Date | Title | Summary |\n"
        "|---|---|---|\n"
        "| 2024-07-02 | Folding Tables Into Vectors | Turns spreadsheet rows into embeddings. |\n"
        "| 2024-07-03 | A Row With Too Many Cells | extra | cell |\n"
        "| 2024-07-04 | Ranking Recipes by Taste | A retrieval benchmark for cooking notes. |\n",
        encoding="utf-8",
    )
    result = _parse(path)
    assert result.skipped == [Skipped("table-2024.md", 4, "table row has 4 cells, the header has 3")]
    assert sorted((p.title, p.line, p.date) for p in result.papers) == [
        ("Folding Tables Into Vectors", 3, "2024-07-02"),
        ("Ranking Recipes by Taste", 5, "2024-07-04"),
    ]


def test_many_bad_sources_at_once_still_load_the_good_one(good: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.md"
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "blob.md").write_bytes(b"\x00" * 64)
    nomd = tmp_path / "nomd"
    nomd.mkdir()
    result = _parse(missing, tmp_path / "empty.md", tmp_path / "blob.md", nomd, good)
    assert {p.title for p in result.papers} == GOOD_TITLES
    assert sorted((s.source, s.reason) for s in result.skipped) == sorted(
        [
            (str(missing), "no such file or folder"),
            ("empty.md", "empty file"),
            ("blob.md", "binary file, not a markdown digest"),
            (str(nomd), "no .md files in this folder"),
        ]
    )


# -- http(s) URLs --------------------------------------------------------------------------------
class _DigestHandler(http.server.BaseHTTPRequestHandler):
    pages: dict[str, bytes] = {"/digest-2024.md": URL_DIGEST.encode("utf-8")}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = self.pages.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/markdown; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        pass


@pytest.fixture(scope="module")
def digest_server() -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 (random port) serving one small digest."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DigestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment must not intercept requests to 127.0.0.1.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def test_url_source_is_loaded_and_parsed(digest_server: str) -> None:
    url = f"{digest_server}/digest-2024.md"
    loaded, skipped = _load(url)
    assert skipped == []
    assert [(s.name, s.text) for s in loaded] == [(url, URL_DIGEST)]
    assert loaded[0].sha256 == hashlib.sha256(URL_DIGEST.encode("utf-8")).hexdigest()

    result = _parse(url)
    assert result.skipped == []
    assert sorted((p.title, p.source, p.week) for p in result.papers) == [
        ("Second Fetched Paper on Caching", url, "2024-09-29"),
        ("Served Over HTTP as a Retrieval Note", url, "2024-09-29"),
    ]


def test_url_404_is_skipped(digest_server: str, good: Path) -> None:
    url = f"{digest_server}/no-such-digest.md"
    loaded, skipped = _load(url, good)
    _only_good_loaded(loaded)
    entry = _one_skip(skipped, url)
    assert entry.line is None
    assert entry.reason.startswith("HTTP 404"), entry.reason


def test_refused_connection_is_skipped(good: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/digest.md"  # nothing listens there any more
    loaded, skipped = _load(url, good)
    _only_good_loaded(loaded)
    entry = _one_skip(skipped, url)
    assert entry.line is None
    assert entry.reason.startswith("cannot fetch:"), entry.reason
    assert "refused" in entry.reason.lower(), entry.reason
