"""Distributed tracing (issue 19, part 3) through a real gateway process, the real sandbox
behind a recording tap (what Punchh received), and an OTLP/HTTP receiver of the test's
own decoding the protobuf the gateway exports.

The gateway is `python -m gateway` (each worker starts tracing: gateway/workers.py), with
sessions, limits and cache in Redis (their hot-path spans).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer, start_sandbox
from tests.conftest import CLIENT_ID, CLIENT_SECRET, SESSION_SECRET
from tests.store.conftest import STORE_KEY
from tests.support.otlp import Received, otlp_receiver
from tests.support.process import GatewayProcess, free_port, gateway_process
from tests.support.raw_http import raw_request
from tests.support.redis_ha_fixtures import REDIS_URL

SIGN_UP = "/api/auth/customers.json"
BALANCE = "/api/auth/checkins/balance"
EMAIL, PHONE, PASSWORD = "trace.guest@example.com", "5557654321", "correct-horse-42"
_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass
class Tap:
    """A pass-through in front of the sandbox that keeps the headers Punchh received."""

    upstream: str
    url: str = ""
    seen: list[tuple[str, str, CIMultiDict[str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, CIMultiDict(request.headers)))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                URL(self.upstream + request.raw_path, encoded=True),
                headers=headers,
                data=await request.read(),
            ) as resp,
        ):
            body = await resp.read()
            kept = {"Content-Type": resp.headers.get("Content-Type", "application/json")}
            return web.Response(status=resp.status, body=body, headers=kept)

    def parents(self, method: str, path: str) -> list[str]:
        return [h.get("traceparent", "") for m, p, h in self.seen if (m, p) == (method, path)]


@asynccontextmanager
async def _tapped_sandbox() -> AsyncIterator[tuple[SandboxServer, Tap]]:
    sandbox = await start_sandbox(
        SandboxConfig(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, business_key="", location_keys={}
        )
    )
    tap = Tap(sandbox.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", tap.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    tap.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield sandbox, tap
    finally:
        await runner.cleanup()
        await sandbox.close()


def _env(upstream: str, **more: str) -> dict[str, str]:
    return {
        "PUNCHH_BASE_URL": upstream,
        "PUNCHH_CLIENT_ID": CLIENT_ID,
        "PUNCHH_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_SESSION_SECRET": SESSION_SECRET,
        "GATEWAY_STORE_URL": REDIS_URL,
        "GATEWAY_STORE_PREFIX": f"lgtest:{secrets.token_hex(4)}:",
        "GATEWAY_STORE_KEY": STORE_KEY,
        "GATEWAY_RETRY_BACKOFF_BASE": "0.01",
        "GATEWAY_RETRY_BACKOFF_MAX": "0.02",
        **more,
    }


def _traceparent(sampled: bool = True) -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


async def _access_lines(gp: GatewayProcess, trace_id: str) -> list[dict[str, object]]:
    for _ in range(100):  # the access log is written within 0.1 s
        lines = [json.loads(x) for x in gp.logs().splitlines() if x.startswith("{")]
        found = [x for x in lines if x.get("msg") == "request" and x.get("trace_id") == trace_id]
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"no access-log line with trace_id {trace_id}:\n{gp.logs()}")


def _one(spans: list[Received], kind: str, name: str) -> Received:
    (found,) = [s for s in spans if (s.kind, s.name) == (kind, name)]
    return found


async def _sign_up(http: aiohttp.ClientSession, gp: GatewayProcess, parent: str) -> str:
    user = {
        "email": EMAIL,
        "phone": PHONE,
        "password": PASSWORD,
        "first_name": "Ada",
        "last_name": "Byron",
    }
    async with http.post(
        gp.url + SIGN_UP, json={"user": user}, headers={"traceparent": parent}
    ) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["access_token"])


async def test_spans_links_propagation_and_the_trace_id_in_logs_and_errors() -> None:
    async with (
        _tapped_sandbox() as (sandbox, tap),
        otlp_receiver() as otlp,
        gateway_process(
            _env(
                tap.url,
                OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
                OTEL_SERVICE_NAME="gateway-under-test",
                OTEL_BSP_SCHEDULE_DELAY="50",
            )
        ) as gp,
        aiohttp.ClientSession() as http,
    ):
        # A frontend's trace continued: same trace id, the frontend's span as parent.
        trace1, client_span, parent = _traceparent()
        token = await _sign_up(http, gp, parent)
        spans = await otlp.wait_for(trace1, 2)
        server = _one(spans, "server", f"POST {SIGN_UP}")
        assert (server.parent_id, server.service) == (client_span, "gateway-under-test")
        assert server.attributes["http.route"] == SIGN_UP
        assert server.attributes["http.request.method"] == "POST"
        assert server.attributes["http.response.status_code"] == 201
        call = _one(spans, "client", f"POST {SIGN_UP}")
        assert call.parent_id == server.span_id
        assert call.attributes["url.template"] == SIGN_UP
        assert tap.parents("POST", SIGN_UP) == [f"00-{trace1}-{call.span_id}-01"]

        # A retried read: one span per attempt under the request's, each id sent to Punchh.
        async with http.post(
            sandbox.url + "/__sandbox/faults",
            json={"method": "GET", "path": BALANCE, "status": 503, "times": 1},
        ) as resp:
            assert resp.status == 201
        await asyncio.sleep(0.6)  # past the replica's recent-session memory: Redis is read
        trace2, _, parent = _traceparent()
        auth = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}
        async with http.get(gp.url + BALANCE, headers={**auth, "traceparent": parent}) as resp:
            assert resp.status == 200, await resp.text()
        spans = await otlp.wait_for(trace2, 4)
        server = _one(spans, "server", f"GET {BALANCE}")
        attempts = [s for s in spans if s.kind == "client" and s.name == f"GET {BALANCE}"]
        assert [s.parent_id for s in attempts] == [server.span_id] * 2
        first, second = sorted(
            attempts, key=lambda s: s.attributes.get("http.request.resend_count", 0)
        )
        assert (first.attributes["http.response.status_code"], first.error) == (503, True)
        assert first.attributes["error.type"] == "503"
        assert second.attributes["http.request.resend_count"] == 1
        assert second.attributes["http.response.status_code"] == 200
        sent = tap.parents("GET", BALANCE)
        assert sent == [f"00-{trace2}-{first.span_id}-01", f"00-{trace2}-{second.span_id}-01"]
        stores = {
            s.attributes["gateway.store"]
            for s in spans
            if s.attributes.get("db.system.name") == "redis"
        }
        assert {"sessions", "rate_limit"} <= stores
        assert all(s.parent_id == server.span_id for s in spans if s is not server)

        # The trace id in the JSON error and the access log, for a request that had no
        # traceparent: the gateway's own trace.
        async with http.get(gp.url + BALANCE) as resp:
            assert resp.status == 401
            error = (await resp.json())["error"]
        trace3 = error["trace_id"]
        assert len(trace3) == 32
        (server,) = await otlp.wait_for(trace3, 1)
        assert (server.name, server.parent_id) == (f"GET {BALANCE}", "")
        assert (await _access_lines(gp, trace3))[0]["status"] == 401
        assert (await _access_lines(gp, trace1))[0]["route"] == f"POST {SIGN_UP}"

        # A frontend's unsampled trace: nothing exported, yet its id is logged, answered
        # and sent on with the sampled flag off.
        trace4, _, parent = _traceparent(sampled=False)
        async with http.get(
            gp.url + "/api/auth/nowhere/" + EMAIL, headers={"traceparent": parent}
        ) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["trace_id"] == trace4
        async with http.get(gp.url + BALANCE, headers={**auth, "traceparent": parent}) as resp:
            assert resp.status == 200
        (sent_unsampled,) = [p for p in tap.parents("GET", BALANCE) if trace4 in p]
        assert sent_unsampled.startswith(f"00-{trace4}-")
        assert sent_unsampled.endswith("-00")
        await _access_lines(gp, trace4)
        await otlp.wait_for(trace1, 2)
        await asyncio.sleep(0.2)  # two export beats: what was sampled has arrived
        assert otlp.trace(trace4) == []

        # A frontend's tracestate that is not the spec's (bytes that are no text): dropped
        # whole, the request served as any other, its traceparent sent on.
        trace5, _, parent = _traceparent()
        host, port = gp.url.removeprefix("http://").split(":")
        hostile = {
            **auth,
            "traceparent": parent,
            "tracestate": "a=1,b=\xff\xfe",
            "User-Agent": "agent\xff\xfe" + "x" * 500,  # bytes that are no text, and long
        }
        status, _, _ = await raw_request(host, int(port), "GET", BALANCE, hostile)
        assert status == 200
        (sent_on,) = [h for _, _, h in tap.seen if trace5 in h.get("traceparent", "")]
        assert "tracestate" not in sent_on
        server = _one(await otlp.wait_for(trace5, 1), "server", f"GET {BALANCE}")
        agent = server.attributes["user_agent.original"]
        assert isinstance(agent, str)
        assert agent.startswith("agent")
        assert len(agent) <= 256  # exported, cut and made text
        errors = [line for line in gp.logs().splitlines() if '"level": "error"' in line]
        assert errors == []  # the exporter encoded every attribute

        # No secret in any attribute of any span: the guest's email, phone and password,
        # the gateway's session token, Punchh's tokens as the tap saw them, the client secret.
        secret_values = {EMAIL, PHONE, PASSWORD, token, CLIENT_SECRET, SESSION_SECRET}
        for _, _, headers in tap.seen:
            for name in ("Authorization", "id-token", "x-pch-digest"):
                if name in headers:
                    secret_values.add(headers[name].removeprefix("Bearer "))
        texts = [v for s in otlp.spans for v in [s.name, *s.attributes, *s.values]]
        leaks = [(v, s) for v in texts for s in secret_values if s and s.lower() in v.lower()]
        assert leaks == []
        assert "/api/auth/nowhere/" not in " ".join(texts)  # no raw path either


async def test_tracing_off_adds_no_field_and_sends_no_traceparent() -> None:
    async with (
        _tapped_sandbox() as (_, tap),
        gateway_process(_env(tap.url)) as gp,
        aiohttp.ClientSession() as http,
    ):
        _, _, parent = _traceparent()
        async with http.get(gp.url + BALANCE, headers={"traceparent": parent}) as resp:
            assert resp.status == 401
            assert set((await resp.json())["error"]) == {"code", "message", "request_id", "outcome"}
        await _sign_up(http, gp, parent)
        assert tap.parents("POST", SIGN_UP) == [""]
        await asyncio.sleep(0.3)
        assert "trace_id" not in gp.logs()


def test_tracing_off_imports_no_tracing_sdk() -> None:
    """Off, nothing of the trace SDK or the exporter is loaded (redis-py itself imports
    opentelemetry's metrics API when installed: that is not the gateway's doing)."""
    script = """
import json, sys
from aiohttp.test_utils import make_mocked_request
from gateway import tracing
from gateway.app import make_app
from gateway.config import load_config
assert tracing.start_tracing({"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_ENDPOINT": ""}) is False
make_app(load_config(None, {"PUNCHH_BASE_URL": "http://127.0.0.1:9", "PUNCHH_CLIENT_ID": "c",
    "PUNCHH_CLIENT_SECRET": "s", "GATEWAY_SESSION_SECRET": "x" * 40}))
prefixes = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "gateway.tracing_sdk")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


async def test_an_unreachable_collector_never_slows_or_fails_a_request() -> None:
    async with (
        _tapped_sandbox() as (_, tap),
        gateway_process(
            _env(
                tap.url,
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nothing there
                OTEL_BSP_SCHEDULE_DELAY="20",
            )
        ) as gp,
        aiohttp.ClientSession() as http,
    ):
        _, _, parent = _traceparent()
        token = await _sign_up(http, gp, parent)
        auth = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}
        slowest = 0.0
        for _ in range(40):
            started = time.perf_counter()
            async with http.get(gp.url + BALANCE, headers=auth) as resp:
                assert resp.status == 200
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.01)  # let export beats (and their failures) happen between
        assert slowest < 0.5
        started = time.perf_counter()
        assert gp.stop() == 0
        assert time.perf_counter() - started < 6  # the last export is bounded at shutdown
