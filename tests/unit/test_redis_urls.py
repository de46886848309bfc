"""Redis URLs (gateway/store/urls.py): every scheme parsed, every fault named on a line of
its own (through the configuration too, the URL masked), and the Cluster key slot of
gateway/store/resp.py against the Redis Cluster specification's vectors (and, in
tests/store/test_cluster_client.py, against a real cluster's CLUSTER KEYSLOT)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from gateway.config import ConfigError, load_config
from gateway.store.resp import SLOTS, LeanCluster, LeanRedis, LeanSentinel, key_slot
from gateway.store.urls import (
    RedisAddress,
    is_redis_url,
    kind_of,
    parse,
    problems,
    replicas_to_wait,
)

GOOD_ENV = {
    "PUNCHH_BASE_URL": "https://sandbox.punchh.com",
    "PUNCHH_CLIENT_ID": "cid",
    "PUNCHH_CLIENT_SECRET": "very-secret-client-value",
    "GATEWAY_SESSION_SECRET": "s" * 40,
    "GATEWAY_STORE_KEY": "k" * 40,  # required with a Redis store
}
NO_HOST = "at least one host is needed (host:port, several separated by commas)"
EMPTY_HOST = "an empty host in the list (two commas in a row, or one at an end)"
NO_SERVICE = "the Sentinel service name is missing (.../<service>/<db>)"
QUERY = "query strings and fragments are not supported"
PASSWORD = "p@ss:w/rd%"
QUOTED = "p%40ss%3Aw%2Frd%25"  # PASSWORD percent-encoded


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://cache", RedisAddress("single", False, (("cache", 6379),))),
        ("redis://cache:6380", RedisAddress("single", False, (("cache", 6380),))),
        ("redis://cache:6380/", RedisAddress("single", False, (("cache", 6380),))),
        ("redis://cache/5", RedisAddress("single", False, (("cache", 6379),), db=5)),
        ("REDIS://cache:1/2", RedisAddress("single", False, (("cache", 1),), db=2)),
        ("rediss://cache:6390/1", RedisAddress("single", True, (("cache", 6390),), db=1)),
        (
            "redis+sentinel://s1,s2:26380,s3/mymaster",
            RedisAddress(
                "sentinel",
                False,
                (("s1", 26379), ("s2", 26380), ("s3", 26379)),
                service="mymaster",
            ),
        ),
        (
            "redis+sentinel://s1:1/my%20master/3/",
            RedisAddress("sentinel", False, (("s1", 1),), db=3, service="my master"),
        ),
        (
            "rediss+sentinel://s1/main/0",
            RedisAddress("sentinel", True, (("s1", 26379),), service="main"),
        ),
        (
            "redis+cluster://n1:7000,n2:7001,n3",
            RedisAddress("cluster", False, (("n1", 7000), ("n2", 7001), ("n3", 6379))),
        ),
        ("redis+cluster://n1/", RedisAddress("cluster", False, (("n1", 6379),))),
        ("redis+cluster://n1:7000/0", RedisAddress("cluster", False, (("n1", 7000),))),
        ("rediss+cluster://n1:7000", RedisAddress("cluster", True, (("n1", 7000),))),
        # IPv6 in brackets, with and without a port.
        ("redis://[::1]:7000/2", RedisAddress("single", False, (("::1", 7000),), db=2)),
        ("redis://[::1]", RedisAddress("single", False, (("::1", 6379),))),
        (
            "redis+cluster://[::1]:7000,[fe80::1]:7001",
            RedisAddress("cluster", False, (("::1", 7000), ("fe80::1", 7001))),
        ),
        (
            "redis+sentinel://[::1],[::2]:26400/svc",
            RedisAddress("sentinel", False, (("::1", 26379), ("::2", 26400)), service="svc"),
        ),
    ],
)
def test_every_scheme_parses(url: str, expected: RedisAddress) -> None:
    assert problems(url) == (expected, [])
    assert parse(url) == expected
    assert is_redis_url(url)


@pytest.mark.parametrize(
    "scheme",
    ["redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"],
)
def test_user_and_password_are_percent_decoded(scheme: str) -> None:
    path = "/svc/1" if "sentinel" in scheme else "/0"
    address = parse(f"{scheme}://app%2Duser:{QUOTED}@h1:7000{path}")
    assert (address.username, address.password) == ("app-user", PASSWORD)
    assert address.hosts == (("h1", 7000),)
    only_password = parse(f"{scheme}://:{QUOTED}@h1{path}")
    assert (only_password.username, only_password.password) == (None, PASSWORD)
    no_password = parse(f"{scheme}://h1{path}")
    assert (no_password.username, no_password.password) == (None, None)


def test_an_at_sign_in_the_password_may_be_left_unquoted() -> None:
    """The last `@` ends the user info: hosts never contain one."""
    address = parse("redis+cluster://:a@b@n1:7000,n2:7001")
    assert address.password == "a@b"
    assert address.hosts == (("n1", 7000), ("n2", 7001))


def test_replicated_kinds() -> None:
    assert replicas_to_wait(-1, "redis://h") == 0
    assert replicas_to_wait(-1, "rediss://h") == 0
    assert replicas_to_wait(-1, "memory://") == 0
    assert replicas_to_wait(-1, "redis+sentinel://h/svc") == 1
    assert replicas_to_wait(-1, "REDISS+CLUSTER://h") == 1
    assert kind_of("Redis+Cluster://h") == "cluster"
    assert kind_of("memory://") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://s1,s2", [NO_SERVICE]),
        ("redis+sentinel://s1,s2/", [NO_SERVICE]),
        (
            "rediss+sentinel://s1//0",
            [NO_SERVICE],
        ),
        ("redis://h:99999", ["host 'h' has an invalid port '99999'"]),
        ("redis://h:0", ["host 'h' has an invalid port '0'"]),
        ("redis://h:x", ["host 'h' has an invalid port 'x'"]),
        ("redis://h:-1", ["host 'h' has an invalid port '-1'"]),
        ("redis://[::1]:x", ["host '::1' has an invalid port 'x'"]),
        ("redis://:6379", ["host ':6379' has no name"]),
        ("redis+cluster://a:1,,b:2", [EMPTY_HOST]),
        ("redis+cluster://a:1,b:2,", [EMPTY_HOST]),
        ("redis+cluster://,a:1", [EMPTY_HOST]),
        ("redis://", [NO_HOST]),
        ("redis://:pw@/0", [NO_HOST]),
        ("redis+sentinel:///svc", [NO_HOST]),
        (
            "redis://a:1,b:2",
            ["redis:// takes one host; use redis+sentinel:// or redis+cluster://"],
        ),
        (
            "rediss://a,b/0",
            ["rediss:// takes one host; use redis+sentinel:// or redis+cluster://"],
        ),
        ("redis+cluster://a:7000/1", ["Redis Cluster has only database 0"]),
        ("rediss+cluster://a:7000/15", ["Redis Cluster has only database 0"]),
        ("redis://h/abc", ["database 'abc' is not a number"]),
        ("redis://h/-1", ["database '-1' is not a number"]),
        ("redis+sentinel://s1/svc/one", ["database 'one' is not a number"]),
        ("redis://h/0/1", ["unexpected path '0/1'"]),
        ("redis://h/0?timeout=1", [QUERY]),
        ("redis://h/0#frag", [QUERY]),
        ("redis+cluster://a:1?x=1", [QUERY]),
    ],
)
def test_each_problem_is_named(url: str, expected: list[str]) -> None:
    assert problems(url) == (None, expected)
    with pytest.raises(ValueError, match="^" + re.escape(expected[0])):
        parse(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://h:6379",
        "redis+foo://h",
        "unix:///tmp/redis.sock",
        "valkey://h",
        "h:6379",
        "memory://",
        "",
    ],
)
def test_unknown_schemes_are_refused(url: str) -> None:
    address, faults = problems(url)
    assert address is None
    assert faults == [
        "scheme must be one of redis://, rediss://, redis+sentinel://, rediss+sentinel://, "
        "redis+cluster://, rediss+cluster://"
    ]
    assert not is_redis_url(url)


def test_every_problem_of_a_url_at_once() -> None:
    address, faults = problems("redis+sentinel://a:x,,b:99999?db=1")
    assert address is None
    assert faults == [
        QUERY,
        EMPTY_HOST,
        "host 'a' has an invalid port 'x'",
        "host 'b' has an invalid port '99999'",
        NO_SERVICE,
    ]
    _, faults = problems("redis://a:1,b:x/y")
    assert faults == [
        "redis:// takes one host; use redis+sentinel:// or redis+cluster://",
        "host 'b' has an invalid port 'x'",
        "database 'y' is not a number",
    ]


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{QUOTED}@cache:6379/1",
        f"rediss://:{QUOTED}@cache",
        f"redis+sentinel://user:{QUOTED}@s1,s2/svc/0",
        f"rediss+cluster://:{QUOTED}@n1:7000,[::1]:7001",
    ],
)
def test_the_password_is_never_shown(url: str) -> None:
    address = parse(url)
    assert address.password == PASSWORD
    client: LeanRedis | LeanSentinel | LeanCluster
    if address.kind == "single":
        client = LeanRedis(url, timeout=1.0)
    elif address.kind == "sentinel":
        client = LeanSentinel(url, timeout=1.0)
    else:
        client = LeanCluster(url, timeout=1.0)  # nothing connects before the first command
    for shown in (repr(address), str(address), repr(client), f"{address!r}"):
        assert PASSWORD not in shown
        assert QUOTED not in shown
        assert "ss:w" not in shown


# --- through the configuration -----------------------------------------------------------


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_a_bad_store_url_is_one_line_a_problem_the_url_masked() -> None:
    url = f"redis+sentinel://admin:{QUOTED}@s1:x,,s2:99999?db=1"
    lines = _problems({**GOOD_ENV, "GATEWAY_STORE_URL": url})
    shown = f"store.url (GATEWAY_STORE_URL) = <secret, {len(url)} chars>: "
    assert lines == [
        shown + QUERY,
        shown + EMPTY_HOST,
        shown + "host 's1' has an invalid port 'x'",
        shown + "host 's2' has an invalid port '99999'",
        shown + NO_SERVICE,
    ]
    text = "\n".join(lines)
    for secret in (PASSWORD, QUOTED, "admin", url, "redis+sentinel"):
        assert secret not in text


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCHH_", "GATEWAY_"))}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_prints_each_problem_of_a_store_url() -> None:
    url = f"redis+cluster://:{QUOTED}@n1:x,,n2:7001/3"
    env = {**GOOD_ENV, "GATEWAY_STORE_URL": url, "GATEWAY_STORE_PREFIX": "{lg}:"}
    bad = _check_config(env)
    assert bad.returncode == 2
    shown = f"  store.url (GATEWAY_STORE_URL) = <secret, {len(url)} chars>: "
    assert bad.stderr.splitlines() == [
        "invalid configuration (3 problem(s)):",
        shown + EMPTY_HOST,
        shown + "host 'n1' has an invalid port 'x'",
        shown + "Redis Cluster has only database 0",
    ]  # the prefix is checked against a usable URL only
    assert PASSWORD not in bad.stderr
    assert QUOTED not in bad.stderr
    bad = _check_config({**env, "GATEWAY_STORE_URL": f"redis+cluster://:{QUOTED}@n1,n2:7001/"})
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "invalid configuration (1 problem(s)):",
        "  " + braced_prefix_line("store.url"),
    ]


@pytest.mark.parametrize(
    ("env_name", "key"),
    [
        ("GATEWAY_STORE_URL", "store.url"),
        ("GATEWAY_CACHE_URL", "cache.url"),
        ("GATEWAY_RATE_LIMIT_URL", "rate_limit.url"),
        ("GATEWAY_IDEMPOTENCY_URL", "idempotency.url"),
    ],
)
def test_every_redis_url_setting_is_checked(env_name: str, key: str) -> None:
    url = f"redis+cluster://:{QUOTED}@n1:7000/1"
    lines = _problems({**GOOD_ENV, env_name: url})
    assert lines == [
        f"{key} ({env_name}) = <secret, {len(url)} chars>: Redis Cluster has only database 0"
    ]


def test_an_unknown_scheme_is_one_line() -> None:
    url = "http://user:hunter2@cache:6379"
    lines = _problems({**GOOD_ENV, "GATEWAY_STORE_URL": url})
    assert lines == [
        f"store.url (GATEWAY_STORE_URL) = <secret, {len(url)} chars>: expected memory:// or "
        "a redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or "
        "rediss+cluster:// URL"
    ]
    assert "hunter2" not in "\n".join(lines)


def test_every_scheme_loads() -> None:
    for url in (
        "memory://",
        "redis://127.0.0.1:6379/0",
        "rediss://:pw@cache/1",
        "redis+sentinel://s1,s2,s3/mymaster/0",
        "rediss+sentinel://s1/mymaster",
        "redis+cluster://n1:7000,n2:7001/",
        "rediss+cluster://[::1]:7000",
    ):
        cfg = load_config(None, {**GOOD_ENV, "GATEWAY_STORE_URL": url})
        assert cfg.store.url.reveal() == url
        assert cfg.store.backend == ("memory" if url == "memory://" else "redis")


CLUSTER_URL = "redis+cluster://n1:7000,n2:7001/"


def braced_prefix_line(key: str) -> str:
    return (
        f"store.prefix (GATEWAY_STORE_PREFIX) = '{{lg}}:' with {key} on a Redis Cluster: "
        "expected no '{' or '}' (a hash tag in the prefix would put every key on one shard)"
    )


def test_a_hash_tag_in_the_prefix_is_refused_on_a_cluster() -> None:
    lines = _problems(
        {**GOOD_ENV, "GATEWAY_STORE_URL": CLUSTER_URL, "GATEWAY_STORE_PREFIX": "{lg}:"}
    )
    assert lines == [braced_prefix_line("store.url")]
    # Any of the Redis settings on a cluster, even with sessions elsewhere.
    lines = _problems(
        {
            **GOOD_ENV,
            "GATEWAY_CACHE_URL": "rediss+cluster://n1:7000",
            "GATEWAY_STORE_PREFIX": "{lg}:",
        }
    )
    assert lines == [braced_prefix_line("cache.url")]
    for prefix in ("lg}:", "{lg:"):
        lines = _problems(
            {**GOOD_ENV, "GATEWAY_STORE_URL": CLUSTER_URL, "GATEWAY_STORE_PREFIX": prefix}
        )
        assert len(lines) == 1
        assert lines[0].startswith(
            f"store.prefix (GATEWAY_STORE_PREFIX) = {prefix!r} with store.url on a Redis Cluster"
        )


def test_the_cluster_prefix_check_ignores_the_schemes_case() -> None:
    """`REDIS+CLUSTER://` is a Cluster URL too (the review found it slipping through)."""
    lines = _problems(
        {
            **GOOD_ENV,
            "GATEWAY_STORE_URL": CLUSTER_URL.replace("redis+cluster", "REDIS+CLUSTER"),
            "GATEWAY_STORE_PREFIX": "{lg}:",
        }
    )
    assert lines == [braced_prefix_line("store.url")]


def test_a_wait_for_replicas_must_end_before_the_command_timeout() -> None:
    lines = _problems(
        {
            **GOOD_ENV,
            "GATEWAY_STORE_URL": CLUSTER_URL,
            "GATEWAY_STORE_TIMEOUT": "0.5",
            "GATEWAY_STORE_WAIT_TIMEOUT": "0.5",
        }
    )
    assert lines == [
        "store.wait_timeout (GATEWAY_STORE_WAIT_TIMEOUT) = 0.5: expected less than "
        "store.timeout (0.5): a wait for replicas that outlives the command's own timeout "
        "fails every write queued behind it"
    ]


def test_a_hash_tag_in_the_prefix_is_fine_off_a_cluster() -> None:
    for url in ("memory://", "redis://cache/0", "redis+sentinel://s1/mymaster"):
        cfg = load_config(
            None, {**GOOD_ENV, "GATEWAY_STORE_URL": url, "GATEWAY_STORE_PREFIX": "{lg}:"}
        )
        assert cfg.store.prefix == "{lg}:"
    cfg = load_config(None, {**GOOD_ENV, "GATEWAY_STORE_URL": CLUSTER_URL})
    assert cfg.store.prefix == "lg:"


@pytest.mark.parametrize(
    ("url", "default"),
    [
        ("memory://", 0),
        ("redis://cache:6379/0", 0),
        ("rediss://cache", 0),
        ("redis+sentinel://s1,s2/mymaster/0", 1),
        ("rediss+sentinel://s1/mymaster", 1),
        ("redis+cluster://n1:7000,n2:7001/", 1),
        ("rediss+cluster://n1:7000", 1),
    ],
)
def test_wait_replicas_follows_the_url_unless_set(url: str, default: int) -> None:
    env = {**GOOD_ENV, "GATEWAY_STORE_URL": url}
    store = load_config(None, env).store
    assert store.wait_replicas == -1
    assert store.replicas_to_wait == default
    for configured in (0, 1, 2, 16):
        store = load_config(None, {**env, "GATEWAY_STORE_WAIT_REPLICAS": str(configured)}).store
        assert store.replicas_to_wait == configured
    store = load_config(None, {**env, "GATEWAY_STORE_WAIT_REPLICAS": "-1"}).store
    assert store.replicas_to_wait == default


@pytest.mark.parametrize("value", ["-2", "17", "one"])
def test_a_bad_wait_replicas_is_named(value: str) -> None:
    lines = _problems({**GOOD_ENV, "GATEWAY_STORE_WAIT_REPLICAS": value})
    assert len(lines) == 1
    assert lines[0].startswith(f"store.wait_replicas (GATEWAY_STORE_WAIT_REPLICAS) = {value!r}: ")


# --- Cluster key slots --------------------------------------------------------------------


def crc16_xmodem(data: bytes) -> int:
    """The CRC16 of the Redis Cluster specification (XMODEM: polynomial 0x1021, initial 0),
    bit by bit as the spec's reference: independent of the client's binascii.crc_hqx."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_the_specification_check_value() -> None:
    assert crc16_xmodem(b"123456789") == 0x31C3
    assert key_slot("123456789") == 12739 == 0x31C3 % SLOTS
    assert key_slot(b"123456789") == 12739


def test_hash_tags_of_the_specification() -> None:
    following, followers = key_slot("{user1000}.following"), key_slot("{user1000}.followers")
    assert following == followers == key_slot("user1000") == crc16_xmodem(b"user1000") % SLOTS
    # The first `{` and the first `}` after it.
    assert key_slot("foo{bar}{zap}") == key_slot("bar") == crc16_xmodem(b"bar") % SLOTS
    assert key_slot("foo{{bar}}zap") == key_slot("{bar") == crc16_xmodem(b"{bar") % SLOTS
    # `{}`: an empty tag, so the whole key.
    assert key_slot("foo{}{bar}") == crc16_xmodem(b"foo{}{bar}") % SLOTS
    assert key_slot("foo{}{bar}") != key_slot("bar")


@pytest.mark.parametrize(
    ("key", "hashed"),
    [
        ("", b""),
        ("{", b"{"),
        ("}", b"}"),
        ("{}", b"{}"),
        ("}{", b"}{"),
        ("a}b{c", b"a}b{c"),
        ("a}b{c}", b"c"),
        ("{a}", b"a"),
        ("x{a}y{b}", b"a"),
        ("x{{a}", b"{a"),
        ("{{}}", b"{"),
        ("{}}", b"{}}"),
        ("lg:{sess}:1", b"sess"),
        ("clé{été}", "été".encode()),
        ("∑{∂}", "∂".encode()),
    ],
)
def test_key_slot_hashes_the_tag_or_the_whole_key(key: str, hashed: bytes) -> None:
    assert key_slot(key) == crc16_xmodem(hashed) % SLOTS
    assert key_slot(key.encode()) == key_slot(key)
    assert 0 <= key_slot(key) < SLOTS


def test_slot_groups_keep_runs_of_one_slot() -> None:
    cluster = LeanCluster("redis+cluster://n1:7000", timeout=1.0)
    keys = ["{a}1", "{a}2", "{b}1", "{a}3", "{b}2", "{b}3"]
    assert cluster.slot_groups(keys) == [[0, 1], [2], [3], [4, 5]]
    assert cluster.slot_groups([]) == []
    single = LeanRedis("redis://h", timeout=1.0)
    assert single.slot_groups(keys) == [[0, 1, 2, 3, 4, 5]]
