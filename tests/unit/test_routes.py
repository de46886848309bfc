import pytest

from gateway.errors import MethodNotAllowed, NotFound
from gateway.routes import PUNCHH_ROUTES, Route, RouteTable, build_route_table

# Every endpoint docs/punchh.md names, as method and path.
REFERENCE_ENDPOINTS = [
    "POST /api/auth/customers.json",
    "POST /api/auth/customers/sign_in",
    "GET /api/auth/users",
    "PUT /api/auth/users",
    "GET /api/auth/checkins/balance",
    "GET /api/auth/users/balance",
    "POST /api/auth/users/forgot_password",
    "PATCH /api/auth/users/change_password",
    "POST /api/auth/checkins/online_order",
    "DELETE /api/auth/checkins",
    "POST /api/auth/redemptions/online_order",
    "DELETE /api/auth/redemptions",
    "POST /api/auth/discounts/select",
    "DELETE /api/auth/discounts/unselect",
    "GET /api/auth/discounts/active",
    "POST /api/auth/batch_redemptions",
    "DELETE /api/auth/batch_redemptions/{redemption_ref}",
    "POST /oauth/token",
    "POST /api2/password_less/token",
    "POST /api2/password_less/verify",
    "POST /api2/password_less/refresh_token",
    "POST /api2/password_less/sign_out",
    "POST /api2/signout",
    "POST /api2/mobile/users",
    "POST /api2/mobile/users/login",
    "GET /api2/mobile/users/balance",
    "DELETE /api2/mobile/users/logout",
    "GET /api/pos/users/search",
    "POST /api/pos/users",
    "POST /api/pos/checkins",
    "POST /api/pos/redemptions/possible",
    "POST /api/pos/redemptions",
    "POST /api/pos/discounts/lookup",
    "POST /api/pos/discounts/select",
    "POST /api/pos/batch_redemptions",
    "POST /receipt_details",
    "POST /api2/mobile/checkins/barcode",
    "GET /api/auth/accounts",
    "GET /api2/mobile/users/account_history",
]


def test_table_covers_reference() -> None:
    assert {r.name for r in PUNCHH_ROUTES} >= set(REFERENCE_ENDPOINTS)


def test_families_follow_prefixes() -> None:
    prefixes = {
        "auth": ("/api/auth/",),
        "oauth": ("/oauth/",),
        "mobile": ("/api2/mobile/",),
        # docs/punchh.md's family table: POS is /api/pos/... and /receipt_details
        "pos": ("/api/pos/", "/receipt_details"),
        "password_less": ("/api2/",),
    }
    for route in PUNCHH_ROUTES:
        assert route.path.startswith(prefixes[route.family]), route
        assert (route.family == "pos") == (route.access == "pos"), route


def test_match_exact_and_template() -> None:
    table = build_route_table(pos_enabled=True)
    assert table.match("GET", "/api/auth/users").route.access == "guest"
    m = table.match("DELETE", "/api/auth/batch_redemptions/R-123")
    assert m.params == {"redemption_ref": "R-123"}
    assert m.path == "/api/auth/batch_redemptions/R-123"


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/batch_redemptions/a/b",
        "/api/auth",
        "/admin",
        "/api/auth/users.json",
        "/__sandbox/otp",
    ],
)
def test_unknown_is_404(path: str) -> None:
    with pytest.raises(NotFound):
        build_route_table(pos_enabled=True).match("DELETE", path)


def test_wrong_method_is_405_with_allow() -> None:
    with pytest.raises(MethodNotAllowed) as info:
        build_route_table(pos_enabled=False).match("POST", "/api/auth/users")
    assert info.value.headers["Allow"] == "GET, PUT"


def test_pos_off_means_absent() -> None:
    with pytest.raises(NotFound):
        build_route_table(pos_enabled=False).match("POST", "/api/pos/checkins")


def test_duplicates_refused() -> None:
    r = Route("GET", "/x", "auth", "none")
    with pytest.raises(ValueError, match="duplicate"):
        RouteTable([r, r])
