"""``paperbot chat`` and ``paperbot start`` without a token: the bot in a terminal,
as a new user meets it after ``make run`` (a real subprocess fed on stdin)."""

from __future__ import annotations

from pathlib import Path


def test_chat_answers_looks_up_and_shows_the_digest(run_cli, fixture_data_dir: Path) -> None:  # noqa: ANN001
    script = "what is VPTQ?\n/paper VPQT extreme low-bit quantization\n/digest show 2024-09-29\n/quit\n"
    result = run_cli("chat", "--data-dir", str(fixture_data_dir), input=script)
    out = result.stdout
    assert out.startswith("paperbot — 50 papers from 12 digest weeks.")
    # the answer: cited, linked, stamped with its digest week
    assert "[1]" in out and "[1] VPTQ: Extreme Low-bit Vector Post-Training Quantization" in out
    assert "https://arxiv.org/abs/2409.17066" in out and "From the digest of 2024-10-06." in out and "**" not in out
    # the paper card for a typo'd title
    assert "2024-09-25 · Microsoft, USTC" in out
    # the week's digest
    assert "AI paper digest — week of 2024-09-29 (5 papers)" in out
    assert "Traceback" not in result.stderr


def test_chat_keeps_the_conversation_and_declines_off_topic(run_cli, fixture_data_dir: Path) -> None:  # noqa: ANN001
    script = "What is a good recipe for pizza dough?\n/new\n/nonsense\n"
    result = run_cli("chat", "--data-dir", str(fixture_data_dir), input=script)
    assert "The digests don't cover that." in result.stdout
    assert "Starting a new conversation." in result.stdout
    assert "Unknown command /nonsense. Type /help." in result.stdout  # and end of input quits cleanly


def test_start_without_a_token_opens_the_chat(run_cli, fixture_data_dir: Path) -> None:  # noqa: ANN001
    result = run_cli("start", "--data-dir", str(fixture_data_dir), input="/help\n")
    assert "DISCORD_TOKEN is not set" in result.stderr
    assert "/paper QUERY" in result.stdout


def test_chat_shows_the_sample_digest_with_each_title_once_and_its_summary(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    """The first digest a new user sees after ``make run``: the sample's bold linked
    titles are also its headlines, which must not be printed twice in place of the summary."""
    from tests.conftest import REPO_ROOT

    data_dir = tmp_path / "data"
    run_cli("ingest", str(REPO_ROOT / "samples"), "--data-dir", str(data_dir))
    out = run_cli("chat", "--data-dir", str(data_dir), input="/digest show\n/quit\n").stdout
    title = "DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement Learning"
    assert out.count(title) == 1, out
    assert "Large-scale reinforcement learning with rule-based rewards" in out
