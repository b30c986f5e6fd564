"""Digest sources → text: files, folders of ``*.md`` and http(s) URLs.

Reading is where real-world input goes wrong (missing files, binaries, huge
files, broken encodings, dead links), so nothing here raises: every problem
becomes a :class:`Skipped` entry naming the source, the line when there is one,
and the reason, and everything that could be read is still returned.
"""

from __future__ import annotations

import hashlib
import logging
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.digests import merge_papers, parse_digest
from index.models import ParseResult, Skipped

log = logging.getLogger(__name__)

USER_AGENT = "paperbot/0.1 (+digest fetcher)"
_SNIFF = 8192
#: C0/C1 control characters other than tab and line breaks: never meaningful in a
#: digest, and a NUL or an escape sequence must not reach the index or Discord.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


@dataclass(frozen=True)
class LoadedSource:
    """One readable digest: its name (file name or URL), text and content hash."""

    name: str
    text: str
    sha256: str


def load_sources(
    specs: Sequence[str], *, max_bytes: int, timeout: float
) -> tuple[list[LoadedSource], list[Skipped]]:
    loaded: list[LoadedSource] = []
    skipped: list[Skipped] = []
    for spec in specs:
        if spec.startswith(("http://", "https://")):
            _load_url(spec, max_bytes, timeout, loaded, skipped)
            continue
        path = Path(spec).expanduser()
        if path.is_dir():
            # Broken links are kept so they are reported, not silently dropped.
            files = sorted(p for p in path.rglob("*.md") if p.is_file() or p.is_symlink())
            if not files:
                skipped.append(Skipped(spec, None, "no .md files in this folder"))
            for file in files:
                _load_file(file, max_bytes, loaded, skipped)
        elif path.exists():
            _load_file(path, max_bytes, loaded, skipped)
        else:
            skipped.append(Skipped(spec, None, "no such file or folder"))
    return loaded, skipped


def parse_sources(specs: Sequence[str], *, max_bytes: int, timeout: float) -> ParseResult:
    """Load, parse and merge every source: one paper per identity across all of them."""
    loaded, skipped = load_sources(specs, max_bytes=max_bytes, timeout=timeout)
    return parse_loaded(loaded, skipped)


def parse_loaded(loaded: Sequence[LoadedSource], skipped: Sequence[Skipped] = ()) -> ParseResult:
    """Parse and merge digests already read (by :func:`load_sources` or a conditional fetch)."""
    result = ParseResult(skipped=list(skipped))
    papers = []
    for source in loaded:
        parsed = parse_digest(source.text, source.name)
        if not parsed.papers:
            result.skipped.append(Skipped(source.name, None, "no papers found in this digest"))
        papers.extend(parsed.papers)
        result.skipped.extend(parsed.skipped)
    result.papers = merge_papers(papers)
    return result


def _load_file(path: Path, max_bytes: int, loaded: list[LoadedSource], skipped: list[Skipped]) -> None:
    name = path.name
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or device would block or never end; digests are regular files.
            skipped.append(Skipped(name, None, "not a regular file"))
            return
        size = info.st_size
        if size > max_bytes:
            skipped.append(Skipped(name, None, f"file too large ({_mb(size)} > {_mb(max_bytes)} limit)"))
            return
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        skipped.append(Skipped(name, None, f"cannot read: {exc.strerror or type(exc).__name__}"))
        return
    _accept(name, data, max_bytes, loaded, skipped)


@dataclass(frozen=True)
class Fetched:
    """What a GET of a digest URL returned.

    ``not_modified`` means the server answered 304 to the validators sent, so
    ``data`` is empty and the copy already ingested is still current.
    """

    url: str
    data: bytes = b""
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched | Skipped:
    """GET a digest, conditionally when validators from an earlier fetch are given
    (``If-None-Match`` / ``If-Modified-Since``), so an unchanged digest costs one
    empty 304 instead of a download.  Failures come back as :class:`Skipped`."""
    headers = {"User-Agent": USER_AGENT, "Accept": "text/markdown, text/plain, */*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked by callers
            data = response.read(max_bytes + 1)
            return Fetched(url, data, etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            # A 304 may carry fresher validators; keep the old ones when it does not.
            return Fetched(
                url,
                not_modified=True,
                etag=exc.headers.get("ETag") or etag,
                last_modified=exc.headers.get("Last-Modified") or last_modified,
            )
        return Skipped(url, None, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Skipped(url, None, f"cannot fetch: {reason}")


def accept_bytes(name: str, data: bytes, max_bytes: int) -> tuple[LoadedSource | None, list[Skipped]]:
    """Raw bytes of a digest as a :class:`LoadedSource`, or why they cannot be one."""
    loaded: list[LoadedSource] = []
    skipped: list[Skipped] = []
    _accept(name, data, max_bytes, loaded, skipped)
    return (loaded[0] if loaded else None), skipped


def _load_url(url: str, max_bytes: int, timeout: float, loaded: list[LoadedSource], skipped: list[Skipped]) -> None:
    fetched = fetch_url(url, max_bytes=max_bytes, timeout=timeout)
    if isinstance(fetched, Skipped):
        skipped.append(fetched)
        return
    _accept(url, fetched.data, max_bytes, loaded, skipped)


def _accept(name: str, data: bytes, max_bytes: int, loaded: list[LoadedSource], skipped: list[Skipped]) -> None:
    if len(data) > max_bytes:
        skipped.append(Skipped(name, None, f"too large (over the {_mb(max_bytes)} limit)"))
        return
    if not data.strip():
        skipped.append(Skipped(name, None, "empty file"))
        return
    text = _decode_utf16(data)
    if text is None:
        if _looks_binary(data[:_SNIFF]):
            skipped.append(Skipped(name, None, "binary file, not a markdown digest"))
            return
        text = _decode(name, data, skipped)
    text = _CONTROL.sub("", text)
    loaded.append(LoadedSource(name=name, text=text, sha256=hashlib.sha256(data).hexdigest()))


def _looks_binary(head: bytes) -> bool:
    """There are NULs, and most of the first bytes are on lines that are not UTF-8
    or are more than a tenth control bytes.

    Judged per line, as decoding is: a text digest with a stray NUL or a pasted
    line in another encoding is still a digest (those lines are cleaned or
    skipped), while an image or archive is garbage from its first bytes on.
    """
    if b"\x00" not in head:
        return False
    bad = 0
    lines = head.split(b"\n")
    for i, line in enumerate(lines):
        if len(_CONTROL_BYTES.findall(line)) * 10 > len(line):  # not an odd stray NUL: raw binary
            bad += len(line) + 1
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            # The sniff window may cut its last line inside a character.
            if not (i == len(lines) - 1 and exc.reason == "unexpected end of data"):
                bad += len(line) + 1
    return bad * 2 > len(head)


def _decode_utf16(data: bytes) -> str | None:
    """A digest saved as UTF-16 with its byte-order mark (Windows "Unicode" text), else None."""
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        return data.decode("utf-16")
    except UnicodeDecodeError:
        return None


def _decode(name: str, data: bytes, skipped: list[Skipped]) -> str:
    """UTF-8 text; lines that are not valid UTF-8 are dropped and reported."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            skipped.append(Skipped(name, n, "invalid UTF-8; line skipped"))
            lines.append("")
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
