"""Memory benchmark: peak RSS of ``paperbot`` commands and of the running Discord bot.

Why: the bot runs for weeks on small machines, and every CLI command loads the
ONNX model, Chroma and the BM25 index.  This measures, per corpus of ``--sizes``
(150 papers: the shared digests; 10k and 100k papers: the synthetic corpus of
``bench/synth.py``):

* ``paperbot --help``, ``paperbot search`` and ``paperbot ask`` as users run them:
  a child process each, its peak RSS taken from the kernel's rusage of that child
  (``os.wait4``, i.e. what ``/usr/bin/time -v`` reports as "Maximum resident set
  size");
* the **real bot**: ``paperbot start --data-dir DIR`` as a child process, started
  exactly as users start it, with ``DISCORD_TOKEN``, ``DISCORD_API_URL`` and
  ``DISCORD_GATEWAY_URL`` aiming it at the fake Discord of ``tests/support/discord``
  (Discord's REST API and gateway, served by this process's asyncio loop on
  127.0.0.1) and ``DISCORD_DEV_GUILD_ID`` at the fake's guild, so the bot syncs its
  commands there at start as in development.  Once the fake has sent READY (the
  commands are synced before the gateway connects), the benchmark acts as users
  do: 20 ``/ask``, 20 ``/paper`` lookups and 100 ``/paper`` autocomplete inputs,
  one after the other, each awaited until the bot's last call for it (the answer
  carrying the feedback buttons, the card, the choices).  Then it reads the
  child's ``VmRSS`` (the steady state, column "RSS after the requests") and
  ``VmHWM`` from ``/proc``, sends SIGTERM (the bot closes as under ``docker
  stop`` or systemd) and takes ``ru_maxrss`` from ``os.wait4``: the peak over the
  bot's whole life, start-up and shutdown included.

Caveat of ``ru_maxrss``: Linux carries the peak RSS of the spawning process into
the child across ``exec``, so a child's number is at least this script's RSS when
it spawned it.  The script therefore stays small: heavy imports come after the
first rows and the catalogue the requests are drawn from is read in a child of
its own.  The ``python -c pass`` row is that floor (a bare interpreter is ~11
MiB); the real bot's ``VmHWM`` in the note does not have it.

The real bot replaces the former "bot proxy" row, a child that built the bot
object and called the engine directly with the same requests: it had no gateway
connection, no interaction handling and none of the worker threads the bot
answers in, so it was only a lower bound, and the real row now measures what it
stood for.  What the fake cannot give is the size of a real server: it has one
guild with three channels, so discord.py's caches of a big guild (members,
channels, threads) are not in the numbers.

The requests (questions, lookups, autocomplete inputs) are drawn with seed 0
from the corpus's own papers by ``bench/workload.py``'s generators, once per corpus:
the same in every run.  The bot's data dir is a temporary folder whose sub-folders
(``chroma/``, ``docstore/``, ...) link to the cached index: the bot writes its
state (``bot.sqlite3``: answers, votes, subscriptions) into its data dir, and a
fresh state per run keeps runs comparable and leaves the cached indexes, which
other benchmarks share, untouched.

Indexes are the cached ones of ``bench/query.py`` and ``bench/ingest.py``
(``bench/out/index-shared``, ``bench/out/index-<N>-realistic``; ``--shape short``:
``index-<N>``; ``--standin``: ``index-<N>-<shape>-standin``, stand-in vectors).
A missing one of at most 10,000 papers with the model's vectors is built first (a
realistic 10k build embeds ~27k chunks: 15-30 min on 2 cores); a bigger or a
stand-in one is never built here: ``--sizes shared,10000,100000`` needs the
cached index of ``python -m bench.ingest --sizes 100000`` (with the same
``--shape``/``--standin``) and stops at once, saying so, while that build is
missing or unfinished (``bench/ingest.py`` writes ``first-ingest.json`` next to
the index when it is done).

Run from the repo root::

    .venv-dev/bin/python -m bench.memory [--sizes shared,10000[,100000]] [--runs 3] [--shape short] [--standin]
"""

from __future__ import annotations

# Only light modules here: a child's ru_maxrss starts at this process's RSS when it
# spawns the child (see the module docstring), so asyncio, aiohttp and the engine
# are imported where they are needed, after the baseline rows.
import argparse
import json
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bench import common
from bench.common import REPO_ROOT, parse_sizes

if TYPE_CHECKING:
    import asyncio
    import resource

    from tests.support.discord import FakeDiscord, PendingInteraction, Request

log = logging.getLogger("bench.memory")

T = TypeVar("T")

QUESTION = "which methods improve long-context retrieval?"
SEARCH = "quantization of language model weights"

#: What the real bot is asked per run (the former proxy's workload, kept for comparison).
BOT_ASKS = 20
BOT_LOOKUPS = 20
BOT_AUTOCOMPLETES = 100
#: Spawn to READY: imports, login and the command sync; the index warms later, in a thread.
START_TIMEOUT_S = 300.0
#: One request; the first /ask also waits for the index warm-up (minutes at 100k on a busy box).
REQUEST_TIMEOUT_S = 600.0
#: SIGTERM to exit; the bot closes its gateway connection and state, then leaves.
STOP_TIMEOUT_S = 60.0
#: custom_id prefix of the feedback buttons, which come with the last part of an answer (bot/cogs/ask.py).
FEEDBACK_PREFIX = "paperbot:fb:"
#: First user id of the fake users; each /ask comes from its own user so the per-user cooldown never answers.
FIRST_USER_ID = 100_000
#: A log line of the bot's (config/logs.py: "date time LEVEL name: message") at WARNING or worse.
NOISY_LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ", re.MULTILINE)


@dataclass
class Sample:
    what: str
    corpus: str
    rss_mb: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    steady_mb: list[float] = field(default_factory=list)
    note: str = ""


def child_env() -> dict[str, str]:
    """The caller's environment minus anything that would point paperbot elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "CHROMA_", "DISCORD_"))}
    env["NO_COLOR"] = "1"
    return env


def run_measured(argv: Sequence[str]) -> tuple[float, float, str]:
    """Run ``argv``; return (peak RSS of that child in MiB, wall seconds, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), cwd=REPO_ROOT)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all children so far).
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024.0, wall, out.decode(errors="replace")  # ru_maxrss is in KiB on Linux


def paperbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


# -- the indexes ---------------------------------------------------------------------------------
#: The folders that are the index itself (vectors and records, the docstore, the
#: digests it came from): a view of only these has no catalogue snapshot.
INDEX_FOLDERS = ("chroma", "docstore", "digests")


def _built_elsewhere(size: str, standin: bool = False) -> int | None:
    """The paper count of ``size`` if its index is not built here (too big, or with
    stand-in vectors, which only bench/ingest.py builds), else None."""
    if size in ("shared", "150"):
        return None
    n = int(size)
    return n if n > common.MAX_BUILD_PAPERS or standin else None


def require_built(size: str, shape: str = "realistic", standin: bool = False) -> Path | None:
    """The cached index of a size not built here; exits with advice if it is not complete.

    Complete means ``bench/ingest.py`` finished it: that script writes its
    ``first-ingest.json`` record after the build, so an index it is still building
    (which has a Chroma store already) is not measured as if it were the corpus.
    """
    n = _built_elsewhere(size, standin)
    if n is None:
        return None
    from bench.ingest import RECORD_NAME

    data_dir = common.index_dir(n, shape=shape, standin=standin)
    if not (data_dir / "chroma" / "chroma.sqlite3").is_file() or not (data_dir / RECORD_NAME).is_file():
        how = f"--sizes {n} --shape {shape}" + (" --standin" if standin else "")
        raise SystemExit(
            f"no complete index of {n:,} papers in {data_dir} (no {RECORD_NAME}: missing or still being built); "
            f"bench/memory.py does not build it: run `.venv-dev/bin/python -m bench.ingest {how}` first"
        )
    return data_dir


def ensure_index(size: str, shape: str = "realistic", standin: bool = False) -> tuple[str, Path, bool]:
    """(corpus label, data dir, synthetic?) of a cached index; built if missing, of
    at most ``bench.common``'s MAX_BUILD_PAPERS (10k) and with the model's vectors,
    else required built."""
    big = require_built(size, shape, standin)
    if big is not None:
        # Not through corpus_for: it would regenerate the whole corpus's digests for nothing.
        label = common.Corpus(str(int(size)), [], big, True, shape, standin).label
        return label, big, True
    corpus = common.corpus_for(size, 0, shape=shape)
    chroma = corpus.data_dir / "chroma" / "chroma.sqlite3"
    if not chroma.exists():
        print(f"[{corpus.name}] no cached index in {corpus.data_dir}: building it (bench/query.py's cache)",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        common.make_engine(corpus.data_dir).ingest(corpus.specs, progress=common.progress_printer(corpus.name, started))
    return corpus.label, corpus.data_dir, corpus.synthetic


def index_view(index_dir: Path, view: Path, link: Sequence[str] | None = None) -> None:
    """A data dir for the bot that reads ``index_dir`` and keeps its own state apart.

    Only the folders are linked (``chroma/``, ``docstore/``, ``digests/``, the
    catalogue snapshots), and of those only the ones in ``link`` when given: the
    index without its snapshots is ``link=INDEX_FOLDERS``.  Files at the top are
    state the bot would write to (``bot.sqlite3``, the sources ledger) or a
    benchmark's records.
    """
    view.mkdir()
    for entry in index_dir.iterdir():
        if entry.is_dir() and (link is None or entry.name in link):
            (view / entry.name).symlink_to(entry.resolve(), target_is_directory=True)


# -- the real bot ---------------------------------------------------------------------------------
@dataclass
class Workload:
    """What users ask the bot in one run: drawn once per corpus, the same in every run."""

    papers: int
    questions: list[str]
    lookups: list[str]
    autocompletes: list[str]


def workload(data_dir: Path, synthetic: bool) -> Workload:
    """The run's requests, drawn in a child process: reading the catalogue opens
    Chroma, which would raise this process's RSS, the floor of every later child's."""
    argv = [sys.executable, "-m", "bench.memory", "--workload", str(data_dir)]
    _rss, _wall, out = run_measured(argv + (["--synthetic"] if synthetic else []))
    return Workload(**json.loads(out.strip().splitlines()[-1]))


def draw_workload(data_dir: Path, synthetic: bool) -> Workload:
    """Child side: questions, ``/paper`` inputs and partial titles made from the
    corpus's papers with seed 0, by ``bench/workload.py``'s generators."""
    from bench.workload import SHARED_QUESTIONS, autocomplete_probes, lookup_probes, synthetic_questions

    papers = common.make_engine(data_dir).papers()
    rng = random.Random(0)
    questions = (synthetic_questions(papers, rng, n=BOT_ASKS) if synthetic
                 else list(SHARED_QUESTIONS))[:BOT_ASKS]
    lookups = [p.text for p in lookup_probes(papers, rng, n=BOT_LOOKUPS)]
    autocompletes = [p.text for p in autocomplete_probes(papers, rng, n=BOT_AUTOCOMPLETES)]
    return Workload(len(papers), questions, lookups, autocompletes)


@dataclass
class BotRun:
    """One life of the real bot, measured."""

    peak_mb: float  # ru_maxrss of the reaped child: its whole life
    hwm_mb: float  # VmHWM just before SIGTERM: start-up and serving
    steady_mb: float  # VmRSS after the last request
    wall_s: float  # spawn to reaped
    ready_s: float  # spawn to READY
    first_answer_s: float  # READY to the first /ask answered (includes the index warm-up)
    serve_s: float  # READY to the last request served
    noisy_log_lines: int  # WARNING or worse in the bot's log
    catalogue_from: str  # where its log says the first catalogue came from (catalogue_origin)


class BotFailed(Exception):
    """The bot did not serve as users would expect; the message says where."""


def _status_mb(pid: int, key: str) -> float:
    """A ``VmXXX`` line of ``/proc/<pid>/status`` in MiB (the kernel writes kB)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError as exc:
        raise BotFailed(f"cannot read /proc/{pid}/status: {exc}") from None
    raise BotFailed(f"no {key} in /proc/{pid}/status")


async def _until(awaitable: Awaitable[T], exited: asyncio.Future[Any], what: str, timeout: float | None = None) -> T:
    """``awaitable``'s result; fails at once if the bot exits first, rather than at a timeout."""
    import asyncio

    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        try:
            return task.result()
        except AssertionError as exc:  # FakeDiscord.wait_for's timeout, with the last requests
            raise BotFailed(f"{what}: {exc}") from None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if exited in done:
        raise BotFailed(f"the bot exited while waiting for {what}")
    raise BotFailed(f"timed out after {timeout:.0f} s waiting for {what}")


def _of(pending: PendingInteraction) -> Callable[[Request], bool]:
    """Whether a REST call answers this interaction (its callback, follow-ups, edits)."""
    def check(r: Request) -> bool:
        return (r.is_callback() and r.parts[1] == str(pending.id)) or (r.parts[:1] == ["webhooks"] and pending.token in r.parts)

    return check


def _failed(r: Request) -> bool:
    """Discord refused the call, or the bot answered with a private message: its errors are ephemeral."""
    return r.status >= 400 or r.ephemeral is True


def _answer_done(r: Request) -> bool:
    rows = r.message_payload().get("components") or []
    return r.is_followup() and any(
        str(c.get("custom_id", "")).startswith(FEEDBACK_PREFIX) for row in rows for c in row.get("components", [])
    )


def _card_done(r: Request) -> bool:
    return r.is_followup()  # the card, or "No paper matches": one follow-up either way


def _choices_done(r: Request) -> bool:
    return r.is_callback()


async def _served(
    fake: FakeDiscord,
    pending: PendingInteraction,
    done: Callable[[Request], bool],
    exited: asyncio.Future[Any],
    what: str,
) -> Request:
    """Wait for the bot's last call for one interaction (returned); fail if Discord or the bot reported an error."""
    belongs = _of(pending)
    (last,) = await _until(
        fake.wait_for(lambda r: belongs(r) and (done(r) or _failed(r)), timeout=REQUEST_TIMEOUT_S), exited, what
    )
    if _failed(last):
        said = last.errors or (last.message_payload().get("content") or "")[:200]
        raise BotFailed(f"{what}: {last.method} {last.path} -> {last.status} {said}")
    return last


async def _stop(pid: int, exited: asyncio.Future[tuple[int, int, resource.struct_rusage]]) -> tuple[int, resource.struct_rusage]:
    """SIGTERM the bot (SIGKILL if it does not leave in time); its exit code and rusage.

    Signals go through ``os.kill`` on the pid: ``Popen.send_signal`` polls the
    child first and could reap it under the thread blocked in ``os.wait4``.
    """
    import asyncio

    if not exited.done():
        os.kill(pid, signal.SIGTERM)
        done, _ = await asyncio.wait({exited}, timeout=STOP_TIMEOUT_S)
        if not done:
            log.warning("the bot did not stop within %.0f s of SIGTERM; killing it", STOP_TIMEOUT_S)
            os.kill(pid, signal.SIGKILL)
    _pid, status, usage = await exited
    return os.waitstatus_to_exitcode(status), usage


@dataclass
class LiveBot:
    """A running ``paperbot start`` connected to the fake Discord (see :func:`live_bot`)."""

    fake: FakeDiscord
    pid: int
    exited: asyncio.Future[Any]
    data_dir: Path
    started: float  # perf_counter at spawn
    ready: float = float("nan")  # perf_counter when the fake sent READY
    code: int | None = None  # exit code, once stopped
    usage: resource.struct_rusage | None = None  # its own rusage, once reaped
    log: str = ""  # its log, once stopped


@asynccontextmanager
async def live_bot(index_dir: Path, link: Sequence[str] | None = None, extra_env: dict[str, str] | None = None,
                   own_data_dir: bool = False) -> AsyncIterator[LiveBot]:
    """``paperbot start`` as users start it, aimed at a fake Discord, READY already
    sent and /ask and /paper synced; stopped with SIGTERM (SIGKILL if it hangs) on
    leaving, after which ``code``, ``usage`` and ``log`` are set.

    The bot's data dir is a view of ``index_dir`` (:func:`index_view`, folders in
    ``link`` only when given), or ``index_dir`` itself if ``own_data_dir`` (a copy
    the caller may change).  Any failure, of the bot or of the body
    (:class:`BotFailed`), exits with the end of the bot's log.
    """
    import asyncio
    import secrets
    import tempfile

    from tests.support.discord import FakeDiscord

    token = f"MTIz.bench-memory-{secrets.token_urlsafe(12)}.not-a-real-token"
    with tempfile.TemporaryDirectory(prefix="paperbot-memory-") as tmp:
        data_dir = index_dir if own_data_dir else Path(tmp) / "data"
        if not own_data_dir:
            index_view(index_dir, data_dir, link)
        log_path = Path(tmp) / "bot.log"
        async with FakeDiscord(token) as fake:
            env = child_env() | (extra_env or {}) | {
                "DISCORD_TOKEN": token,
                "DISCORD_API_URL": fake.api_url,
                "DISCORD_GATEWAY_URL": fake.gateway_url,
                "DISCORD_DEV_GUILD_ID": str(fake.guild_id),
            }
            started = time.perf_counter()
            with open(log_path, "wb") as log_file:
                proc = subprocess.Popen(
                    paperbot("start", "--data-dir", str(data_dir)),
                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
                )
            # Reaped by this thread only, so the rusage is this child's own (see run_measured).
            exited = asyncio.ensure_future(asyncio.to_thread(os.wait4, proc.pid, 0))
            bot = LiveBot(fake, proc.pid, exited, data_dir, started)
            failure: BotFailed | None = None
            try:
                await _until(fake.ready_sent.wait(), exited, "READY from the fake gateway", START_TIMEOUT_S)
                bot.ready = time.perf_counter()
                synced = {c["name"] for c in fake.commands.get(str(fake.guild_id), [])}
                if not {"ask", "paper"} <= synced:
                    raise BotFailed(f"the bot registered {sorted(synced)} in the dev guild, not /ask and /paper")
                yield bot
            except BotFailed as exc:
                failure = exc
            finally:
                try:
                    bot.code, bot.usage = await _stop(proc.pid, exited)
                except BaseException:
                    if not exited.done():  # interrupted while stopping: never leave the bot behind
                        os.kill(proc.pid, signal.SIGKILL)
                    raise
                finally:
                    proc.returncode = bot.code  # reaped already: keeps Popen from waiting for it again
        bot.log = log_path.read_text(encoding="utf-8", errors="replace")
    if failure is None and bot.code != 0:
        failure = BotFailed(f"the bot exited with {bot.code} after SIGTERM, not 0")
    if failure is not None or bot.usage is None:
        raise SystemExit(f"paperbot start (real bot via the fake Discord) failed: {failure} (exit code {bot.code})\n"
                         f"--- the bot's log (end) ---\n{bot.log[-3000:]}")


async def ask(bot: LiveBot, question: str, user_id: int) -> None:
    """One /ask, awaited until its answer's last part."""
    pending = await bot.fake.slash("ask", user_id=user_id, question=question)
    await _served(bot.fake, pending, _answer_done, bot.exited, f"/ask {question!r}")


async def paper_card(bot: LiveBot, query: str, user_id: int) -> Request:
    """One /paper, awaited until its card (or "No paper matches"); that follow-up."""
    pending = await bot.fake.slash("paper", user_id=user_id, query=query)
    return await _served(bot.fake, pending, _card_done, bot.exited, f"/paper {query!r}")


async def completions(bot: LiveBot, text: str, user_id: int) -> list[str]:
    """One /paper autocomplete of ``text``: the names of the choices offered."""
    pending = await bot.fake.autocomplete("paper", "query", text, user_id=user_id)
    last = await _served(bot.fake, pending, _choices_done, bot.exited, f"/paper autocomplete {text!r}")
    return [str(c.get("name", "")) for c in last.message_payload().get("choices") or []]


async def run_real_bot(index_dir: Path, work: Workload, link: Sequence[str] | None = None,
                       extra_env: dict[str, str] | None = None) -> BotRun:
    """Start ``paperbot start`` against a fake Discord, serve ``work``, measure, stop it."""
    async with live_bot(index_dir, link, extra_env) as bot:
        fake, exited = bot.fake, bot.exited
        first_answer = float("nan")
        for i, question in enumerate(work.questions):
            await ask(bot, question, FIRST_USER_ID + i)
            if i == 0:
                first_answer = time.perf_counter() - bot.ready
        for text in work.lookups:
            pending = await fake.slash("paper", user_id=FIRST_USER_ID, query=text)
            await _served(fake, pending, _card_done, exited, f"/paper {text!r}")
        for text in work.autocompletes:
            pending = await fake.autocomplete("paper", "query", text, user_id=FIRST_USER_ID)
            await _served(fake, pending, _choices_done, exited, f"/paper autocomplete {text!r}")
        served = time.perf_counter()
        steady = _status_mb(bot.pid, "VmRSS")
        hwm = _status_mb(bot.pid, "VmHWM")
    assert bot.usage is not None  # live_bot exits otherwise
    return BotRun(
        peak_mb=bot.usage.ru_maxrss / 1024.0,
        hwm_mb=hwm,
        steady_mb=steady,
        wall_s=time.perf_counter() - bot.started,
        ready_s=bot.ready - bot.started,
        first_answer_s=first_answer,
        serve_s=served - bot.ready,
        noisy_log_lines=len(NOISY_LOG_LINE.findall(bot.log)),
        catalogue_from=catalogue_origin(bot.log),
    )


def catalogue_origin(log_text: str) -> str:
    """Where a process's first catalogue came from, by the engine's INFO lines
    (index/engine.py, index/snapshot.py): "snapshot", "store" or "unknown"."""
    loaded = log_text.find("loaded the catalogue snapshot")
    read = log_text.find("papers from the store")
    if loaded < 0 and read < 0:
        return "unknown"
    if read < 0 or 0 <= loaded < read:
        return "snapshot"
    return "store"


# -- the parent --------------------------------------------------------------------------------
def measure(sizes: Sequence[str], runs: int, shape: str = "realistic", standin: bool = False) -> list[Sample]:
    samples: list[Sample] = []
    baseline = Sample("python -c pass (interpreter alone)", "–")
    for _ in range(runs):
        rss, wall, _ = run_measured([sys.executable, "-c", "pass"])
        baseline.rss_mb.append(rss)
        baseline.wall_s.append(wall)
    samples.append(baseline)
    helps = Sample("paperbot --help", "–")
    for _ in range(runs):
        rss, wall, _ = run_measured(paperbot("--help"))
        helps.rss_mb.append(rss)
        helps.wall_s.append(wall)
    samples.append(helps)
    import asyncio  # only after the baseline rows: see the imports at the top

    for size in sizes:  # before any corpus: a missing 100k index is a setup error, not a crash an hour in
        require_built(size, shape, standin)
    for size in sizes:
        label, data_dir, synthetic = ensure_index(size, shape, standin)
        name = label.split(" ")[0]  # the size, for progress lines
        search = Sample("paperbot search --json", label)
        ask = Sample("paperbot ask --json", label)
        bot = Sample(f"paperbot start (real bot via fake Discord): {BOT_ASKS} asks, {BOT_LOOKUPS} /paper, "
                     f"{BOT_AUTOCOMPLETES} autocompletes", label)
        work = workload(data_dir, synthetic)
        for _ in range(runs):
            print(f"[{name}] paperbot search / ask / start (real bot)", file=sys.stderr, flush=True)
            rss, wall, _ = run_measured(paperbot("search", SEARCH, "--json", "--data-dir", str(data_dir)))
            search.rss_mb.append(rss)
            search.wall_s.append(wall)
            rss, wall, _ = run_measured(paperbot("ask", QUESTION, "--json", "--data-dir", str(data_dir)))
            ask.rss_mb.append(rss)
            ask.wall_s.append(wall)
            run = asyncio.run(run_real_bot(data_dir, work))
            bot.rss_mb.append(run.peak_mb)
            bot.wall_s.append(run.wall_s)
            bot.steady_mb.append(run.steady_mb)
            noisy = f"; {run.noisy_log_lines} warning/error lines in its log" if run.noisy_log_lines else ""
            bot.note = (f"{work.papers} papers; READY {run.ready_s:.1f} s after spawn, first answer "
                        f"{run.first_answer_s:.1f} s later, all served in {run.serve_s:.1f} s; "
                        f"VmHWM before SIGTERM {run.hwm_mb:.0f} MiB{noisy}")
        samples += [search, ask, bot]
    return samples


def render(samples: Sequence[Sample], runs: int) -> str:
    lines = [
        f"Peak RSS (kernel rusage of each child: ru_maxrss), median of {runs} run(s); "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "",
        "| process | papers | peak RSS MiB (median) | max | RSS after the requests MiB | wall s (median) | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in samples:
        steady = f"{statistics.median(s.steady_mb):.0f}" if s.steady_mb else "–"
        lines.append(
            f"| {s.what} | {s.corpus} | {statistics.median(s.rss_mb):.0f} | {max(s.rss_mb):.0f} | {steady} | "
            f"{statistics.median(s.wall_s):.2f} | {s.note} |"
        )
    lines += [
        "",
        "The real bot is `paperbot start` connected to the fake Discord of tests/support/discord on 127.0.0.1, "
        "serving the requests one at a time; its wall time is its whole life (start, requests, SIGTERM).",
        "The fake has one guild with three channels: discord.py's caches of a big server are not in these numbers.",
        "A child's ru_maxrss includes this script's RSS when it spawned the child (Linux keeps the peak across exec): "
        "the python -c pass row is that floor, not the interpreter alone.",
        "100k papers: `--sizes shared,10000,100000` needs the cached index of bench/ingest.py "
        "(`python -m bench.ingest --sizes 100000 [--shape short] [--standin]`); this script never builds it.",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="shared,10000",
                        help="corpora: 'shared' (alias 150) and/or paper counts; over 10000 needs a cached index "
                             "from bench/ingest.py")
    parser.add_argument("--runs", type=int, default=3, help="runs of each process; the median is reported")
    common.add_corpus_options(parser)
    parser.add_argument("--workload", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--synthetic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    args.sizes = parse_sizes(parser, args.sizes)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.workload is not None:
        print(json.dumps(asdict(draw_workload(args.workload, args.synthetic))))
        return 0
    samples = measure(args.sizes, args.runs, args.shape, args.standin)
    print(render(samples, args.runs))
    png = plot(samples, args.runs)
    if png is not None:
        print(f"\nplot: {png.relative_to(REPO_ROOT)}")
    return 0


def plot(samples: Sequence[Sample], runs: int) -> Path | None:
    """``bench/out/memory.png``: the median peak RSS of each process and corpus (needs the bench extra)."""
    from bench.plots import bar_plot

    rows = [(f"{s.what.split(':')[0].split(' (')[0]}, {s.corpus} papers" if s.corpus != "–" else s.what,
             statistics.median(s.rss_mb)) for s in samples]
    return bar_plot(REPO_ROOT / "bench" / "out" / "memory.png", "paperbot peak memory (ru_maxrss)", rows, "MiB",
                    note=f"median of {runs} run(s); the bot serves 20 /ask, 20 /paper and 100 autocompletes "
                         "through the fake Discord")


if __name__ == "__main__":
    sys.exit(main())
