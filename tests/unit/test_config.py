"""Configuration: TOML plus environment, every problem named at once, secrets masked."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gateway.config import SETTINGS, ConfigError, load_config
from gateway.settings import TABLE_VALUED
from tests.support.process import run_cli

ROOT = Path(__file__).resolve().parents[2]
GOOD_ENV = {
    "PUNCHH_BASE_URL": "https://sandbox.punchh.com",
    "PUNCHH_CLIENT_ID": "cid",
    "PUNCHH_CLIENT_SECRET": "very-secret-client-value",
    "GATEWAY_SESSION_SECRET": "s" * 40,
}


def _problems(env: dict[str, str], path: str | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    return info.value.problems


def test_interface_env_names() -> None:
    cfg = load_config(None, {**GOOD_ENV, "GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "9000"})
    assert (cfg.server.host, cfg.server.port) == ("0.0.0.0", 9000)
    assert cfg.punchh.base_url == "https://sandbox.punchh.com"
    assert cfg.punchh.client_id == "cid"
    assert cfg.punchh.client_secret.reveal() == "very-secret-client-value"
    assert cfg.session.secret.reveal() == "s" * 40


def test_env_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[server]\nport = 7000\n[punchh]\nclient_id = "from-file"\n')
    cfg = load_config(str(f), {k: v for k, v in GOOD_ENV.items() if k != "PUNCHH_CLIENT_ID"})
    assert (cfg.server.port, cfg.punchh.client_id) == (7000, "from-file")
    cfg = load_config(str(f), {**GOOD_ENV, "GATEWAY_PORT": "7001"})
    assert (cfg.server.port, cfg.punchh.client_id) == (7001, "cid")


def test_every_problem_at_once_secrets_masked(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[server]\nprot = 1\n[punchh.digest]\nauth = "md5"\n')
    problems = _problems(
        {"GATEWAY_PORT": "eighty", "PUNCHH_BASE_URL": "ftp://x", "GATEWAY_SESSION_SECRET": "short"},
        str(f),
    )
    text = "\n".join(problems)
    assert "server.port (GATEWAY_PORT) = 'eighty': expected an integer from 0 to 65535" in text
    assert "punchh.base_url (PUNCHH_BASE_URL) = 'ftp://x': expected an http(s) URL" in text
    assert (
        "session.secret (GATEWAY_SESSION_SECRET) = <secret, 5 chars>: expected at least 32" in text
    )
    assert "punchh.digest.auth = 'md5': expected one of sha1, sha256, none" in text
    assert "server.prot: unknown key" in text
    assert "punchh.client_secret (PUNCHH_CLIENT_SECRET) = <empty>: required" in text
    assert "short" not in text
    assert len(problems) == len(set(problems))


def test_secrets_never_in_repr() -> None:
    cfg = load_config(None, GOOD_ENV)
    assert "very-secret-client-value" not in repr(cfg)
    assert "s" * 40 not in repr(cfg)


def test_unreadable_file() -> None:
    problems = _problems(GOOD_ENV, "/nonexistent/gateway.toml")
    assert problems[0].startswith("GATEWAY_CONFIG = '/nonexistent/gateway.toml': cannot read")


def test_pos_devices_checked(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text(
        '[pos]\nenabled = true\n[[pos.devices]]\nname = "a"\nkey = "short"\nlocation_key = "L"\n'
    )
    text = "\n".join(_problems(GOOD_ENV, str(f)))
    assert "pos.devices[0].key = <secret, 5 chars>: expected a string of 16+ characters" in text
    assert "pos.business_key (PUNCHH_BUSINESS_KEY) = <empty>: required when pos.enabled" in text


def test_sandbox_needs_no_punchh_credentials() -> None:
    cfg = load_config(None, {"GATEWAY_SANDBOX": "true", "GATEWAY_SESSION_SECRET": "s" * 40})
    assert cfg.sandbox.enabled
    assert cfg.punchh.client_id
    assert cfg.punchh.client_secret


def _keys(doc: dict[str, object], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in doc.items():
        if isinstance(v, dict) and f"{prefix}{k}" not in TABLE_VALUED:  # cache.ttls: one key
            out |= _keys(v, f"{prefix}{k}.")
        else:
            out.add(f"{prefix}{k}")
    return out


def test_example_documents_every_key_and_env() -> None:
    text = (ROOT / "config" / "gateway.example.toml").read_text()
    assert _keys(tomllib.loads(text)) == {s.key for s in SETTINGS}
    for s in SETTINGS:
        if s.env:
            assert re.search(rf"#\s*{s.env}\b", text), s.env


def test_shipped_configs_load() -> None:
    env = {"GATEWAY_SESSION_SECRET": "s" * 40}
    load_config(str(ROOT / "config" / "gateway.dev.toml"), env)
    load_config(str(ROOT / "config" / "gateway.example.toml"), {**GOOD_ENV, **env})


def test_check_configrun_cli() -> None:
    ok = run_cli("check-config", env=GOOD_ENV)
    assert ok.returncode == 0, ok.stderr
    assert "configuration ok" in ok.stdout
    bad = run_cli(
        "check-config",
        env={
            **GOOD_ENV,
            "GATEWAY_PORT": "x",
            "PUNCHH_CLIENT_SECRET": "",
            "GATEWAY_SESSION_SECRET": "tiny",
        },
    )
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert lines[0] == "invalid configuration (3 problem(s)):"
    assert "tiny" not in bad.stderr


def test_serve_refuses_bad_config_with_the_same_lines() -> None:
    bad = run_cli("serve", env={"GATEWAY_PORT": "x"})
    assert bad.returncode == 2
    assert "server.port (GATEWAY_PORT) = 'x'" in bad.stderr


def test_slow_client_settings() -> None:
    """Issue 15, finding 7: header and body timeouts, keep-alive idle time, connection cap."""
    server = load_config(None, GOOD_ENV).server
    assert (server.header_timeout, server.body_timeout) == (10.0, 15.0)
    assert (server.keepalive_timeout, server.max_connections) == (75.0, 10000)
    server = load_config(
        None,
        {
            **GOOD_ENV,
            "GATEWAY_HEADER_TIMEOUT": "2.5",
            "GATEWAY_BODY_TIMEOUT": "30",
            "GATEWAY_KEEPALIVE_TIMEOUT": "620",
            "GATEWAY_MAX_CONNECTIONS": "3",
        },
    ).server
    assert (server.header_timeout, server.body_timeout) == (2.5, 30.0)
    assert (server.keepalive_timeout, server.max_connections) == (620.0, 3)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"GATEWAY_HEADER_TIMEOUT": "0"},
            "server.header_timeout (GATEWAY_HEADER_TIMEOUT) = '0': expected seconds from 0.1 "
            "to 300",
        ),
        (
            {"GATEWAY_BODY_TIMEOUT": "slow"},
            "server.body_timeout (GATEWAY_BODY_TIMEOUT) = 'slow': expected seconds from 0.1 "
            "to 3600",
        ),
        (
            {"GATEWAY_KEEPALIVE_TIMEOUT": "0"},
            "server.keepalive_timeout (GATEWAY_KEEPALIVE_TIMEOUT) = '0': expected seconds from "
            "1 to 3600",
        ),
        (
            {"GATEWAY_MAX_CONNECTIONS": "0"},
            "server.max_connections (GATEWAY_MAX_CONNECTIONS) = '0': expected an integer from "
            "1 to 1000000",
        ),
        (
            {"GATEWAY_MAX_CONNECTIONS": "1.5"},
            "server.max_connections (GATEWAY_MAX_CONNECTIONS) = '1.5': expected an integer "
            "from 1 to 1000000",
        ),
    ],
)
def test_slow_client_settings_checked(env: dict[str, str], line: str) -> None:
    assert _problems({**GOOD_ENV, **env}) == [line]


def test_slow_client_settings_from_the_file(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text("[server]\nheader_timeout = 5\nmax_connections = 20000\nbody_timeout = true\n")
    assert _problems(GOOD_ENV, str(f)) == [
        "server.body_timeout = True: expected seconds from 0.1 to 3600"
    ]
    f.write_text("[server]\nheader_timeout = 5\nmax_connections = 20000\n")
    server = load_config(str(f), GOOD_ENV).server
    assert (server.header_timeout, server.max_connections) == (5.0, 20000)


@pytest.mark.parametrize("agent", ["curl/8.0", "Loyalty Gateway/OnlineOrder/1.0", "x"])
def test_a_user_agent_punchh_would_refuse_is_a_start_up_error(agent: str) -> None:
    """Punchh (and the sandbox) refuse a User-Agent not in Name/Type/Version form with 400:
    a gateway started with one would fail every call, so it does not start."""
    for env_name, key in (
        ("PUNCHH_USER_AGENT", "punchh.user_agent"),
        ("PUNCHH_POS_USER_AGENT", "punchh.pos_user_agent"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(None, {**GOOD_ENV, env_name: agent})
        assert any(p.startswith(f"{key} ({env_name})") for p in caught.value.problems)
    assert load_config(None, {**GOOD_ENV, "PUNCHH_USER_AGENT": "Brand/OnlineOrder/2.0/Web"})
