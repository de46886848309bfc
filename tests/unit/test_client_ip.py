import pytest

from gateway.client_ip import client_ip, parse_networks

TRUSTED = parse_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "expected"),
    [
        ("203.0.113.9", [], TRUSTED, "203.0.113.9"),
        # An untrusted peer's header is ignored entirely: spoofing changes nothing.
        ("203.0.113.9", ["1.2.3.4"], TRUSTED, "203.0.113.9"),
        ("127.0.0.1", ["198.51.100.7"], (), "127.0.0.1"),
        # Trusted peer: the rightmost untrusted hop is the client.
        ("127.0.0.1", ["198.51.100.7"], TRUSTED, "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], TRUSTED, "198.51.100.7"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.7"], TRUSTED, "198.51.100.7"),
        # Every hop trusted: the leftmost one.
        ("127.0.0.1", ["10.9.9.9, 10.1.1.1"], TRUSTED, "10.9.9.9"),
        # Garbage in the chain stops the walk at the last good address.
        ("127.0.0.1", ["198.51.100.7, not-an-ip"], TRUSTED, "127.0.0.1"),
        ("127.0.0.1", ["2001:db8::1"], TRUSTED, "2001:db8::1"),
        (None, [], TRUSTED, ""),
    ],
)
def test_client_ip(peer: str | None, xff: list[str], trusted: tuple, expected: str) -> None:  # type: ignore[type-arg]
    assert client_ip(peer, xff, trusted) == expected


def test_parse_networks_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks(["10.0.0.0/8", "nope"])
