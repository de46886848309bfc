"""What check-config said "ok" to (issue 20, finding 4): a base URL the sandbox makes
ignored and an unknown variable are warnings; plain http to another host, a base URL with
a path and two listeners on one port are problems, which serve refuses too."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, GatewayConfig, load_config
from tests.support.process import run_cli

ENV = {
    "PUNCHH_BASE_URL": "https://punchh.example",
    "PUNCHH_CLIENT_ID": "client-a",
    "PUNCHH_CLIENT_SECRET": "client-secret",
    "GATEWAY_SESSION_SECRET": "s" * 40,
}
SANDBOX = {"GATEWAY_SANDBOX": "1", "GATEWAY_SESSION_SECRET": "s" * 40}
BRAND_B = '[[businesses]]\nname = "brand-b"\nhosts = ["b.example"]\npunchh.client_id = "b"\n'


def _load(**env: str) -> GatewayConfig:
    return load_config(None, {**ENV, **env})


def _problems(**env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(**env)
    return caught.value.problems


def test_a_base_url_the_embedded_sandbox_makes_ignored_is_a_warning() -> None:
    cfg = load_config(None, {**SANDBOX, "PUNCHH_BASE_URL": "https://punchh.example"})
    assert cfg.warnings == (
        "punchh.base_url (PUNCHH_BASE_URL) = 'https://punchh.example': ignored: "
        "sandbox.enabled (GATEWAY_SANDBOX) is true, the embedded sandbox is the upstream",
    )
    assert load_config(None, SANDBOX).warnings == ()
    assert _load().warnings == ()


@pytest.mark.parametrize(
    "url", ["http://punchh.example", "http://10.0.0.5:8090", "http://sandbox:8090"]
)
def test_plain_http_to_another_host_is_a_problem_unless_allowed(url: str) -> None:
    (problem,) = _problems(PUNCHH_BASE_URL=url)
    assert problem.startswith(f"punchh.base_url (PUNCHH_BASE_URL) = {url!r}: plain http")
    assert "punchh.allow_insecure_http (PUNCHH_ALLOW_INSECURE_HTTP) = true" in problem
    assert _load(PUNCHH_BASE_URL=url, PUNCHH_ALLOW_INSECURE_HTTP="true").punchh.base_url == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8090", "http://localhost:8090", "http://[::1]:8090", "https://x.io"]
)
def test_loopback_and_https_need_no_permission(url: str) -> None:
    assert _load(PUNCHH_BASE_URL=url).punchh.base_url == url


def test_a_base_url_with_a_path_is_a_problem() -> None:
    assert _problems(PUNCHH_BASE_URL="https://punchh.example/api/auth") == [
        "punchh.base_url (PUNCHH_BASE_URL) = 'https://punchh.example/api/auth': expected no "
        "path (the gateway adds Punchh's own, /api/auth/...): https://punchh.example"
    ]
    assert _load(PUNCHH_BASE_URL="https://punchh.example/").punchh.base_url == (
        "https://punchh.example"
    )


def test_a_business_of_its_own_is_checked_under_its_name(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BRAND_B + 'punchh.base_url = "http://b.example"\n')
    env = {**ENV, "PUNCHH_CLIENT_SECRET__BRAND_B": "b-secret"}
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), env)
    (problem,) = caught.value.problems
    assert problem.startswith("businesses.brand-b.punchh.base_url = 'http://b.example': plain")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"GATEWAY_PORT": "9000", "GATEWAY_ADMIN_PORT": "9000"},
            "admin.port (GATEWAY_ADMIN_PORT) = 9000: server.port (GATEWAY_PORT) listens on this "
            "port of this address too: expected another port (0: /metrics and the status page "
            "on the main port)",
        ),
        (
            {"GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "9000", "GATEWAY_ADMIN_PORT": "9000"},
            "admin.port (GATEWAY_ADMIN_PORT) = 9000: server.port (GATEWAY_PORT) listens",
        ),
        (
            {"GATEWAY_SANDBOX": "1", "GATEWAY_PORT": "9000", "GATEWAY_SANDBOX_PORT": "9000"},
            "sandbox.port (GATEWAY_SANDBOX_PORT) = 9000: server.port (GATEWAY_PORT) listens on "
            "this port of this address too: expected another port (0: any free port)",
        ),
        (
            {"GATEWAY_SANDBOX": "1", "GATEWAY_ADMIN_PORT": "9001", "GATEWAY_SANDBOX_PORT": "9001"},
            "sandbox.port (GATEWAY_SANDBOX_PORT) = 9001: admin.port (GATEWAY_ADMIN_PORT) listens",
        ),
    ],
)
def test_two_listeners_on_one_port_is_a_problem(env: dict[str, str], problem: str) -> None:
    (found,) = _problems(**env)
    assert found.startswith(problem)


@pytest.mark.parametrize(
    "env",
    [
        {"GATEWAY_PORT": "9000", "GATEWAY_ADMIN_PORT": "9001", "GATEWAY_SANDBOX_PORT": "9000"},
        {"GATEWAY_PORT": "0", "GATEWAY_ADMIN_PORT": "0"},
        {"GATEWAY_PORT": "9000", "GATEWAY_ADMIN_PORT": "9000", "GATEWAY_ADMIN_HOST": "10.1.1.1"},
    ],
)
def test_listeners_apart_are_fine(env: dict[str, str]) -> None:
    """A sandbox that is off binds nothing; 0 is any free port; two addresses are two."""
    _load(**env)


def test_an_unknown_variable_is_a_warning_naming_the_closest_known_one() -> None:
    cfg = _load(
        GATEWAY_PROT="8081",
        PUNCHH_CLIENT_SECRETS="x",
        HOME_PORT="1",
        GATEWAY_URL="http://127.0.0.1:8180",  # the README's walk-through's: no warning
    )
    assert cfg.warnings == (
        "GATEWAY_PROT: not a variable the gateway reads (did you mean GATEWAY_PORT?)",
        "PUNCHH_CLIENT_SECRETS: not a variable the gateway reads "
        "(did you mean PUNCHH_CLIENT_SECRET?)",
    )


def test_every_variable_the_gateway_reads_is_known(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BRAND_B)
    secret = tmp_path / "secret"
    secret.write_text("session-secret-from-a-file-" + "f" * 20)
    env = {
        **ENV,
        "GATEWAY_CONFIG": str(path),
        "GATEWAY_SESSION_SECRET_FILE": str(secret),
        "PUNCHH_CLIENT_SECRET__BRAND_B": "b",
        "PUNCHH_BUSINESS_KEY__BRAND_B_FILE": str(secret),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "GATEWAY_ADMIN_PORT": "9091",
    }
    del env["GATEWAY_SESSION_SECRET"]
    assert load_config(str(path), env).warnings == ()
    typo = {**env, "PUNCHH_CLIENT_SECRET__BRNAD_B": "b", "PUNCHH_BUSINESS_KEY__OTHER": "k"}
    assert load_config(str(path), typo).warnings == (
        "PUNCHH_BUSINESS_KEY__OTHER: not a variable the gateway reads "
        "(no [[businesses]] table has this name)",
        "PUNCHH_CLIENT_SECRET__BRNAD_B: not a variable the gateway reads "
        "(did you mean PUNCHH_CLIENT_SECRET__BRAND_B?)",
    )


def test_check_config_prints_warnings_and_serve_refuses_the_problems() -> None:
    ok = run_cli("check-config", env={**SANDBOX, "GATEWAY_PROT": "1"})
    assert ok.returncode == 0, ok.stderr
    assert "configuration ok" in ok.stdout
    assert ok.stderr.splitlines() == [
        "1 warning(s):",
        "  GATEWAY_PROT: not a variable the gateway reads (did you mean GATEWAY_PORT?)",
    ]
    bad = run_cli("serve", env={**ENV, "PUNCHH_BASE_URL": "http://punchh.example"})
    assert bad.returncode == 2
    assert "punchh.base_url (PUNCHH_BASE_URL) = 'http://punchh.example': plain http" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_base_url_with_a_password_is_refused_without_showing_it() -> None:
    env = {
        "PUNCHH_BASE_URL": "https://user:TOPSECRETPW@punchh.example",
        "PUNCHH_CLIENT_ID": "c",
        "PUNCHH_CLIENT_SECRET": "s",
        "GATEWAY_SESSION_SECRET": "x" * 40,
    }
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    (problem,) = info.value.problems
    assert problem == (
        "punchh.base_url (PUNCHH_BASE_URL) = 'https://***@punchh.example': expected no user "
        "or password in the URL (Punchh signs, not logs in)"
    )
