"""Shared fixtures: the repo's fixture digests, their index, and temp data dirs.

The suite runs on the digests under ``tests/fixtures/digests`` (our own words, in
the two shapes of the real digests: a numbered weekly digest with year-less week
headings, restarted numbering, items without links and two papers sharing one
link; and a Date | Title | Abstract | Topics table), so a fresh clone passes
without ``../shared``.  The real shared digests and dev sets feed ``make eval``.

Chroma server mode: with ``PAPERBOT_TEST_CHROMA=host:port`` set (``make
test-server`` starts a real ``chroma run`` and sets it), the tests that build their
settings through :func:`chroma_env` -- tests/test_pipeline.py, tests/test_answer.py
(modules with ``RUNS_ON_CHROMA_SERVER = True``; the others are skipped in that mode)
and the fixture index -- use that server instead of the embedded store.
Each data dir gets its own database on the server, so tests that use the same
collection name stay apart exactly as separate data dirs keep them apart when
embedded.  Unset (the default), :func:`chroma_env` is empty and nothing changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIGESTS = REPO_ROOT / "tests" / "fixtures" / "digests"
WEEKLY_DIGEST = FIXTURE_DIGESTS / "weekly-digest.md"
TABLE_DIGEST = FIXTURE_DIGESTS / "papers-table.md"
#: Papers in the two fixture digests together (37 weekly items + 13 table rows).
FIXTURE_PAPERS = 50

#: ``host:port`` of the Chroma server the server-mode pass runs against ("" = embedded).
TEST_CHROMA = os.environ.get("PAPERBOT_TEST_CHROMA", "").strip()
#: Keeps this session's databases apart from an earlier run's on a long-lived server.
_SESSION = uuid.uuid4().hex[:8]


def _test_server() -> tuple[str, str]:
    host, sep, port = TEST_CHROMA.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise pytest.UsageError(f"PAPERBOT_TEST_CHROMA={TEST_CHROMA!r}: expected host:port of a Chroma server")
    return host, port


def chroma_env(data_dir: Path) -> dict[str, str]:
    """Environment that points paperbot at the test Chroma server, in a database of
    its own for ``data_dir``; ``{}`` when the tests run on the embedded store."""
    if not TEST_CHROMA:
        return {}
    host, port = _test_server()
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return {"CHROMA_HOST": host, "CHROMA_PORT": port, "CHROMA_DATABASE": f"test-{_SESSION}-{digest}"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the server pass, only modules that set ``RUNS_ON_CHROMA_SERVER = True`` run;
    the others build embedded settings of their own and would miss the server's data."""
    if not TEST_CHROMA:
        return
    skip = pytest.mark.skip(reason="embedded-store test; PAPERBOT_TEST_CHROMA runs only the server-aware modules")
    for item in items:
        if not getattr(getattr(item, "module", None), "RUNS_ON_CHROMA_SERVER", False):
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    if TEST_CHROMA:
        host, port = _test_server()
        return f"chroma: server at {host}:{port} (one database per test data dir)"
    return "chroma: embedded"


def paperbot_subprocess(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002, ANN201
    """Run ``paperbot`` as users do (a subprocess) with a clean environment."""
    import subprocess
    import sys

    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        timeout=600,
    )


@pytest.fixture(scope="session")
def fixture_ingest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Both fixture digests ingested once, through ``paperbot ingest --json`` with the
    real offline model, into a fresh data dir: (data dir, the JSON report)."""
    import json

    home = tmp_path_factory.mktemp("fixture-index")
    data_dir = home / "data"
    result = paperbot_subprocess(
        home, "ingest", str(WEEKLY_DIGEST), str(TABLE_DIGEST), "--json", "--data-dir", str(data_dir), env=chroma_env(data_dir)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["papers"] == FIXTURE_PAPERS, report
    return data_dir, report


@pytest.fixture(scope="session")
def fixture_data_dir(fixture_ingest: tuple[Path, dict]) -> Path:
    return fixture_ingest[0]


@pytest.fixture(scope="session")
def fixture_engine(fixture_data_dir: Path):  # noqa: ANN201 - Engine, imported lazily
    from config import Settings
    from index.engine import Engine

    return Engine(Settings.from_env(environ=chroma_env(fixture_data_dir), dotenv_path=None, data_dir=fixture_data_dir))


@pytest.fixture
def run_cli(tmp_path: Path):  # noqa: ANN201
    """``paperbot ARGS...`` in a subprocess; fails the test on a non-zero exit unless ``check=False``."""

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None, check: bool = True):  # noqa: A002
        result = paperbot_subprocess(tmp_path, *args, env=env, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"paperbot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


@pytest.fixture
def small_tmpfs(tmp_path: Path):  # noqa: ANN201 - Iterator[Path]
    """A 300 KB tmpfs, to run out of disk (or remount read-only) for real; needs root, as CI has."""
    import subprocess

    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


# -- fixtures of the test kit (tests/support) -----------------------------------------------
@pytest.fixture
def llm_engine(fixture_data_dir: Path):  # noqa: ANN201 - yields (Engine, FakeOpenAI)
    """An engine over the fixture index whose LLM is the fake OpenAI server."""
    from config import Settings
    from index.engine import Engine
    from tests.support.fake_openai import FakeOpenAI

    with FakeOpenAI() as llm:
        settings = Settings.from_env(
            environ={
                "PAPERBOT_LLM": "openai",
                "PAPERBOT_LLM_BASE_URL": llm.base_url,
                "PAPERBOT_LLM_MODEL": "fake-model",
                "PAPERBOT_LLM_TIMEOUT": "10",
            },
            dotenv_path=None,
            data_dir=fixture_data_dir,
        )
        yield Engine(settings), llm


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - yields (host, port)
    """A real ``chroma run`` on 127.0.0.1 for the module's tests, stopped after them."""
    from tests.support.chroma import ChromaServer

    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    try:
        yield "127.0.0.1", server.port
    finally:
        server.stop()


@pytest.fixture
def host():  # noqa: ANN201 - yields DigestHost
    """A digest host on 127.0.0.1 for one test (tests/support/digest_host.py)."""
    from tests.support.digest_host import digest_host

    with digest_host() as served:
        yield served


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment must not intercept requests to 127.0.0.1
    (modules that poll the digest host use it: ``pytestmark = usefixtures("no_proxy")``)."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def figures(request: pytest.FixtureRequest):  # noqa: ANN201 - yields dict[str, object]
    """The figures a test measures (latencies, loop lag, task counts): a dict the test
    fills with ``name: value``, written when the test ends to the terminal (one line per
    test, past pytest's output capture) and to the log, so a run shows them without
    ``-s`` and without print debugging in the tests."""
    found: dict[str, object] = {}
    yield found
    if not found:
        return
    line = f"{request.node.name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in found.items())
    logging.getLogger("tests.figures").info(line)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # past pytest's output capture, as pytest's docs show
            reporter.ensure_newline()
            reporter.write_line(f"[figures] {line}")
