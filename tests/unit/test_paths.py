import pytest

from gateway.paths import InvalidPath, encode_path, normalise_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/api/auth/users", "/api/auth/users"),
        ("/api/auth/users/", "/api/auth/users"),
        ("//api///auth//users", "/api/auth/users"),
        ("/api/auth/./users", "/api/auth/users"),
        ("/api/auth/x/../users", "/api/auth/users"),
        ("/api/auth/%75sers", "/api/auth/users"),
        ("/api/auth/%2e%2e/pos/users/search", "/api/pos/users/search"),
        ("/api/auth/customers.json", "/api/auth/customers.json"),
        ("/api/auth/batch_redemptions/ab%20c", "/api/auth/batch_redemptions/ab c"),
        ("/", "/"),
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalise_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "api/auth/users",
        "/api/auth%2fusers",
        "/api/auth%2Fusers",
        "/api/auth%5cusers",
        "/api\\auth/users",
        "/api/auth/%252e%252e/users",
        "/api/auth/users%00",
        "/api/auth/users%0a",
        "/api/auth/%zz",
        "/api/auth/%",
        "/..",
        "/api/../../etc/passwd",
        "/api/auth/%ff",
    ],
)
def test_rejects(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalise_path(raw)


@pytest.mark.parametrize(
    ("path", "wire"),
    [
        ("/api/auth/users", "/api/auth/users"),
        ("/api/auth/batch_redemptions/ab c", "/api/auth/batch_redemptions/ab%20c"),
        ("/api/auth/batch_redemptions/a?b#c", "/api/auth/batch_redemptions/a%3Fb%23c"),
        ("/x/é", "/x/%C3%A9"),
    ],
)
def test_encodes_for_the_wire(path: str, wire: str) -> None:
    assert encode_path(path) == wire
    assert normalise_path(wire) == path
