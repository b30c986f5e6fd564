"""``paperbot`` as a new (or careless) user meets it: a real subprocess each time.

Every mistake below used to end in a traceback, a silently created empty index or
a silently ignored option.  Each must now be one line on stderr that says what
is wrong, with a named non-zero exit status, and must leave the disk as it was:

* errors: no network for ``run``, a malformed ``DISCORD_API_URL``, ``eval`` on a
  missing file, a folder, bad JSONL or an empty file, ``--limit -1``, an LLM
  backend whose extra is not installed;
* read commands on a missing or empty index: "no papers indexed in DIR", and no
  data dir, ``chroma/`` or ``bot.sqlite3`` is created (``PAPERBOT_DATA_DIR=``
  empty included);
* filters: a week or date that is not a date, a week that is not a digest week
  (with the nearest ones), ``-k -5``;
* the command line itself: global options before the command, bare ``paperbot``,
  ``--version``, help for every argument, ``chat --json``.

The index is one small digest of our own (tests/fixtures/cli), two weeks closing
on Sundays 2024-09-29 and 2024-10-06, ingested once for the module.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, paperbot_subprocess

DIGEST = REPO_ROOT / "tests" / "fixtures" / "cli" / "two-weeks-2024.md"
WEEKS = ["2024-09-29", "2024-10-06"]
EXIT_USAGE, EXIT_NO_INDEX, EXIT_UNREACHABLE, EXIT_CONFIG = 2, 4, 69, 78


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-index")
    result = paperbot_subprocess(home, "ingest", str(DIGEST), "--json", "--data-dir", str(home / "data"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["papers"] == 4
    return home / "data"


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The exit status is ``code`` and stderr is exactly one line (no traceback); that line."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- 2: one line instead of a traceback ------------------------------------------------------------
def test_run_without_a_reachable_discord_is_one_line(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    port = closed_port()
    env = {
        "DISCORD_TOKEN": "abc",
        "DISCORD_API_URL": f"http://127.0.0.1:{port}/api/v10",
        "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{port}/gateway",
        "PAPERBOT_DATA_DIR": str(tmp_path / "data"),
    }
    result = run_cli("run", env=env, check=False)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # `run` logs at INFO ("logging in ..."); the last line is the error, naming where it went.
    assert result.stderr.strip().splitlines()[-1] == (
        f"paperbot: cannot reach Discord at 127.0.0.1:{port} (connection refused): check the network or DISCORD_API_URL"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("DISCORD_API_URL", "notaurl"), ("DISCORD_API_URL", "ftp://example.org/api"), ("DISCORD_GATEWAY_URL", "http:///gateway")],
)
def test_a_malformed_discord_url_is_refused_before_connecting(run_cli, tmp_path: Path, name: str, value: str) -> None:  # noqa: ANN001
    env = {"DISCORD_TOKEN": "abc", name: value, "PAPERBOT_DATA_DIR": str(tmp_path / "data")}
    line = one_line_error(run_cli("run", env=env, check=False), EXIT_USAGE)
    assert line.startswith(f"paperbot: {name}=") and "must be a URL" in line
    assert not (tmp_path / "data").exists()


def test_eval_on_unusable_question_files_is_one_line(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"q": "what is VPTQ?", "expect": ["2409.17066"]}\n{"q": oops\n', encoding="utf-8")
    not_a_question = tmp_path / "list.jsonl"
    not_a_question.write_text('["what is VPTQ?"]\n', encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    cases = {
        str(tmp_path / "missing.jsonl"): f"paperbot eval: {tmp_path / 'missing.jsonl'}: no such file",
        str(tmp_path): f"paperbot eval: {tmp_path} is a folder; give a .jsonl file of questions",
        str(bad_json): f"paperbot eval: {bad_json}:2: not a JSON line",
        str(not_a_question): f'paperbot eval: {not_a_question}:1: expected {{"q": "question", "expect": [...]}}',
        str(empty): f"paperbot eval: {empty} has no questions",
    }
    for path, expected in cases.items():
        result = run_cli("eval", path, "--data-dir", str(tmp_path / "data"), check=False)
        assert one_line_error(result, EXIT_USAGE) == expected
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("limit", ["-1", "0", "abc", "100000000000"])
def test_paper_limit_must_be_a_positive_number(run_cli, data_dir: Path, limit: str) -> None:  # noqa: ANN001
    line = one_line_error(run_cli("paper", "--limit", limit, "llama herd", "--data-dir", str(data_dir), check=False), EXIT_USAGE)
    assert line.startswith("paperbot paper: argument --limit: ") and "--help" in line


def test_an_llm_backend_without_its_extra_is_one_line(run_cli, data_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    env = {"PAPERBOT_LLM": "llamacpp", "PAPERBOT_LLM_MODEL": str(tmp_path / "model.gguf")}
    for command in (["ask", "what is VPTQ?"], ["chat"]):
        line = one_line_error(run_cli(*command, "--data-dir", str(data_dir), env=env, input="", check=False), EXIT_CONFIG)
        if importlib.util.find_spec("llama_index.llms.llama_cpp") is None:
            assert line == "paperbot: PAPERBOT_LLM=llamacpp needs the local-llm extra: pip install 'paperbot[local-llm]'"
        else:  # the extra is installed here: the next thing missing is the model file
            assert line == f"paperbot: GGUF model file not found: {tmp_path / 'model.gguf'}"


def test_the_readme_names_the_local_llm_extra() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install 'paperbot[local-llm]'" in readme and "PAPERBOT_LLM=llamacpp" in readme


# -- 3: reading never creates an index -------------------------------------------------------------
READ_COMMANDS = [
    ["search", "quantization"],
    ["stats"],
    ["ask", "what is VPTQ?"],
    ["paper", "2409.17066"],
    ["announce", "--dry-run"],
    ["chat"],
    ["feedback"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_read_commands_on_a_missing_data_dir_create_nothing(run_cli, tmp_path: Path, command: list[str]) -> None:  # noqa: ANN001
    missing = tmp_path / "typo"
    line = one_line_error(run_cli(*command, "--data-dir", str(missing), input="", check=False), EXIT_NO_INDEX)
    assert line == f"paperbot: no papers indexed in {missing} — run `paperbot ingest PATH_OR_URL --data-dir {missing}` first"
    assert not missing.exists()


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_read_commands_on_an_empty_data_dir_create_nothing(run_cli, tmp_path: Path, command: list[str]) -> None:  # noqa: ANN001
    empty = tmp_path / "data"
    empty.mkdir()
    result = run_cli(*command, "--data-dir", str(empty), input="", check=False)
    assert list(empty.iterdir()) == []
    if command == ["feedback"]:  # the bot never ran here: nobody voted, and that is not an error
        assert (result.returncode, result.stdout) == (0, "no feedback yet\n"), result.stderr
    else:
        assert one_line_error(result, EXIT_NO_INDEX).startswith(f"paperbot: no papers indexed in {empty} — run `paperbot ingest")


def test_an_index_without_papers_is_reported_as_empty(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    blank = tmp_path / "blank.md"
    blank.write_text("\n", encoding="utf-8")
    data = tmp_path / "data"
    assert run_cli("ingest", str(blank), "--data-dir", str(data), check=False).returncode == 1
    for command in (["stats", "--json"], ["search", "quantization"]):
        line = one_line_error(run_cli(*command, "--data-dir", str(data), check=False), EXIT_NO_INDEX)
        assert line.startswith(f"paperbot: no papers indexed in {data} — ")


def test_an_empty_data_dir_variable_is_the_default_not_the_current_directory(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    line = one_line_error(run_cli("stats", env={"PAPERBOT_DATA_DIR": ""}, check=False), EXIT_NO_INDEX)
    assert line.startswith("paperbot: no papers indexed in data — ")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # run_cli's cwd is tmp_path: nothing written there


# -- 4: filters that cannot match are rejected -----------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--week", "banana"], "paperbot search: argument --week: 'banana' is not a date YYYY-MM-DD"),
        (["--since", "2024-13-01"], "paperbot search: argument --since: 2024-13-01 is not a real date"),
        (["--until", "2024-02-30"], "paperbot search: argument --until: 2024-02-30 is not a real date"),
        (["-k", "-5"], "paperbot search: argument -k: must be between 1 and 1000, not -5"),
        (["-k", "0"], "paperbot search: argument -k: must be between 1 and 1000, not 0"),
    ],
)
def test_search_rejects_malformed_filters(run_cli, data_dir: Path, args: list[str], expected: str) -> None:  # noqa: ANN001
    line = one_line_error(run_cli("search", "quantization", *args, "--data-dir", str(data_dir), check=False), EXIT_USAGE)
    assert line == f"{expected} (see `paperbot search --help`)"


def test_a_week_that_is_no_digest_week_names_the_nearest(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    monday = run_cli("search", "quantization", "--week", "2024-09-30", "--data-dir", str(data_dir), check=False)
    assert one_line_error(monday, EXIT_USAGE) == (
        "paperbot search: no digest for the week 2024-09-30 (2024-09-30 is a Monday; weeks are named by their"
        " closing Sunday); nearest known weeks: 2024-09-29, 2024-10-06"
    )
    far = run_cli("search", "quantization", "--week", "2023-01-01", "--data-dir", str(data_dir), check=False)
    assert one_line_error(far, EXIT_USAGE) == (
        "paperbot search: no digest for the week 2023-01-01; nearest known weeks: 2024-09-29, 2024-10-06"
    )
    backwards = run_cli("search", "q", "--since", "2024-10-01", "--until", "2024-09-01", "--data-dir", str(data_dir), check=False)
    assert one_line_error(backwards, EXIT_USAGE) == "paperbot search: --since 2024-10-01 is after --until 2024-09-01"


def test_a_digest_week_filters_and_k_limits(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    def found(*args: str) -> set[str]:
        result = run_cli("search", "open language models and image tokens", *args, "--json", "--data-dir", str(data_dir))
        return {h["arxiv_id"] for h in json.loads(result.stdout)["hits"]}

    assert found() & {"2409.12191", "2409.17066"}  # the first week has matches...
    in_week = found("--week", "2024-10-06")
    assert in_week and in_week <= {"2410.01201", "2409.02060"}  # ...that the second week's filter leaves out
    hits = json.loads(run_cli("search", "language models", "-k", "1", "--json", "--data-dir", str(data_dir)).stdout)["hits"]
    assert len(hits) == 1


def test_help_and_readme_say_weeks_are_named_by_their_closing_sunday(run_cli) -> None:  # noqa: ANN001
    assert "closing Sunday" in run_cli("search", "--help").stdout
    assert "closing Sunday" in run_cli("announce", "--help").stdout
    assert "closing Sunday" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")


# -- 5: the command line itself --------------------------------------------------------------------
def test_global_options_work_before_the_command(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    stats = json.loads(run_cli("--data-dir", str(data_dir), "--json", "stats").stdout)
    assert (stats["papers"], stats["weeks"]) == (4, WEEKS)
    human = run_cli("--data-dir", str(data_dir), "stats").stdout
    assert human.startswith("4 papers in ")
    mixed = json.loads(run_cli("--json", "search", "quantization", "-k", "1", "--data-dir", str(data_dir)).stdout)
    assert mixed["hits"][0]["arxiv_id"] == "2409.17066"


def test_bare_paperbot_prints_help_and_version_is_known(run_cli) -> None:  # noqa: ANN001
    bare = run_cli()
    assert bare.stdout.startswith("usage: paperbot") and "search" in bare.stdout and bare.stderr == ""
    version = run_cli("--version").stdout.strip()
    assert version.startswith("paperbot ") and version.split()[1][0].isdigit()


def test_every_argument_has_help_text() -> None:
    """What ``--help`` prints for each command: no argument without an explanation."""
    import argparse

    from bot.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in [("paperbot", parser), *commands.choices.items()]:
        for action in command._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_help_explains_query_question_and_limit(run_cli) -> None:  # noqa: ANN001
    paper = run_cli("paper", "--help").stdout
    assert "an arXiv id (2409.17066), a link, a title" in paper and "how many matches at most" in paper
    assert "a question about the papers in the digests" in run_cli("ask", "--help").stdout
    assert "words to look for" in run_cli("search", "--help").stdout


def test_chat_has_no_json_output(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    after = run_cli("chat", "--json", "--data-dir", str(data_dir), input="", check=False)
    assert one_line_error(after, EXIT_USAGE) == "paperbot: unrecognized arguments: --json (see `paperbot --help`)"
    before = run_cli("--json", "chat", "--data-dir", str(data_dir), input="", check=False)
    assert one_line_error(before, EXIT_USAGE) == "paperbot: chat has no --json output (see `paperbot --help`)"


# -- 7: the terminal chat reads like a terminal ----------------------------------------------------
def test_chat_renders_markdown_and_takes_help_without_a_slash(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    result = run_cli("chat", "--data-dir", str(data_dir), input="help\nwhat is VPTQ?\n")
    out = result.stdout
    assert "/digest show [WEEK]" in out  # `help` without the slash
    assert "Unknown command" not in out and "don't cover" not in out
    assert "VPTQ [1]" in out and "From the digest of 2024-09-29." in out
    assert "[1] VPTQ — https://arxiv.org/abs/2409.17066" in out
    assert "**" not in out and "_From" not in out


def test_ask_renders_markdown_for_the_terminal_and_keeps_it_in_json(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    human = run_cli("ask", "what is VPTQ?", "--data-dir", str(data_dir)).stdout
    assert "VPTQ [1]" in human and "**" not in human and "_From" not in human
    answer = json.loads(run_cli("ask", "what is VPTQ?", "--json", "--data-dir", str(data_dir)).stdout)["answer"]
    assert "**VPTQ** [1]" in answer and "_From the digest of 2024-09-29._" in answer  # the JSON contract is markdown


def test_terminal_markdown_keeps_links_readable_and_resolves_escapes() -> None:
    from bot.render import markdown_for_terminal

    text = (
        "## Two papers\n- **Q\\*: Planning** [1]: see [the paper](<https://arxiv.org/abs/2406.14283>),"
        " <https://example.org/x_y> and `snake_case_name`\n* __OLMoE__ [2] is *open*; 2*3*4 stays"
    )
    assert markdown_for_terminal(text) == (
        "Two papers\n• Q*: Planning [1]: see the paper (https://arxiv.org/abs/2406.14283),"
        " https://example.org/x_y and snake_case_name\n• OLMoE [2] is open; 2*3*4 stays"
    )


def test_reading_from_a_chroma_server_creates_no_database(run_cli, chroma_server: tuple[str, int], tmp_path: Path) -> None:  # noqa: ANN001
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.errors import NotFoundError

    host, port = chroma_server
    env = {"CHROMA_HOST": host, "CHROMA_PORT": str(port), "CHROMA_DATABASE": "never-ingested"}
    line = one_line_error(run_cli("stats", "--data-dir", str(tmp_path / "data"), env=env, check=False), EXIT_NO_INDEX)
    assert line == (
        f"paperbot: no papers indexed in database never-ingested on the Chroma server {host}:{port}"
        " — run `paperbot ingest PATH_OR_URL` first"
    )
    admin = chromadb.AdminClient(ChromaSettings(chroma_server_host=host, chroma_server_http_port=port, anonymized_telemetry=False))
    with pytest.raises(NotFoundError):
        admin.get_database("never-ingested")
    assert not (tmp_path / "data").exists()
