"""Graceful shutdown of a real gateway process (`python -m gateway`) mid-traffic.

A load balancer in front of the gateway polls /readyz and takes the replica out of rotation
when it answers 503; the gateway keeps serving for `server.shutdown_grace` seconds so that
the balancer has time to notice, then refuses new connections and lets the requests in
flight finish (up to `server.drain_timeout`), and exits 0. No accepted request is dropped.
The upstream is an in-process sandbox whose fault knob makes some routes slow.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from sandbox.context import CALLS_KEY, STATE_KEY
from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import GatewayProcess, gateway_process
from tests.workflows.support import PASSWORD, RECEIPT_AT, menu_items

SLOW_READ = "/api/auth/checkins/balance"  # made slow by a fault
SLOW_WRITE = "/api/auth/checkins/online_order"  # made slow by a fault
FAST_READ = "/api/auth/users/balance"


def _env(sandbox: SandboxServer, grace: float, drain: float) -> dict[str, str]:
    return gateway_env(
        sandbox.url,
        GATEWAY_SHUTDOWN_GRACE=str(grace),
        GATEWAY_DRAIN_TIMEOUT=str(drain),
        GATEWAY_CACHE_ENABLED="false",  # every read reaches the sandbox
        GATEWAY_RATE_LIMIT_ENABLED="false",  # one guest, one IP, many requests
        PUNCHH_TOTAL_TIMEOUT="30",
        PUNCHH_TIMEOUT_READ_FIRST_BYTE="30",
        PUNCHH_TIMEOUT_READ_TOTAL="30",
        PUNCHH_TIMEOUT_WRITE_FIRST_BYTE="30",
        PUNCHH_TIMEOUT_WRITE_TOTAL="30",
    )


async def _slow_down(sandbox: SandboxServer, method: str, path: str, latency_ms: int) -> None:
    rule = {"method": method, "path": path, "latency_ms": latency_ms}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.url}/__sandbox/faults", json=rule) as resp,
    ):
        assert resp.status == 201, await resp.text()


async def _sign_up(gw: GatewayProcess, email: str) -> dict[str, str]:
    user = {"email": email, "password": PASSWORD, "first_name": "Shut", "last_name": "Down"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gw.url}/api/auth/customers.json", json={"user": user}) as resp,
    ):
        assert resp.status == 201, await resp.text()
        token = str((await resp.json())["access_token"])
    return {"Authorization": f"Bearer {token}"}


def _order(uid: str) -> dict[str, Any]:
    return {
        "external_uid": uid,
        "receipt_amount": 12.5,
        "subtotal_amount": 12.5,
        "receipt_datetime": RECEIPT_AT,
        "payable": "12.5",
        "transaction_no": uid,
        "menu_items": menu_items(12.5),
    }


def _new_connections() -> aiohttp.ClientSession:
    """Every request on a connection of its own, opened for it."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0))


@dataclass
class Result:
    sent_at: float
    status: int = 0
    connection: str = ""
    body: Any = None
    error: BaseException | None = None
    done_at: float = 0.0


async def _request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> Result:
    result = Result(sent_at=time.monotonic())
    try:
        async with http.request(method, url, headers=headers, json=body) as resp:
            result.status = resp.status
            result.connection = resp.headers.get("Connection", "")
            result.body = await resp.json()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        result.error = exc
    result.done_at = time.monotonic()
    return result


class KeepAlive:
    """One HTTP/1.1 connection held open by hand, to send requests on it one after another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> KeepAlive:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: gateway",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head.strip().split("\r\n")
        parsed = {k.lower(): v for k, v in (h.split(": ", 1) for h in header_lines)}
        await self.reader.readexactly(int(parsed["content-length"]))
        return int(status_line.split()[1]), parsed

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 1) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _in_flight(sandbox: SandboxServer, expected: dict[str, int], limit: float) -> None:
    """Until the sandbox has received `expected` calls ("METHOD /path": count)."""
    deadline = time.monotonic() + limit
    while True:
        calls = sandbox.app[CALLS_KEY].snapshot()
        if all(calls.get(k, 0) >= n for k, n in expected.items()):
            return
        assert time.monotonic() < deadline, f"calls {calls}, expected {expected}"
        await asyncio.sleep(0.01)


async def _exit_code(proc: subprocess.Popen[bytes], limit: float) -> int | None:
    try:
        return await asyncio.to_thread(proc.wait, limit)
    except subprocess.TimeoutExpired:
        return None


@dataclass
class LoadBalancer:
    """Polls /readyz on new connections; takes the replica out of rotation on a 503."""

    url: str
    in_rotation: bool = True
    polls: list[tuple[float, int, str]] = field(default_factory=list)  # (at, status, code)

    async def watch(self) -> None:
        async with _new_connections() as http:
            while self.in_rotation:
                try:
                    async with http.get(f"{self.url}/readyz") as resp:
                        body = await resp.json()
                        code = body["error"]["code"] if resp.status != 200 else ""
                        self.polls.append((time.monotonic(), resp.status, code))
                except aiohttp.ClientConnectionError as exc:
                    self.polls.append((time.monotonic(), 0, repr(exc)))
                self.in_rotation = self.polls[-1][1] == 200
                await asyncio.sleep(0.005)

    async def send(self, http: aiohttp.ClientSession, auth: dict[str, str]) -> list[Result]:
        """A worker's steady stream of fast reads, on keep-alive connections, while in rotation."""
        results: list[Result] = []
        while self.in_rotation:
            results.append(await _request(http, "GET", f"{self.url}{FAST_READ}", auth))
            await asyncio.sleep(0.005)
        return results


async def test_sigterm_mid_traffic_drops_no_accepted_request(sandbox: SandboxServer) -> None:
    grace, drain, latency = 1.0, 10.0, 2.5
    slow_reads, slow_writes, workers = 16, 4, 4
    uids = [f"drain-order-{i}" for i in range(slow_writes)]
    tasks: list[asyncio.Task[Any]] = []
    async with (
        gateway_process(_env(sandbox, grace, drain)) as gw,
        _new_connections() as fresh,
        aiohttp.ClientSession() as keep_alive,
    ):
        proc = gw.proc
        auth = await _sign_up(gw, "drain@example.com")
        for method, path in (("GET", SLOW_READ), ("POST", SLOW_WRITE)):
            await _slow_down(sandbox, method, path, int(latency * 1000))
        idle = await KeepAlive.open(gw.url)  # a keep-alive connection, open before the signal
        status, headers = await idle.get("/healthz", {})
        assert (status, headers.get("connection", "")) == (200, "")  # kept alive
        lb = LoadBalancer(gw.url)
        try:
            watcher = asyncio.create_task(lb.watch())
            streams = [asyncio.create_task(lb.send(keep_alive, auth)) for _ in range(workers)]
            slow = [
                asyncio.create_task(_request(fresh, "GET", f"{gw.url}{SLOW_READ}", auth))
                for _ in range(slow_reads)
            ]
            slow += [
                asyncio.create_task(
                    _request(fresh, "POST", f"{gw.url}{SLOW_WRITE}", auth, _order(uid))
                )
                for uid in uids
            ]
            tasks += [watcher, *streams, *slow]
            await _in_flight(
                sandbox, {f"GET {SLOW_READ}": slow_reads, f"POST {SLOW_WRITE}": slow_writes}, 5
            )
            await asyncio.sleep(0.1)  # the fast streams are flowing too
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)

            # The load balancer sees /readyz go 503 `draining` at once, on a new connection.
            await asyncio.wait_for(watcher, 2)
            noticed_at, status, code = lb.polls[-1]
            assert (status, code) == (503, "draining"), lb.polls[-3:]
            assert noticed_at - signalled < 0.1, f"/readyz 503 after {noticed_at - signalled:.3f}s"
            assert all(s == 200 for at, s, _ in lb.polls if at < signalled)

            # A balancer slower to notice still sends during the grace period, on new
            # connections and on a keep-alive one opened before the signal: served, and every
            # answer closes its connection.
            await asyncio.sleep(0.3)
            late = await asyncio.gather(
                *(_request(fresh, "GET", f"{gw.url}{FAST_READ}", auth) for _ in range(5))
            )
            for r in late:
                assert r.error is None, repr(r.error)
                assert (r.status, r.connection.lower()) == (200, "close")
            status, headers = await idle.get(FAST_READ, auth)
            assert (status, headers.get("connection")) == (200, "close")
            assert await idle.closed_by_server()
            assert time.monotonic() - signalled < grace  # all of that within the grace

            # After the grace period: new connections are refused while the slow requests
            # are still being served.
            await asyncio.sleep(max(0.0, signalled + grace + 0.3 - time.monotonic()))
            with pytest.raises(aiohttp.ClientConnectorError) as refused:
                await fresh.get(f"{gw.url}/healthz")
            assert isinstance(refused.value.os_error, ConnectionRefusedError)
            assert proc.poll() is None
            assert not any(t.done() for t in slow), "the slow requests ended before the drain"

            slow_results = await asyncio.gather(*slow)
            finished = time.monotonic()
            stream_results = [r for s in await asyncio.gather(*streams) for r in s]
            code_ = await _exit_code(proc, grace + drain + 5)
            exited = time.monotonic()
        finally:
            await idle.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        logs = gw.logs()

    assert code_ == 0, f"exit {code_}:\n{logs}"
    print(
        f"/readyz 503 {noticed_at - signalled:.3f}s after SIGTERM; last slow answer "
        f"{finished - signalled:.2f}s after it; exit {exited - signalled:.2f}s after it"
    )
    assert exited - finished < 2.0, f"exited {exited - finished:.2f}s after the last answer"
    assert exited - signalled < grace + drain + 3

    # Every slow request in flight got its whole answer.
    for r in slow_results:
        assert r.error is None, f"{r.error!r}\n{logs}"
        assert r.status == 200, r.body
    reads, writes = slow_results[:slow_reads], slow_results[slow_reads:]
    user_ids = {r.body["user_id"] for r in reads}
    assert len(user_ids) == 1
    assert all(r.body["points"] > 0 for r in writes), [r.body for r in writes]

    # The fast streams: nothing dropped; what was sent once draining had begun closed its
    # connection.
    assert len(stream_results) >= workers
    for r in stream_results:
        assert r.error is None, repr(r.error)
        assert r.status == 200, r.body
        if r.sent_at > noticed_at:
            assert r.connection.lower() == "close"

    # Each slow check-in was applied exactly once.
    ledger = [c.external_uid for c in sandbox.app[STATE_KEY].checkins.values()]
    assert sorted(ledger) == sorted(uids)
    assert sandbox.app[CALLS_KEY].snapshot()[f"POST {SLOW_WRITE}"] == slow_writes


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_requests_slower_than_the_drain_timeout_are_cut_off(
    sandbox: SandboxServer, signum: signal.Signals
) -> None:
    grace, drain, latency = 0.5, 1.0, 3.0
    async with gateway_process(_env(sandbox, grace, drain)) as gw:
        proc = gw.proc
        auth = await _sign_up(gw, f"cut-{signum.name.lower()}@example.com")
        await _slow_down(sandbox, "POST", SLOW_WRITE, int(latency * 1000))
        async with _new_connections() as fresh:
            # A POST: aiohttp would send a GET again on a new connection once cut off.
            url = f"{gw.url}{SLOW_WRITE}"
            slow = asyncio.create_task(_request(fresh, "POST", url, auth, _order("cut-1")))
            try:
                await _in_flight(sandbox, {f"POST {SLOW_WRITE}": 1}, 5)
                signalled = time.monotonic()
                proc.send_signal(signum)
                lb = LoadBalancer(gw.url)
                await asyncio.wait_for(lb.watch(), 2)
                assert lb.polls[-1][1:] == (503, "draining")
                assert lb.polls[-1][0] - signalled < 0.1
                code = await _exit_code(proc, grace + 2 * drain + 5)
                exited = time.monotonic()
                cut = await slow
            finally:
                slow.cancel()
        logs = gw.logs()

    assert code == 0, f"exit {code} after {signum.name}:\n{logs}"
    draining = [json.loads(line) for line in logs.splitlines() if '"msg": "draining"' in line]
    assert [d["signal"] for d in draining] == [signum.name]
    assert cut.status == 0, f"a {latency}s request got {cut.status} {cut.body}"
    assert isinstance(cut.error, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
    cut_after, took = cut.done_at - signalled, exited - signalled
    print(
        f"{signum.name} (grace {grace}, drain {drain}): request cut {cut_after:.2f}s and "
        f"process exited {took:.2f}s after the signal"
    )
    # The drain timeout bounds the drain: cut at grace + drain, then a prompt exit.
    assert grace + drain - 0.1 <= cut_after < grace + drain + 0.5, f"cut after {cut_after:.2f}s"
    assert took < grace + drain + 0.75, f"exited {took:.2f}s after the signal"
