"""The ``paperbot`` command: the scriptable face of the engine.

Each subcommand is a thin shell over :class:`index.Engine`; ``--json`` prints
one JSON document on stdout (shaped by the results' ``to_json`` methods, e.g.
``IngestReport``, ``Stats``, ``Answer``; the README shows them), everything else
(logs, progress) goes to stderr.  Heavy libraries are imported inside the commands
that need them so ``paperbot --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from config import Settings
    from index import Engine

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NOTHING_READ = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_NO_INDEX = 4
EXIT_CRASH = 70  # EX_SOFTWARE
EXIT_CONFIG = 78  # EX_CONFIG

#: Upper bound of ``-k`` and ``--limit``: more results than any digest collection
#: holds would only cost memory.
MAX_RESULTS = 1000

Command = Callable[[argparse.Namespace, "Settings"], int]


class UsageError(Exception):
    """Arguments that parse but make no sense for this index; one line for the user."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at ``--help`` rather
    than the whole usage block followed by the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 to :data:`MAX_RESULTS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_RESULTS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_RESULTS}, not {value}")
    return value


def iso_date(text: str) -> str:
    """An argparse type: a real calendar date written YYYY-MM-DD (the form the index stores)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a real date") from None


class Style:
    """ANSI colours on a terminal, plain text elsewhere (and with NO_COLOR)."""

    def __init__(self, stream: Any) -> None:
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)


#: Where ``--json`` results go while the command runs with stdout sent to stderr.
_result_streams: list[TextIO] = []


def emit_json(data: Any) -> None:
    out = _result_streams[-1] if _result_streams else sys.stdout
    json.dump(data, out, ensure_ascii=False, indent=2)
    out.write("\n")


@contextlib.contextmanager
def stdout_for_result_only(enabled: bool) -> Iterator[None]:
    """With ``--json``, stdout holds the one JSON document and nothing else: while
    the command runs, anything printed (LlamaIndex prints "Metadata length ...
    close to chunk size" with ``print``) goes to stderr, and :func:`emit_json`
    writes to the real stdout."""
    if not enabled:
        yield
        return
    _result_streams.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _result_streams.pop()


def build_engine(settings: Settings, preload_search: bool = False) -> Engine:
    """The engine for commands that write (ingest, the bot): the index is created on
    first use.  The bot passes ``preload_search`` (see :class:`~index.Engine`)."""
    from index import Engine

    return Engine(settings, preload_search=preload_search)


def open_index(settings: Settings, search: bool = False) -> Engine:
    """The engine for commands that only read.  They never create a data dir or an
    empty index: a mistyped ``--data-dir`` or a forgotten ingest is an
    :class:`~index.store.IndexMissing` error, not "no papers found".  ``search``:
    the command will search (see ``preload_search`` of :class:`~index.Engine`)."""
    from index import Engine, IndexMissing, index_location

    engine = Engine(settings, create=False, preload_search=search)
    if not engine.papers():
        raise IndexMissing(index_location(settings))
    return engine


def known_week(engine: Engine, week: str) -> str:
    """``week`` if the index has a digest for it, else a :class:`UsageError` naming the nearest ones."""
    from bot.render import unknown_week_text

    weeks = engine.weeks()
    if week not in weeks:
        raise UsageError(unknown_week_text(week, weeks))
    return week


def _progress_bar(stream: Any) -> Callable[[int, int], None] | None:
    """A one-line progress bar on a terminal; nothing when output is captured."""
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(f"\rembedding {'█' * filled}{'·' * (width - filled)} {done}/{total} papers")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    specs = args.sources or list(settings.sources)
    if not specs:
        print("paperbot: nothing to ingest: give a file, folder or URL (or set PAPERBOT_SOURCES)", file=sys.stderr)
        return EXIT_USAGE
    engine = build_engine(settings)
    report = engine.ingest(specs, progress=None if args.json else _progress_bar(sys.stderr))
    if args.json:
        emit_json(report.to_json())
    else:
        style = Style(sys.stdout)
        print(
            f"{style.bold(str(report.papers))} papers in the index: "
            f"{style.green(str(report.new))} new, {report.updated} updated, {report.unchanged} unchanged"
            f" ({report.seconds:.1f}s)"
        )
        for line in skipped_lines(report.skipped):
            print(style.yellow(line))
    return EXIT_OK if report.read_anything else EXIT_NOTHING_READ


#: Entries skipped for the same reason in one source that are listed one by one.
SKIPPED_LISTED = 3


def skipped_lines(skipped: Sequence[Any]) -> list[str]:
    """One line per skipped entry, but one line per source and reason once there
    are more than a few: a damaged file can break thousands of table rows, and a
    screenful of identical lines would hide the other problems."""
    groups: dict[tuple[str, str], list[int | None]] = {}
    for s in skipped:
        groups.setdefault((s.source, s.reason), []).append(s.line)
    out: list[str] = []
    for (source, reason), lines in groups.items():
        if len(lines) <= SKIPPED_LISTED:
            out += [f"skipped {source}:{n}: {reason}" if n else f"skipped {source}: {reason}" for n in lines]
        else:
            first = ", ".join(str(n) for n in lines[:SKIPPED_LISTED] if n)
            out.append(f"skipped {len(lines):,} entries of {source}: {reason}" + (f" (lines {first}, …)" if first else ""))
    return out


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    stats = open_index(settings).stats()
    if args.json:
        emit_json(stats.to_json())
        return EXIT_OK
    style = Style(sys.stdout)
    print(f"{style.bold(str(stats.papers))} papers in {stats.collection}")
    if stats.weeks:
        print(f"weeks: {', '.join(stats.weeks)}")
    for source in stats.sources:
        print(style.dim(f"  {source}"))
    return EXIT_OK


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from index import SearchFilters

    if args.since and args.until and args.since > args.until:
        raise UsageError(f"--since {args.since} is after --until {args.until}")
    engine = open_index(settings, search=True)
    week = known_week(engine, args.week) if args.week else None
    filters = SearchFilters(since=args.since, until=args.until, week=week, topic=args.topic)
    hits = engine.search(args.query, k=args.k, mode=args.mode, filters=filters)
    if args.json:
        emit_json(
            {
                "query": args.query,
                "hits": [
                    {
                        "rank": h.rank,
                        "paper_id": h.paper.paper_id,
                        "title": h.paper.title,
                        "url": h.paper.url,
                        "arxiv_id": h.paper.arxiv_id,
                        "score": round(h.score, 6),
                        "date": h.paper.date,
                    }
                    for h in hits
                ],
            }
        )
        return EXIT_OK
    style = Style(sys.stdout)
    if not hits:
        print("no papers found")
    for h in hits:
        print(f"{style.dim(f'{h.rank:>2}.')} {style.bold(h.paper.title)} {style.dim(h.paper.date or '')}")
        if h.paper.url:
            print(f"    {style.cyan(h.paper.url)}")
    return EXIT_OK


def paper_json(paper: Any) -> dict[str, Any]:
    """A paper in the ``paper`` command's JSON contract."""
    return {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "url": paper.url,
        "arxiv_id": paper.arxiv_id,
        "date": paper.date,
        "orgs": paper.orgs,
        "authors": paper.authors,
        "aliases": paper.aliases,
        "summary": paper.summary,
        "topics": paper.topics,
        "sources": sorted({m.source for m in paper.sources}),
    }


def cmd_paper(args: argparse.Namespace, settings: Settings) -> int:
    matches = open_index(settings).find_papers(args.query, limit=args.limit)
    if args.json:
        emit_json({"query": args.query, "matches": [paper_json(m.paper) for m in matches]})
        return EXIT_OK
    from bot.render import paper_card_text

    if not matches:
        print("no paper matches that; try a title, an arXiv id or a few keywords")
        return EXIT_OK
    print(paper_card_text(matches[0].paper, style=Style(sys.stdout)))
    if len(matches) > 1:
        print("\ndid you mean:")
        for m in matches[1:]:
            print(f"  - {m.paper.title}" + (f" ({m.paper.arxiv_id})" if m.paper.arxiv_id else ""))
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    answer = open_index(settings, search=True).ask(args.question)
    if args.json:
        emit_json(answer.to_json())
        return EXIT_OK
    from bot.render import answer_text

    print(answer_text(answer, style=Style(sys.stdout)))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    if args.formats:
        return cmd_eval_formats(args)
    if not args.files:
        raise UsageError("eval needs question files (FILE.jsonl) or --formats DIR")
    from index import QuestionFileError, evaluate_file, load_questions

    try:  # every file checked before the slow part starts
        question_sets = [(path, load_questions(path)) for path in args.files]
    except QuestionFileError as exc:
        raise UsageError(str(exc)) from None
    engine = open_index(settings, search=True)
    reports = [evaluate_file(engine, path, questions) for path, questions in question_sets]
    if args.json:
        emit_json({"files": [r.to_json() for r in reports]})
        return EXIT_OK
    for r in reports:
        print(f"\n## {r.path} ({r.kind}, {r.questions} questions)\n")
        if r.retrievers:
            metrics = list(next(iter(r.retrievers.values())))
            print("| retriever | " + " | ".join(metrics) + " |")
            print("|---|" + "---|" * len(metrics))
            for mode, values in r.retrievers.items():
                print(f"| {mode} | " + " | ".join(f"{values[m]:.3f}" for m in metrics) + " |")
        for name, value in r.answers.items():
            print(f"- ask {name}: {value:.3f}")
        for miss in r.misses:
            print(f"  miss: {json.dumps(miss, ensure_ascii=False)}")
    return EXIT_OK


def cmd_eval_formats(args: argparse.Namespace) -> int:
    """Parser quality per digest format (fixture digests with expected lists)."""
    from index import score_formats

    scores = score_formats(Path(args.formats))
    if args.json:
        emit_json({"formats": [s.to_json() for s in scores]})
        return EXIT_OK
    print("| format | found / expected | exact titles | authors | non-papers indexed | skipped |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in scores:
        authors = f"{s.right_authors}/{s.with_authors}" if s.with_authors else "–"
        print(
            f"| {s.name} | {s.found}/{s.expected} | {s.exact_title_rate:.0%} | {authors} "
            f"| {s.non_papers} ({s.non_paper_rate:.0%}) | {s.skipped} |"
        )
    for s in scores:
        for miss in s.misses:
            print(f"  {s.name}: {miss}")
    return EXIT_OK


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.chat import run_chat

    engine = open_index(settings, search=True)
    engine.answerer()  # a model that cannot be built is one line now, not a failure at every question
    return run_chat(engine, input, sys.stdout, Style(sys.stdout))


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.runner import EXIT_BAD_TOKEN, EXIT_NO_TOKEN, EXIT_UNREACHABLE, DiscordUnreachable, TokenError, run_bot

    sync_only = None
    if args.command == "sync":
        sync_only = args.guild if args.guild else "global"
    try:
        engine = build_engine(settings, preload_search=sync_only is None)  # the bot answers; sync does not
        return asyncio.run(run_bot(settings, engine, sync_only=sync_only))
    except TokenError as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_NO_TOKEN if not settings.discord_token else EXIT_BAD_TOKEN
    except DiscordUnreachable as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    """The bot when a token is configured, otherwise the terminal chat."""
    if settings.discord_token:
        return cmd_run(args, settings)
    print("DISCORD_TOKEN is not set, so here is the bot in your terminal (Ctrl-D to leave).\n", file=sys.stderr)
    return cmd_chat(args, settings)


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner import state_path
    from bot.state import BotState
    from index import IndexMissing

    if not Path(settings.data_dir).is_dir():
        raise IndexMissing(str(settings.data_dir))
    path = state_path(settings)
    # No state file: the bot never ran here, so nobody voted; reading must not create one.
    rows = BotState(path).feedback() if path.exists() else []
    if args.json:
        emit_json({"feedback": [r.to_json() for r in rows]})
        return EXIT_OK
    for r in rows:
        print(f"#{r.answer_id} +{r.up} -{r.down} {r.question}")
    if not rows:
        print("no feedback yet")
    return EXIT_OK


def cmd_announce(args: argparse.Namespace, settings: Settings) -> int:
    """What the bot would post for a week: the very messages, rendered by the same
    function as the real announcement, printed instead of sent."""
    from bot.discord_render import announcement, message_text
    from bot.render import unknown_week_text
    from bot.runner import state_path
    from bot.state import BotState

    engine = open_index(settings)
    if args.week and args.week not in engine.weeks():
        print(f"paperbot: {unknown_week_text(args.week, engine.weeks())}", file=sys.stderr)
        return EXIT_NOTHING_READ
    week, papers = engine.week_papers(args.week)
    if week is None:
        print("paperbot: nothing to announce: no paper in the index has a digest week", file=sys.stderr)
        return EXIT_NOTHING_READ
    rendered = announcement(week, papers)
    path = state_path(settings)
    waiting: list[int] = []
    if path.exists():
        state = BotState(path)
        sent = state.sent_channels(week)
        waiting = [
            s.channel_id
            for s in state.subscriptions()
            if s.channel_id not in sent and not (s.last_week and s.last_week >= week)
        ]
    if args.json:
        emit_json(
            {
                "week": week,
                "channels": waiting,
                "thread_name": rendered.thread_name,
                "messages": [
                    {"where": where, "content": m.content, "embeds": [m.embed.to_dict()] if m.embed else []}
                    for where, m in rendered.messages
                ],
            }
        )
        return EXIT_OK
    style = Style(sys.stdout)
    targets = ", ".join(map(str, waiting)) if waiting else "none"
    print(style.dim(f"dry run, nothing is posted · week {week} · subscribed channels not sent it yet: {targets}"))
    print(style.bold("\n── in the channel ──"))
    print(message_text(rendered.channel_message))
    print(style.bold(f"\n── thread “{rendered.thread_name}”, opened from that message ──"))
    for message in rendered.thread_messages:
        print()
        print(message_text(message))
    return EXIT_OK


WEEK_HELP = "Digest weeks are named by their closing Sunday: the week of Sep 23-29, 2024 is 2024-09-29."


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paperbot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """--data-dir and -v, on the main parser (``default`` None/False) and again on
    every command (``default`` SUPPRESS, so a value given before the command stays)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="where the index and bot state live (env PAPERBOT_DATA_DIR, default ./data)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default if default is argparse.SUPPRESS else False,
        help="log debug details to stderr",
    )


def _add_json_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--json", action="store_true", default=default if default is argparse.SUPPRESS else False,
        help="print one machine-readable JSON document on stdout",
    )


def build_parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    _add_global_options(common, argparse.SUPPRESS)
    with_json = OneLineParser(add_help=False)
    _add_global_options(with_json, argparse.SUPPRESS)
    _add_json_option(with_json, argparse.SUPPRESS)

    parser = OneLineParser(
        prog="paperbot",
        description="Answers questions about recent AI papers from weekly digests, with citations.",
        epilog=f"--data-dir, --json and -v go before or after the command. {WEEK_HELP}",
    )
    parser.add_argument("--version", action="version", version=f"paperbot {_version()}")
    _add_global_options(parser, None)
    _add_json_option(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[with_json], help="parse digests and index their papers")
    p.add_argument(
        "sources", nargs="*", metavar="PATH_OR_URL",
        help="digest file, folder of *.md, or http(s) URL (default: PAPERBOT_SOURCES)",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", parents=[with_json], help="what is in the index")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("search", parents=[with_json], help="find the papers that match a query", epilog=WEEK_HELP)
    p.add_argument("query", help="words to look for, e.g. \"low-bit quantization\"")
    p.add_argument("-k", type=positive_int, default=10, metavar="K", help="how many papers (default 10)")
    p.add_argument(
        "--mode", choices=["hybrid", "dense", "bm25"], default="hybrid",
        help="retriever: embeddings and keywords fused (default), embeddings only, or keywords only",
    )
    p.add_argument("--since", type=iso_date, metavar="DATE", help="only papers dated on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", type=iso_date, metavar="DATE", help="only papers dated on or before DATE (YYYY-MM-DD)")
    p.add_argument(
        "--week", type=iso_date, metavar="SUNDAY", help="only papers of the digest week closing on SUNDAY (YYYY-MM-DD)"
    )
    p.add_argument("--topic", help="only papers with this topic (e.g. \"quantization\")")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("paper", parents=[with_json], help="look a paper up by arXiv id, URL, title or keywords")
    p.add_argument("query", help="an arXiv id (2409.17066), a link, a title (typos are fine) or keywords")
    p.add_argument("--limit", type=positive_int, default=5, metavar="N", help="how many matches at most (default 5)")
    p.set_defaults(func=cmd_paper)

    p = sub.add_parser("ask", parents=[with_json], help="answer a question with cited papers")
    p.add_argument("question", help="a question about the papers in the digests, e.g. \"what is VPTQ?\"")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("run", parents=[common], help="start the Discord bot (needs DISCORD_TOKEN)")
    p.set_defaults(func=cmd_run, log_level="INFO")

    p = sub.add_parser("chat", parents=[common], help="the bot's commands in this terminal")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("start", parents=[common], help="the bot if DISCORD_TOKEN is set, else the terminal chat")
    p.set_defaults(func=cmd_start, log_level="INFO")

    p = sub.add_parser("sync", parents=[common], help="register the slash commands with Discord")
    p.add_argument("--guild", type=int, metavar="ID", help="sync to one guild (instant) instead of globally")
    p.set_defaults(func=cmd_run, log_level="INFO")

    p = sub.add_parser("feedback", parents=[with_json], help="export the 👍/👎 feedback on answers")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser(
        "announce", parents=[with_json], help="show the weekly digest announcement the bot would post", epilog=WEEK_HELP
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        required=True,
        help="print the messages instead of posting (the bot posts on its schedule)",
    )
    p.add_argument(
        "--week", type=iso_date, metavar="SUNDAY", help="the digest week closing on SUNDAY, YYYY-MM-DD (default: the newest)"
    )
    p.set_defaults(func=cmd_announce)

    p = sub.add_parser("eval", parents=[with_json], help="score retrieval and answers on JSONL question sets")
    p.add_argument(
        "files", nargs="*", metavar="FILE.jsonl",
        help='one question a line: {"q": "...", "expect": ["arXiv id or title fragment", ...]}',
    )
    p.add_argument("--formats", metavar="DIR", help="score the digest parser on DIR/*.md against DIR/*.expected.json instead")
    p.set_defaults(func=cmd_eval)
    return parser


#: Commands that talk to a person or to Discord, with nothing to print as JSON.
WITHOUT_JSON = frozenset({"chat", "run", "start", "sync"})

#: Commands that only read.  Once their output is written nothing is left to save,
#: so the console script skips the interpreter's teardown: dismantling chromadb's
#: ~900 modules takes 0.2-0.3 s, a fifth of a cold ``paperbot search``.
QUICK_EXIT = frozenset({"search", "paper", "ask", "stats"})


def entry() -> None:
    """The ``paperbot`` console script and ``python -m bot.cli``."""
    sys.exit(main(quick_exit=True))


def _exit_now(code: int) -> NoReturn:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nobody is reading any more
            pass
    os._exit(code)


def main(argv: Sequence[str] | None = None, quick_exit: bool = False) -> int:
    from config import Settings, SettingsError
    from config.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `paperbot`: what it can do, not an error
        parser.print_help()
        return EXIT_OK
    if args.json and args.command in WITHOUT_JSON:
        parser.error(f"{args.command} has no --json output")
    try:
        settings = Settings.from_env(data_dir=Path(args.data_dir) if args.data_dir else None)
    except SettingsError as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # The bot's commands (those with a log_level default) log at PAPERBOT_LOG_LEVEL;
    # one-shot commands only warn, so their output stays what the user asked for.
    level = settings.log_level if hasattr(args, "log_level") else "WARNING"
    setup_logging("DEBUG" if args.verbose else level, settings.secrets())
    with stdout_for_result_only(args.json):
        code = _run(args, settings)
    if quick_exit and args.command in QUICK_EXIT:
        _exit_now(code)
    return code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """The command, with every failure turned into a short message and an exit status."""
    from bot.state import StateUnavailable
    from index import IndexMissing, LLMError, StoreUnavailable

    try:
        return int(args.func(args, settings))
    except UsageError as exc:
        print(f"paperbot {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IndexMissing as exc:
        data_dir = "" if settings.chroma_host else f" --data-dir {settings.data_dir}"
        print(f"paperbot: {exc} — run `paperbot ingest PATH_OR_URL{data_dir}` first", file=sys.stderr)
        return EXIT_NO_INDEX
    except LLMError as exc:  # the configured model cannot be built (missing extra, no model file)
        log.debug("LLM unavailable", exc_info=True)
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreUnavailable as exc:
        log.debug("store unavailable", exc_info=True)
        print(f"paperbot: index unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except StateUnavailable as exc:
        log.debug("bot state unavailable", exc_info=True)
        print(f"paperbot: bot state unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `paperbot search ... | head`: the reader has what it wanted.  Point stdout
        # at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        # Through logging, not Python's default hook: the log handler redacts the
        # token and API keys, and an exception's text can hold either (a URL, a
        # server's error body echoing a header).  The one line names only the type.
        log.critical("paperbot %s failed unexpectedly", args.command, exc_info=True)
        print(f"paperbot: unexpected error ({type(exc).__name__}); the details are in the log above", file=sys.stderr)
        return EXIT_CRASH


if __name__ == "__main__":
    entry()
