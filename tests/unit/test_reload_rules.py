"""What a live reload may change (gateway/config_diff.py), the configuration's digest,
and the session secrets a reload retires (gateway/live.py). The reload itself runs
against real processes in tests/e2e/test_reload.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import GatewayConfig, load_config
from gateway.config_diff import changes, digest, is_live, restart_keys
from gateway.live import Generation, _retire

S1, S2, S3 = ("a" * 40, "b" * 40, "c" * 40)
ENV = {
    "PUNCHH_BASE_URL": "https://punchh.example",
    "PUNCHH_CLIENT_ID": "client-a",
    "PUNCHH_CLIENT_SECRET": "client-secret",
    "GATEWAY_SESSION_SECRET": S1,
    "PUNCHH_CLIENT_SECRET__BRAND_B": "brand-b-secret",
}
BRAND_B = '[[businesses]]\nname = "brand-b"\nhosts = ["b.example"]\npunchh.client_id = "b"\n'


def _load(tmp_path: Path, toml: str = "", **env: str) -> GatewayConfig:
    path = tmp_path / f"g{len(list(tmp_path.iterdir()))}.toml"
    path.write_text(toml)
    return load_config(str(path), {**ENV, **env})


@pytest.mark.parametrize(
    "key",
    [
        "rate_limit.policies",
        "cache.enabled",
        "cache.ttls",
        "pos.devices",
        "pos.business_key",
        "session.allowed_origins",
        "session.secret",
        "session.previous_secrets",
        "punchh.client_secret",
        "punchh.timeouts.read.total",
        "punchh.connect_timeout",
        "retry.max_attempts",
        "circuit.open_seconds",
        "server.log_level",
        "hosts",
    ],
)
def test_what_the_issue_names_changes_live(key: str) -> None:
    assert is_live(key)


@pytest.mark.parametrize(
    "key",
    [
        "server.host",
        "server.port",
        "server.workers",
        "store.url",
        "store.prefix",
        "store.encryption_key",
        "cache.url",
        "rate_limit.url",
        "idempotency.url",
        "admin.port",
        "punchh.base_url",
        "punchh.client_id",
        "punchh.pool_size",
        "pos.enabled",
        "rate_limit.enabled",
        "session.max_sessions",  # the memory store's size
        "businesses",
    ],
)
def test_what_binds_sizes_or_names_a_store_needs_a_restart(key: str) -> None:
    assert not is_live(key)


def test_a_business_key_is_named_as_in_the_file(tmp_path: Path) -> None:
    old = _load(tmp_path, BRAND_B)
    new = _load(
        tmp_path,
        BRAND_B.replace('hosts = ["b.example"]', 'hosts = ["b.example", "c.example"]')
        + "cache.enabled = false\npunchh.pool_size = 5\n",
    )
    assert sorted(changes(old, new)) == [
        "businesses.brand-b.cache.enabled",
        "businesses.brand-b.hosts",
        "businesses.brand-b.punchh.pool_size",
    ]
    assert restart_keys(old, new) == ["businesses.brand-b.punchh.pool_size"]
    assert restart_keys(old, _load(tmp_path)) == ["businesses"]  # one business fewer


def test_the_embedded_sandbox_holds_what_it_checks_calls_by(tmp_path: Path) -> None:
    old = _load(tmp_path, GATEWAY_SANDBOX="true")
    rotated = _load(tmp_path, GATEWAY_SANDBOX="true", PUNCHH_CLIENT_SECRET="another-one")
    assert restart_keys(old, rotated) == ["punchh.client_secret"]
    assert restart_keys(_load(tmp_path), _load(tmp_path, PUNCHH_CLIENT_SECRET="another")) == []


def test_the_digest_covers_every_setting_but_no_secret(tmp_path: Path) -> None:
    till = '[pos]\nenabled = true\n[[pos.devices]]\nname = "{}"\nkey = "{}"\nlocation_key = "L"\n'
    base = _load(tmp_path, till.format("till", "k" * 20), PUNCHH_BUSINESS_KEY="biz")
    same = _load(tmp_path, till.format("till", "k" * 20), PUNCHH_BUSINESS_KEY="biz")
    assert digest(base) == digest(same)
    secrets_only: list[dict[str, Any]] = [
        {"toml": till.format("till", "z" * 20), "env": {"PUNCHH_BUSINESS_KEY": "biz"}},
        {"toml": till.format("till", "k" * 20), "env": {"PUNCHH_BUSINESS_KEY": "other"}},
        {
            "toml": till.format("till", "k" * 20),
            "env": {"PUNCHH_BUSINESS_KEY": "biz", "GATEWAY_SESSION_SECRET": S2},
        },
    ]
    for other in secrets_only:
        assert digest(_load(tmp_path, other["toml"], **other["env"])) == digest(base)
    for toml in (
        till.format("till-2", "k" * 20),
        till.format("till", "k" * 20) + "[cache]\nenabled = false\n",
    ):
        assert digest(_load(tmp_path, toml, PUNCHH_BUSINESS_KEY="biz")) != digest(base)


def _generation(cfg: GatewayConfig, retired: tuple[tuple[bytes, float], ...] = ()) -> Generation:
    return Generation(cfg, {}, lambda request: None, None, 0.0, "", retired)  # type: ignore[arg-type,return-value]


def test_a_replaced_session_secret_is_kept_as_long_as_its_tokens_live(tmp_path: Path) -> None:
    one = _load(tmp_path, "[session]\nttl = 3600\n")
    two = _load(tmp_path, "[session]\nttl = 3600\n", GATEWAY_SESSION_SECRET=S2)
    three = _load(tmp_path, "[session]\nttl = 3600\n", GATEWAY_SESSION_SECRET=S3)
    first = _retire(_generation(one), two, now=1000.0)
    assert first == ((S1.encode(), 4600.0),)
    second = _retire(_generation(two, first), three, now=2000.0)
    assert second == ((S1.encode(), 4600.0), (S2.encode(), 5600.0))
    assert _retire(_generation(three, second), three, now=5000.0) == ((S2.encode(), 5600.0),)
    back = _retire(_generation(two, first), one, now=2000.0)  # S1 signs again: not retired
    assert back == ((S2.encode(), 5600.0),)
    listed = _load(tmp_path, GATEWAY_SESSION_SECRET=S2, GATEWAY_SESSION_PREVIOUS_SECRETS=S1)
    assert _retire(_generation(one), listed, now=1000.0) == ()  # the operator kept it: theirs


def test_what_a_business_inherits_is_said_once_at_the_top_level(tmp_path: Path) -> None:
    old = _load(tmp_path, BRAND_B)
    process = _load(tmp_path, "[server]\ntrusted_proxies = ['10.0.0.0/8']\n" + BRAND_B)
    assert list(changes(old, process)) == ["server.trusted_proxies"]  # not again for brand-b
    inherited = _load(tmp_path, "[cache]\nenabled = false\n" + BRAND_B)
    assert list(changes(old, inherited)) == ["cache.enabled"]
    own = _load(tmp_path, BRAND_B + "cache.enabled = false\n")
    assert list(changes(old, own)) == ["businesses.brand-b.cache.enabled"]
    rotated = _load(tmp_path, BRAND_B, GATEWAY_SESSION_SECRET=S2)
    assert list(changes(old, rotated)) == ["session.secret"]


def test_a_retired_secret_lives_as_long_as_the_longest_lived_business_token(
    tmp_path: Path,
) -> None:
    longer = BRAND_B + "session.ttl = 7200\n"
    old = _load(tmp_path, "[session]\nttl = 3600\n" + longer)
    new = _load(tmp_path, "[session]\nttl = 3600\n" + longer, GATEWAY_SESSION_SECRET=S2)
    assert _retire(_generation(old), new, now=1000.0) == ((S1.encode(), 8200.0),)
