"""Many businesses in one gateway (issue 18): host patterns, the selector, the
configuration of `[[businesses]]`, and the session token's business claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import make_app
from gateway.client_ip import parse_networks
from gateway.config import ConfigError, load_config
from gateway.errors import NotFound
from gateway.hosts import HostMap, host_name, overlaps, parse_host_pattern
from gateway.keys import LIVE
from gateway.tokens import TokenClaims, decode_session_token, encode_session_token, key_id
from middleware.select import Selector
from tests.support.process import run_cli

SECRET = "s" * 40
BASE = {"GATEWAY_SESSION_SECRET": SECRET, "PUNCHH_BASE_URL": "https://punchh.example"}


# -- host patterns -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ("Brand-A.Example.com", "brand-a.example.com"),
        ("*.example.com", "*.example.com"),
        ("brand-b.localhost.", "brand-b.localhost"),
        ("10.0.0.7", "10.0.0.7"),
    ],
)
def test_host_patterns(raw: str, pattern: str) -> None:
    assert parse_host_pattern(raw) == pattern


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "brand.example.com:8080",
        "https://brand.example.com",
        "a.*.example.com",
        "*",
        "a b",
        "*example.com",
        "-a.example.com",
        7,
        None,
    ],
)
def test_bad_host_patterns(raw: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_host_pattern(raw)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("a.example.com", "a.example.com", True),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "x.y.example.com", True),
        ("*.example.com", "*.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "*.example.org", False),
        ("a.example.com", "b.example.com", False),
    ],
)
def test_overlaps(a: str, b: str, expected: bool) -> None:
    assert overlaps(a, b) is expected
    assert overlaps(b, a) is expected


def test_host_header_names() -> None:
    assert host_name("Brand.Example.COM:8443") == "brand.example.com"
    assert host_name("brand.example.com.") == "brand.example.com"
    assert host_name("[::1]:8080") == "::1"
    assert host_name("") == ""


def test_host_map_exact_then_longest_wildcard_then_fallback() -> None:
    hosts = HostMap(
        [("a.example.com", "A"), ("*.example.com", "W"), ("*.deep.example.com", "D")], "default"
    )
    assert hosts.find("a.example.com") == "A"
    assert hosts.find("A.EXAMPLE.COM:443") == "A"
    assert hosts.find("b.example.com") == "W"
    assert hosts.find("x.deep.example.com") == "D"
    assert hosts.find("deep.example.com") == "W"
    assert hosts.find("example.com") == "default"
    assert hosts.find("a.example.com.evil.test") == "default"
    assert HostMap([("a.example.com", "A")], None).find("b.example.com") is None


def test_host_map_answers_an_overlong_host_at_once() -> None:
    """A Host of 8 kB of dots would cost a suffix look-up per dot, and be remembered."""
    hosts = HostMap([("*.example.com", "W")], "default")
    assert hosts.find("a." * 4000 + "example.com") == "default"
    assert hosts.find("a" * 240 + ".example.com:8443") == "W"
    assert not [h for h in hosts._seen if len(h) > 260]


def test_host_map_forgets_made_up_hosts_in_bulk() -> None:
    hosts = HostMap([("a.example.com", "A")], None)
    for i in range(10_000):
        assert hosts.find(f"h{i}.example.com") is None
    assert len(hosts._seen) <= 4096
    assert hosts.find("a.example.com") == "A"


# -- the selector ----------------------------------------------------------------------


def _selector(default: bool = True, trusted: str = "") -> Selector[str]:
    businesses: list[tuple[str, tuple[str, ...], str]] = [
        ("brand-b", ("brand-b.test",), "B"),
        ("brand-c", ("*.c.test",), "C"),
    ]
    if default:
        businesses.insert(0, ("default", (), "A"))
    return Selector(businesses, parse_networks([trusted] if trusted else []))


def test_selector_by_host_and_default() -> None:
    pick = _selector().pick
    assert pick(None, "brand-b.test", "203.0.113.9") == "B"
    assert pick(None, "shop.c.test:8080", "203.0.113.9") == "C"
    assert pick(None, "anything.example", "203.0.113.9") == "A"


def test_selector_without_default_refuses_unknown_hosts() -> None:
    pick = _selector(default=False).pick
    with pytest.raises(NotFound) as info:
        pick(None, "brand-x.test", "127.0.0.1")
    assert info.value.code == "unknown_business"
    assert info.value.status == 404


def test_header_believed_from_loopback_and_trusted_proxies_only() -> None:
    pick = _selector(trusted="10.0.0.0/8").pick
    for peer in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3"):
        assert pick("brand-b", "anything.example", peer) == "B", peer
        with pytest.raises(NotFound):
            pick("brand-x", "brand-b.test", peer)
    # From anyone else the header changes nothing: the host decides.
    for untrusted in ("203.0.113.9", "", None, "garbage"):
        assert pick("brand-b", "anything.example", untrusted) == "A"
        assert pick("brand-x", "brand-b.test", untrusted) == "B"


def test_single_default_business_ignores_the_host() -> None:
    only = Selector([("default", (), "A")], ())
    assert only.pick(None, "whatever.example", "203.0.113.9") == "A"
    with pytest.raises(NotFound):
        only.pick("brand-b", "whatever.example", "127.0.0.1")


# -- configuration ---------------------------------------------------------------------


def _load(tmp_path: Path, toml: str, **env: str) -> object:
    path = tmp_path / "gateway.toml"
    path.write_text(toml)
    return load_config(str(path), {**BASE, **env})


def _problems(tmp_path: Path, toml: str, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, toml, **env)
    return info.value.problems


BRANDS = """
[punchh]
client_id = "a"
client_secret = "secret-a"
user_agent = "BrandA/Platform/OnlineOrder/1.0/Web"

[session]
ttl = 7200

[rate_limit.policies.sign_in_ip]
limit = 7

[pos]
enabled = true
business_key = "biz-a"

[[pos.devices]]
name = "a-1"
key = "a-device-key-0123456"
location_key = "loc-a"

[[businesses]]
name = "brand-b"
hosts = ["Brand-B.example.com", "*.b.example.com"]
punchh.base_url = "https://b.punchh.example"
punchh.client_id = "b"
session.ttl = 3600
rate_limit.policies.otp_target.limit = 2
"""


def test_businesses_inherit_settings_but_never_credentials(tmp_path: Path) -> None:
    cfg = _load(tmp_path, BRANDS, PUNCHH_CLIENT_SECRET__BRAND_B="secret-b")
    a, b = cfg.businesses  # type: ignore[attr-defined]
    assert (a.name, a.hosts) == ("default", ())
    assert (b.name, b.hosts) == ("brand-b", ("brand-b.example.com", "*.b.example.com"))
    ca, cb = a.config, b.config
    assert (ca.punchh.client_id, ca.punchh.client_secret.reveal()) == ("a", "secret-a")
    assert (cb.punchh.client_id, cb.punchh.client_secret.reveal()) == ("b", "secret-b")
    assert cb.punchh.base_url == "https://b.punchh.example"
    assert ca.punchh.base_url == "https://punchh.example"
    assert cb.punchh.user_agent == ca.punchh.user_agent  # inherited
    assert (ca.session.ttl, cb.session.ttl) == (7200, 3600)
    limits = {p.name: p.rate.limit for p in cb.rate_limit.policies}
    assert limits["sign_in_ip"] == 7  # the top level's override, inherited
    assert limits["otp_target"] == 2  # its own
    assert {p.name: p.rate.limit for p in ca.rate_limit.policies}["otp_target"] == 3
    # POS is a business's own: never the top level's devices or business key.
    assert ca.pos.enabled
    assert ca.pos.business_key.reveal() == "biz-a"
    assert not cb.pos.enabled
    assert cb.pos.devices == ()
    assert not cb.pos.business_key.reveal()
    # Redis keys: the default business's as ever, brand-b's under a prefix of its own.
    assert ca.store.prefix == "lg:"
    assert cb.store.prefix == "lg:@brand-b:"
    assert "secret-b" not in repr(cfg)


def test_allowed_origins_are_a_business_own(tmp_path: Path) -> None:
    """Inherited, brand A's frontends could send unsafe requests to brand B (CSRF) and
    read its answers (CORS) with B's cookie."""
    toml = BRANDS.replace(
        "[session]\nttl = 7200",
        '[session]\nttl = 7200\nallowed_origins = ["https://order.brand-a.example"]',
    )
    cfg = _load(tmp_path, toml, PUNCHH_CLIENT_SECRET__BRAND_B="secret-b")
    a, b = (x.config for x in cfg.businesses)  # type: ignore[attr-defined]
    assert a.session.cookie.allowed_origins == ("https://order.brand-a.example",)
    assert b.session.cookie.allowed_origins == ()


def test_a_business_key_and_devices_of_its_own(tmp_path: Path) -> None:
    toml = (
        BRANDS
        + """pos.enabled = true

[[businesses.pos.devices]]
name = "b-1"
key = "b-device-key-0123456"
location_key = "loc-b"
"""
    )
    cfg = _load(
        tmp_path,
        toml,
        PUNCHH_CLIENT_SECRET__BRAND_B="secret-b",
        PUNCHH_BUSINESS_KEY__BRAND_B="biz-b",
    )
    b = cfg.businesses[1].config  # type: ignore[attr-defined]
    assert b.pos.enabled
    assert b.pos.business_key.reveal() == "biz-b"
    assert [d.name for d in b.pos.devices] == ["b-1"]


def test_business_problems_name_the_business(tmp_path: Path) -> None:
    toml = (
        BRANDS
        + """pos.enabled = true
cache.url = "memory://"
session.secret = "x"

[[businesses]]
name = "brand-b"
punchh.client_id = "b2"
punchh.client_secret = "s"

[[businesses]]
name = "Brand C!"

[[businesses]]
name = "brand-d"
hosts = ["x.b.example.com", "brand-d.example.com:80"]
punchh.client_id = "d"
punchh.client_secret = "s"
"""
    )
    problems = _problems(tmp_path, toml)
    text = "\n".join(problems)
    assert (
        "businesses.brand-b.punchh.client_secret (PUNCHH_CLIENT_SECRET__BRAND_B) = <empty>: "
        "required unless sandbox.enabled is true"
    ) in problems
    assert "businesses.brand-b.pos.business_key (PUNCHH_BUSINESS_KEY__BRAND_B) = <empty>" in text
    assert "businesses.brand-b.pos.devices = []: pos.enabled needs at least one device" in text
    assert "businesses.brand-b.cache.url: unknown key" in text
    assert "businesses.brand-b.session.secret: unknown key" in text
    assert "businesses.brand-b.name = 'brand-b': another business has this name" in text
    assert "businesses[2].name = 'Brand C!': expected a short slug" in text
    assert "'x.b.example.com' overlaps '*.b.example.com' of business 'brand-b'" in text
    assert "businesses.brand-d.hosts[1] = 'brand-d.example.com:80': expected a host name" in text


def test_one_punchh_client_is_one_business(tmp_path: Path) -> None:
    toml = (
        BRANDS
        + """
[[businesses]]
name = "brand-c"
punchh.client_id = "a"
punchh.client_secret = "secret-c"

[[businesses]]
name = "brand-d"
punchh.client_id = "b"
punchh.base_url = "https://other.punchh.example"
punchh.client_secret = "secret-d"
"""
    )
    problems = _problems(tmp_path, toml, PUNCHH_CLIENT_SECRET__BRAND_B="secret-b")
    assert problems == [
        "businesses.brand-c.punchh.client_id = 'a': business 'default' has this client on the "
        "same Punchh server (one Punchh business is one business here: give it both hosts)"
    ]


def test_businesses_share_one_writer_to_redis_and_its_book_of_waits(tmp_path: Path) -> None:
    """Sentinel: session writes wait for a replica on a connection of their own; forty
    businesses are one such connection (and one WAIT at a time on it), not forty."""
    cfg = _load(
        tmp_path,
        BRANDS,
        PUNCHH_CLIENT_SECRET__BRAND_B="secret-b",
        GATEWAY_STORE_URL="redis+sentinel://127.0.0.1:1/mymaster/0",
        GATEWAY_STORE_KEY="k" * 32,
    )
    app = make_app(cfg)  # type: ignore[arg-type]
    a, b = (p.sessions.store for p in app[LIVE].now.businesses.values())
    assert a._writer is b._writer  # type: ignore[attr-defined]
    assert a._waits is b._waits  # type: ignore[attr-defined]
    assert a._writer is not a._redis  # type: ignore[attr-defined]


def test_default_is_a_reserved_name_when_the_top_level_is_a_business(tmp_path: Path) -> None:
    toml = (
        BRANDS
        + """
[[businesses]]
name = "default"
punchh.client_id = "x"
punchh.client_secret = "y"
"""
    )
    problems = _problems(tmp_path, toml, PUNCHH_CLIENT_SECRET__BRAND_B="secret-b")
    assert any("businesses.default.name = 'default': another business" in p for p in problems)


def test_without_top_level_client_there_is_no_default_business(tmp_path: Path) -> None:
    toml = """
[[businesses]]
name = "brand-a"
hosts = ["a.example.com"]
punchh.client_id = "a"
punchh.client_secret = "secret-a"
"""
    cfg = _load(tmp_path, toml)
    assert [b.name for b in cfg.businesses] == ["brand-a"]  # type: ignore[attr-defined]
    assert cfg.businesses[0].config.store.prefix == "lg:@brand-a:"  # type: ignore[attr-defined]


def test_single_business_configuration_is_the_default_business(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "", PUNCHH_CLIENT_ID="a", PUNCHH_CLIENT_SECRET="secret-a")
    (only,) = cfg.businesses  # type: ignore[attr-defined]
    assert only.name == "default"
    assert only.config.punchh.client_id == "a"
    assert only.config.store.prefix == "lg:"


def test_embedded_sandbox_makes_up_each_business_credentials(tmp_path: Path) -> None:
    toml = """
[sandbox]
enabled = true

[[businesses]]
name = "brand-a"
hosts = ["a.localhost"]

[[businesses]]
name = "brand-b"
hosts = ["b.localhost"]
"""
    cfg = _load(tmp_path, toml)
    a, b = (x.config for x in cfg.businesses)  # type: ignore[attr-defined]
    assert a.punchh.client_id != b.punchh.client_id
    assert a.punchh.client_secret.reveal() != b.punchh.client_secret.reveal()


# -- the session token's business ---------------------------------------------------------


def test_business_claim_round_trips_and_is_absent_for_default() -> None:
    secret = SECRET.encode()
    keys = {key_id(secret): secret}
    for bus in (None, "brand-b"):
        claims = TokenClaims(sid="{abcd1234}x", sub="7", iat=100, exp=200, bus=bus)
        token = encode_session_token(claims, secret)
        assert decode_session_token(token, keys, 150) == claims
    import jwt

    plain = encode_session_token(TokenClaims(sid="s", sub=None, iat=100, exp=200), secret)
    assert "bus" not in jwt.decode(plain, options={"verify_signature": False})


# -- check-config -------------------------------------------------------------------------


def test_check_config_prints_a_line_per_business(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BRANDS)
    env = {**BASE, "GATEWAY_CONFIG": str(path), "PUNCHH_CLIENT_SECRET__BRAND_B": "secret-b"}
    ok = run_cli("check-config", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "  business default: any other host -> https://punchh.example; pos on, 1 device(s)" in (
        ok.stdout
    )
    assert (
        "  business brand-b: brand-b.example.com, *.b.example.com -> https://b.punchh.example; "
        "pos off"
    ) in ok.stdout
    assert "secret-b" not in ok.stdout + ok.stderr
    bad = run_cli("check-config", env={**env, "PUNCHH_CLIENT_SECRET__BRAND_B": ""})
    assert bad.returncode == 2
    assert (
        "businesses.brand-b.punchh.client_secret (PUNCHH_CLIENT_SECRET__BRAND_B) = <empty>"
        in bad.stderr
    )


def test_single_business_check_config_is_unchanged() -> None:
    ok = run_cli(
        "check-config",
        env={**BASE, "PUNCHH_CLIENT_ID": "a", "PUNCHH_CLIENT_SECRET": "secret-a"},
    )
    assert ok.returncode == 0, ok.stderr
    assert "business " not in ok.stdout
