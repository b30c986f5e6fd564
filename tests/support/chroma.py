"""A real ``chroma run`` (the chromadb package's own CLI) on a free port of 127.0.0.1,
with its data in a given folder; a test can kill it and start it again on the same
data and port.  The ``chroma_server`` fixture (tests/conftest.py) runs one per module."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_binary() -> str:
    found = Path(sys.executable).with_name("chroma")
    if found.exists():
        return str(found)
    which = shutil.which("chroma")
    if which is None:
        pytest.fail("the chroma CLI of the chromadb package is not installed")
    return which


class ChromaServer:
    """A real ``chroma run`` on 127.0.0.1 that a test can kill and start again on
    the same data and port."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import chromadb

        log = (self.path / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [chroma_binary(), "run", "--path", str(self.path / "db"), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"chroma run exited with {self.proc.returncode}: {(self.path / 'server.log').read_text()[-2000:]}")
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                return
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail("chroma run did not answer within 60 s")
                time.sleep(0.1)  # polling the server's readiness, not waiting out a fixed delay

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
