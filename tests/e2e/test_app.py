"""The request path, as assembled: the front's steps and each route's compiled stages, in
order. A stage that does not apply to a route is not in its plan at all."""

from pathlib import Path

from gateway.app import make_app
from gateway.config import load_config
from gateway.keys import LIVE
from middleware.front import FRONT_STEPS
from tests.conftest import gateway_env
from tests.e2e.test_pos import POS_TOML


def _plans(config: Path | None = None, **env: str) -> dict[str, tuple[str, ...]]:
    cfg = load_config(str(config) if config else None, gateway_env("http://127.0.0.1:9", **env))
    app = make_app(cfg)
    return {name: plan.stages for name, plan in app[LIVE].now.first.plans.items()}


def test_front_order() -> None:
    assert FRONT_STEPS == (
        "request_id",
        "in_flight",
        "observe",
        "business",
        "cors",
        "errors",
        "client_ip",
        "route",
    )


def test_each_route_holds_only_the_stages_it_needs() -> None:
    plans = _plans()
    assert plans["POST /api/auth/checkins/online_order"] == (
        "body",
        "session",
        "rate_limit",
        "idempotency",
        "cache_invalidate",
    )
    assert plans["GET /api/auth/checkins/balance"] == (
        "body",
        "session",
        "rate_limit",
        "cache_read",
    )
    assert plans["POST /api/auth/customers/sign_in"] == ("body", "rate_limit", "cache_login")
    assert plans["POST /api2/password_less/token"] == ("body", "rate_limit")
    assert "POST /api/pos/checkins" not in plans  # POS off: not even registered


def test_stage_order_with_everything_on(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(POS_TOML)
    plans = _plans(
        config,
        GATEWAY_COOKIE_MODE="true",
        GATEWAY_ALLOWED_ORIGINS="https://order.example.com",
        PUNCHH_BUSINESS_KEY="BIZ-KEY",
    )
    assert plans["POST /api/auth/checkins/online_order"] == (
        "csrf",
        "body",
        "session",
        "rate_limit",
        "idempotency",
        "cache_invalidate",
    )
    assert plans["POST /api/pos/checkins"] == (
        "body",
        "pos_auth",
        "rate_limit",
        "idempotency",
        "cache_invalidate",
    )
    assert plans["GET /api/auth/users"][0] == "body"  # a safe method: no CSRF check


def test_without_rate_limits_or_cache_those_stages_are_gone() -> None:
    plans = _plans(GATEWAY_RATE_LIMIT_ENABLED="false", GATEWAY_CACHE_ENABLED="false")
    assert plans["GET /api/auth/checkins/balance"] == ("body", "session")
