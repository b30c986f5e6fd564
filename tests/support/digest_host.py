"""A digest host on 127.0.0.1 for polling tests, and small digests to serve.

Like a static file server (or raw.githubusercontent.com) it sends ``ETag`` and
``Last-Modified`` and answers a conditional GET with 304 when the file did not
change; ``validators = False`` turns that off, like a server that sends neither.
Every request is recorded (path, the validators it carried, the status sent),
so a test can tell a 304 from a download.  A path in ``slow`` answers after
``slow_seconds``, to make the client time out.  The ``host`` fixture
(tests/conftest.py) serves one for a test.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import formatdate


@dataclass(frozen=True)
class Served:
    """One request the host answered."""

    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class DigestHost:
    """Serves ``pages`` (path → bytes); change them between polls."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.validators = True
        self.slow: set[str] = set()
        self.slow_seconds = 2.0
        self.hits: list[Served] = []
        self._modified: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self.base_url = ""

    def url(self, path: str) -> str:
        return self.base_url + path

    def statuses(self, path: str) -> list[int]:
        return [h.status for h in self.hits if h.path == path]

    def _last_modified(self, path: str, body: bytes) -> str:
        """A Last-Modified that moves on whenever the content changes, one second at least."""
        with self._lock:
            known = self._modified.get(path)
            if known is None or known[0] != body:
                stamp = max(time.time(), (known[1] + 1) if known else 0)
                self._modified[path] = (body, stamp)
            return formatdate(self._modified[path][1], usegmt=True)

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path in host.slow:
                    time.sleep(host.slow_seconds)
                body = host.pages.get(self.path)
                etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"' if body is not None else None
                sent_etag = self.headers.get("If-None-Match")
                sent_since = self.headers.get("If-Modified-Since")
                if body is None:
                    status = 404
                elif host.validators and (sent_etag == etag or (sent_since and not sent_etag and sent_since == host._last_modified(self.path, body))):
                    status = 304
                else:
                    status = 200
                host.hits.append(Served(self.path, sent_etag, sent_since, status))
                if status == 404:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(status)
                if host.validators and body is not None:
                    self.send_header("ETag", etag or "")
                    self.send_header("Last-Modified", host._last_modified(self.path, body))
                if status == 304:
                    self.end_headers()
                    return
                self.send_header("Content-Type", "text/markdown; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
                pass

        return Handler


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out and hung up is what the slow path is for, not an error to print."""


@contextmanager
def digest_host() -> Iterator[DigestHost]:
    host = DigestHost()
    server = _QuietServer(("127.0.0.1", 0), host.handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def week_section(end: date, papers: Sequence[tuple[str, str, str]]) -> str:
    """One week of a digest in the weekly-list format: (title, blurb, arXiv id) per paper."""
    start = end - timedelta(days=6)
    lines = [f"## Week of {start:%b} {start.day} – {end:%b} {end.day}, {end.year}", ""]
    for i, (title, blurb, arxiv_id) in enumerate(papers, 1):
        lines.append(f"{i}. **{title}**: {blurb} [paper](https://arxiv.org/abs/{arxiv_id})")
    return "\n".join(lines) + "\n\n"


W1 = date(2024, 9, 29)
W2 = date(2024, 10, 6)
W3 = date(2024, 10, 13)
W4 = date(2024, 10, 20)

PAPERS = {
    W1: [
        ("Tiny Adapters for Sparse Retrieval", "Low-rank adapters let a sparse retriever match dense models on short queries.", "2409.70001"),
        ("Quiet Gradients in Long Training Runs", "Why loss spikes vanish when the optimizer warms up twice.", "2409.70002"),
    ],
    W2: [
        ("Counting Tokens Without Counting, for @everyone", "Estimating prompt length from byte statistics alone cuts tokenizer calls.", "2410.70001"),
        ("Sparse Mixture Routers for Speech", "Routing audio frames to a few experts halves the compute of speech recognition.", "2410.70002"),
        ("Caching Attention Across Requests", "Reusing key-value states across chat requests halves latency.", "2410.70003"),
    ],
    W3: [("Sleeper Benchmarks for Agents", "A benchmark whose tasks only become hard after many steps.", "2410.70011")],
    W4: [("Lighthouse Tokens for Long Context", "Marker tokens every few thousand positions help models find facts in long inputs.", "2410.70021")],
}


def digest(*weeks: date) -> bytes:
    """A digest file holding the given weeks, newest first as digests list them."""
    return "".join(week_section(w, PAPERS[w]) for w in sorted(weeks, reverse=True)).encode("utf-8")

