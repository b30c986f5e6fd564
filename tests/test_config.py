"""Settings: typed parsing, one-line errors naming the variable, .env handling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import Secret, Settings, SettingsError
from config.settings import documented_variables
from tests.conftest import REPO_ROOT


def test_defaults_without_environment() -> None:
    settings = Settings.from_env(environ={}, dotenv_path=None)
    assert settings.top_k == 5
    assert settings.data_dir == Path("data")
    assert settings.llm_backend == "extractive"
    assert not settings.chroma_server


def test_environment_values_are_typed() -> None:
    settings = Settings.from_env(
        environ={"PAPERBOT_TOP_K": "8", "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": "8123", "PAPERBOT_SOURCES": "a.md, b/"},
        dotenv_path=None,
    )
    assert settings.top_k == 8
    assert settings.chroma_port == 8123
    assert settings.sources == ("a.md", "b/")
    assert settings.chroma_server


@pytest.mark.parametrize(
    ("name", "value"),
    [("PAPERBOT_TOP_K", "abc"), ("PAPERBOT_TOP_K", "0"), ("CHROMA_PORT", "99999"), ("PAPERBOT_LLM", "gpt")],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    env = {name: value}
    if name == "CHROMA_PORT":
        env["CHROMA_HOST"] = "localhost"
    with pytest.raises(SettingsError) as err:
        Settings.from_env(environ=env, dotenv_path=None)
    assert name in str(err.value)
    assert "\n" not in str(err.value)


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PAPERBOT_TOP_K=7\nPAPERBOT_ASK_COOLDOWN=3\n")
    settings = Settings.from_env(environ={"PAPERBOT_TOP_K": "9"}, dotenv_path=dotenv)
    assert settings.top_k == 9
    assert settings.ask_cooldown == 3.0


def test_secrets_never_render() -> None:
    settings = Settings.from_env(environ={"DISCORD_TOKEN": "MTIz.canary-token-value"}, dotenv_path=None)
    assert "canary" not in repr(settings)
    assert "canary" not in str(settings.discord_token)
    assert settings.discord_token.reveal() == "MTIz.canary-token-value"
    assert isinstance(settings.discord_token, Secret)


def test_every_variable_is_documented_in_env_example() -> None:
    example = (REPO_ROOT / ".env.example").read_text()
    for name, _doc in documented_variables():
        assert f"\n{name}=" in example or f"\n# {name}=" in example, f"{name} missing from .env.example"


def test_env_example_under_docker_env_file_keeps_the_images_data_dir() -> None:
    """``docker run --env-file .env`` sets every KEY=VALUE line, overriding the image's
    ``PAPERBOT_DATA_DIR=/data``; a copied .env.example must leave the volume in charge."""
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    assigned = {line.split("=", 1)[0] for line in lines if "=" in line and not line.lstrip().startswith("#")}
    assert "PAPERBOT_DATA_DIR" not in assigned
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "PAPERBOT_DATA_DIR=/data" in dockerfile


def test_the_license_the_package_and_image_declare_is_shipped() -> None:
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert 'license = { text = "MIT" }' in (REPO_ROOT / "pyproject.toml").read_text()
    assert 'org.opencontainers.image.licenses="MIT"' in (REPO_ROOT / "Dockerfile").read_text()


def test_cli_reports_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "stats", "--data-dir", str(tmp_path)],
        env={"PAPERBOT_TOP_K": "abc", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "PAPERBOT_TOP_K" in result.stderr
    assert "Traceback" not in result.stderr
