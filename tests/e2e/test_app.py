"""The pipeline, as assembled: the order of stages is part of the design."""

from gateway.app import make_app
from gateway.config import load_config
from tests.conftest import gateway_env


def test_middleware_order() -> None:
    app = make_app(load_config(None, gateway_env("http://127.0.0.1:9")))
    names = [m.__name__ for m in app.middlewares]  # type: ignore[attr-defined]
    assert names == [
        "request_id",
        "observe",
        "cors",
        "errors",
        "client_ip",
        "route",
        "csrf",
        "body",
        "pos_auth",
        "session",
        "rate_limit",
        "idempotency",
        "cache_stage",
    ]
