"""`--help` of `loyalty-gateway` and of each command (issue 20, finding 3): one list of the
commands, and every help names the configuration file, the main variables and the docs."""

from __future__ import annotations

import re

import pytest

from tests.support.process import run_cli

COMMANDS = ("serve", "check-config", "reload", "sandbox")


def _help(*args: str) -> str:
    done = run_cli(*args, "--help", env={})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_the_top_level_help_lists_each_command_once() -> None:
    text = _help()
    for command in COMMANDS:
        listed = re.findall(rf"^\s*{re.escape(command)}\b", text, re.MULTILINE)
        assert len(listed) == 1, (command, text)
    assert "{serve,check-config,reload,sandbox}" not in text


@pytest.mark.parametrize("command", ["", "serve", "check-config", "reload"])
def test_the_gateway_helps_name_the_file_the_main_variables_and_the_docs(command: str) -> None:
    text = _help(*([command] if command else []))
    for needed in (
        "GATEWAY_CONFIG",
        "config/gateway.example.toml",
        "GATEWAY_SESSION_SECRET",
        "PUNCHH_BASE_URL, PUNCHH_CLIENT_ID, PUNCHH_CLIENT_SECRET",
        "GATEWAY_SANDBOX",
        "GATEWAY_HOST, GATEWAY_PORT",
        "docs/operators/configuration.md",
    ):
        assert needed in text, (needed, text)


def test_the_sandbox_help_names_its_options_variables_and_docs() -> None:
    text = _help("sandbox")
    for needed in (
        "--host",
        "--port",
        "--location",
        "--allow-non-loopback",
        "PUNCHH_CLIENT_ID, PUNCHH_CLIENT_SECRET",
        "PUNCHH_BUSINESS_KEY",
        "GATEWAY_CONFIG",
        'docs/guide.md, "The sandbox"',
        "docs/operators/configuration.md",
    ):
        assert needed in text, (needed, text)


def test_check_config_help_says_what_it_prints_and_its_exit_code() -> None:
    text = _help("check-config")
    assert "warnings" in text
    assert "exit code 2" in text
