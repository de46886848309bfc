"""Secrets from files (issue 19, part 1): every secret setting's `<VARIABLE>_FILE`.

The loader's rules on files written here, and a real gateway process that holds its
secrets in files only: the sandbox checks every signature with the business's secret, so
a sign-up through it proves the client secret read from the file signs the calls.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from gateway.config import ConfigError, file_variables, load_config
from sandbox.config import SandboxConfig
from sandbox.server import start_sandbox
from tests.support.process import gateway_process, run_cli

SESSION = "s" * 40
BASE = {"PUNCHH_BASE_URL": "https://punchh.example", "PUNCHH_CLIENT_ID": "client-a"}


def _file(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    return info.value.problems


def test_the_issue_names_each_variable() -> None:
    assert {
        "PUNCHH_CLIENT_SECRET_FILE",
        "GATEWAY_SESSION_SECRET_FILE",
        "GATEWAY_SESSION_PREVIOUS_SECRETS_FILE",
        "GATEWAY_STORE_KEY_FILE",
        "GATEWAY_ADMIN_TOKEN_FILE",
        "PUNCHH_BUSINESS_KEY_FILE",
        "GATEWAY_STORE_URL_FILE",  # a Redis URL may hold a password
    } <= file_variables()


def test_every_secret_is_read_from_its_file(tmp_path: Path) -> None:
    older, oldest = "o" * 33 + ",with-a-comma", "p" * 40
    env = {
        **BASE,
        "PUNCHH_CLIENT_SECRET_FILE": _file(tmp_path, "client", "client-secret-value\n"),
        "GATEWAY_SESSION_SECRET_FILE": _file(tmp_path, "session", SESSION + "\r\n"),
        "GATEWAY_SESSION_PREVIOUS_SECRETS_FILE": _file(
            tmp_path, "previous", f"{older}\n\n{oldest}\n"
        ),
        "GATEWAY_STORE_URL_FILE": _file(tmp_path, "url", "redis://:pw@127.0.0.1:6379/0\n"),
        "GATEWAY_STORE_KEY_FILE": _file(tmp_path, "key", "k" * 32),
        "GATEWAY_ADMIN_TOKEN_FILE": _file(tmp_path, "admin", "a" * 24 + "\n"),
        "PUNCHH_BUSINESS_KEY_FILE": _file(tmp_path, "business", "biz-key\n\n"),
    }
    cfg = load_config(None, env)
    assert cfg.punchh.client_secret.reveal() == "client-secret-value"
    assert cfg.session.secret.reveal() == SESSION  # CRLF is one newline
    assert [s.reveal() for s in cfg.session.previous_secrets] == [older, oldest]
    assert cfg.store.url.reveal() == "redis://:pw@127.0.0.1:6379/0"
    assert cfg.store.encryption_key.reveal() == "k" * 32
    assert cfg.admin.token.reveal() == "a" * 24
    assert cfg.pos.business_key.reveal() == "biz-key\n"  # one trailing newline only
    for value in ("client-secret-value", SESSION, older, "pw@", "biz-key"):
        assert value not in repr(cfg)


def test_a_business_secrets_from_files(tmp_path: Path) -> None:
    toml = tmp_path / "gateway.toml"
    toml.write_text(
        '[[businesses]]\nname = "brand-b"\nhosts = ["b.example"]\npunchh.client_id = "b"\n'
        'pos.enabled = true\n\n[[businesses.pos.devices]]\nname = "till"\n'
        'key = "till-key-0123456789"\nlocation_key = "loc"\n'
    )
    env = {
        "GATEWAY_SESSION_SECRET": SESSION,
        "PUNCHH_BASE_URL": "https://punchh.example",
        "PUNCHH_CLIENT_SECRET__BRAND_B_FILE": _file(tmp_path, "b-secret", "b-secret\n"),
        "PUNCHH_BUSINESS_KEY__BRAND_B_FILE": _file(tmp_path, "b-key", "b-key\n"),
    }
    (brand_b,) = load_config(str(toml), env).businesses
    assert brand_b.config.punchh.client_secret.reveal() == "b-secret"
    assert brand_b.config.pos.business_key.reveal() == "b-key"
    both = {**env, "PUNCHH_CLIENT_SECRET__BRAND_B": "x"}
    with pytest.raises(ConfigError) as info:
        load_config(str(toml), both)
    problems = info.value.problems
    assert problems == [
        "businesses.brand-b.punchh.client_secret (PUNCHH_CLIENT_SECRET__BRAND_B and "
        "PUNCHH_CLIENT_SECRET__BRAND_B_FILE): both set: expected one of them (the value, "
        "or the path of a file holding it)"
    ]


def test_both_the_variable_and_its_file_is_an_error(tmp_path: Path) -> None:
    env = {
        **BASE,
        "PUNCHH_CLIENT_SECRET": "from-the-variable",
        "PUNCHH_CLIENT_SECRET_FILE": _file(tmp_path, "client", "from-the-file"),
        "GATEWAY_SESSION_SECRET": SESSION,
    }
    problems = _problems(env)
    assert problems == [
        "punchh.client_secret (PUNCHH_CLIENT_SECRET and PUNCHH_CLIENT_SECRET_FILE): both set: "
        "expected one of them (the value, or the path of a file holding it)"
    ]
    assert "from-the" not in "\n".join(problems)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read: No such file or directory"),
        ("directory", "cannot read: Is a directory"),
        (b"\xff\xfe-secret-of-bad-bytes", "not UTF-8 text"),
        (b"x" * (64 * 1024 + 1), "larger than 64 KiB: expected a secret"),
    ],
)
def test_a_file_that_cannot_serve_names_the_path_and_the_reason_never_the_content(
    tmp_path: Path, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / "session-secret"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    env = {**BASE, "PUNCHH_CLIENT_SECRET": "c", "GATEWAY_SESSION_SECRET_FILE": str(path)}
    problems = _problems(env)
    assert problems == [f"session.secret (GATEWAY_SESSION_SECRET_FILE) = {str(path)!r}: {reason}"]
    assert "secret-of-bad-bytes" not in problems[0]


def test_a_short_secret_from_a_file_is_refused_masked(tmp_path: Path) -> None:
    env = {
        **BASE,
        "PUNCHH_CLIENT_SECRET": "c",
        "GATEWAY_SESSION_SECRET_FILE": _file(tmp_path, "s", "tiny-session-secret\n"),
    }
    (problem,) = _problems(env)
    assert problem.startswith("session.secret (GATEWAY_SESSION_SECRET_FILE) = ")
    assert "tiny-session-secret" not in problem


def test_check_config_reports_the_file_problem_not_the_content(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    env = {**BASE, "PUNCHH_CLIENT_SECRET": "c", "GATEWAY_SESSION_SECRET_FILE": missing}
    done = run_cli("check-config", env=env)
    assert done.returncode == 2
    assert (
        f"session.secret (GATEWAY_SESSION_SECRET_FILE) = {missing!r}: cannot read: "
        "No such file or directory"
    ) in done.stderr


async def test_a_gateway_process_with_every_secret_in_files(tmp_path: Path) -> None:
    secret = "client-secret-from-a-mounted-file"
    sandbox = await start_sandbox(
        SandboxConfig(client_id="client-a", client_secret=secret, business_key="", location_keys={})
    )
    try:
        env = {
            "PUNCHH_BASE_URL": sandbox.url,
            "PUNCHH_CLIENT_ID": "client-a",
            "PUNCHH_CLIENT_SECRET_FILE": _file(tmp_path, "punchh-client-secret", secret + "\n"),
            "GATEWAY_SESSION_SECRET_FILE": _file(tmp_path, "session-secret", SESSION + "\n"),
            "GATEWAY_ADMIN_TOKEN_FILE": _file(tmp_path, "admin-token", "t" * 30 + "\n"),
        }
        async with gateway_process(env) as gp, aiohttp.ClientSession() as http:
            user = {
                "email": "files@example.com",
                "password": "correct-horse-1",
                "first_name": "Ada",
                "last_name": "Byron",
            }
            async with http.post(gp.url + "/api/auth/customers.json", json={"user": user}) as resp:
                assert resp.status == 201, await resp.text()  # signed with the file's secret
                token = (await resp.json())["access_token"]
            async with http.get(
                gp.url + "/api/auth/checkins/balance", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(
                gp.url + "/metrics", headers={"Authorization": "Bearer " + "t" * 30}
            ) as resp:
                assert resp.status == 200  # the admin token from its file, newline stripped
        for value in (secret, SESSION, "t" * 30):
            assert value not in gp.logs()
    finally:
        await sandbox.close()


def test_the_standalone_sandbox_reads_the_secret_file_too(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    env = {"PUNCHH_CLIENT_ID": "c", "PUNCHH_CLIENT_SECRET_FILE": missing}
    done = run_cli("sandbox", "--port", "0", env=env)
    assert done.returncode == 2
    assert (
        f"punchh.client_secret (PUNCHH_CLIENT_SECRET_FILE) = {missing!r}: cannot read: "
        "No such file or directory"
    ) in done.stderr
