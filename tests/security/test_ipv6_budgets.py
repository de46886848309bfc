"""Issue 15, finding 10: a client controls a whole IPv6 /64, so per-IP budgets key IPv6
clients by their /64. A real gateway process behind a trusted proxy (127.0.0.1), in
front of the sandbox: OTP sends from eleven addresses of one /64 share `otp_ip`
(10 per 3600 s); a neighbouring /64 has its own budget."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.ratelimit.policies import ip_bucket
from sandbox.server import SandboxServer
from tests.conftest import gateway_env
from tests.support.process import gateway_process

OTP = "/api2/password_less/token"


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
    ],
)
def test_ip_buckets(address: str, bucket: str) -> None:
    assert ip_bucket(address) == bucket


async def test_hopping_inside_one_64_buys_nothing(sandbox: SandboxServer) -> None:
    env = gateway_env(sandbox.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    async with gateway_process(env) as gw, aiohttp.ClientSession() as http:

        async def send(i: int, address: str) -> int:
            body = {"phone": f"55501{i:05d}"}  # another target each time: only otp_ip binds
            headers = {"X-Forwarded-For": address}
            async with http.post(f"{gw.url}{OTP}", json=body, headers=headers) as resp:
                if resp.status == 429:
                    assert "otp_ip" in (await resp.json())["error"]["message"]
                return resp.status

        same = [await send(i, f"2001:db8:1:2::{i + 1:x}") for i in range(11)]
        other = await send(99, "2001:db8:1:3::1")
    assert same == [200] * 10 + [429]
    assert other == 200
