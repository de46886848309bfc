"""A tiny Chrome DevTools Protocol client over aiohttp's websocket: enough to drive a page
like a user (navigate, run script in it, wait for what it shows) and to read the browser's
cookie jar, HttpOnly cookies included, which no page script can.

Protocol: https://chromedevtools.github.io/devtools-protocol/ (domains Page, Runtime,
Network). One websocket per page target; commands answered by id, events by method.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

TIMEOUT = 15.0

# Resolves once `condition` (a JavaScript expression) is true in the page, re-checked at
# every change of the document: waiting without polling.
WAIT_FOR = """new Promise((resolve) => {
  const holds = () => { try { return Boolean(%s); } catch { return false; } };
  if (holds()) return resolve(true);
  new MutationObserver((_, seen) => { if (holds()) { seen.disconnect(); resolve(true); } })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})"""


class CdpError(Exception):
    """A command the browser refused, or script that threw in the page."""


class Page:
    """One page target's DevTools session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            doc = json.loads(msg.data)
            if "id" in doc:
                answer = self._answers.pop(doc["id"], None)
                if answer is not None and not answer.done():
                    answer.set_result(doc)
            for waiter in self._events.pop(doc.get("method", ""), []):
                if not waiter.done():
                    waiter.set_result(doc.get("params", {}))
        for pending in [*self._answers.values(), *itertools.chain(*self._events.values())]:
            if not pending.done():
                pending.set_exception(CdpError("the DevTools connection closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """The command's result; CdpError when the browser refuses it."""
        ident = next(self._ids)
        answer = self._answers[ident] = asyncio.get_running_loop().create_future()
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        async with asyncio.timeout(TIMEOUT):
            doc = await answer
        if "error" in doc:
            raise CdpError(f"{method}: {doc['error']}")
        result: dict[str, Any] = doc.get("result", {})
        return result

    def expect(self, event: str) -> asyncio.Future[dict[str, Any]]:
        """The next `event`'s params: ask before doing what fires it."""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._events.setdefault(event, []).append(waiter)
        return waiter

    async def navigate(self, url: str) -> None:
        """Load `url` and wait for its load event."""
        loaded = self.expect("Page.loadEventFired")
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CdpError(f"Page.navigate {url}: {result['errorText']}")
        async with asyncio.timeout(TIMEOUT):
            await loaded

    async def evaluate(self, expression: str) -> Any:
        """`expression`'s value in the page (a promise awaited), as JSON."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CdpError(details.get("exception", {}).get("description") or details["text"])
        return result["result"].get("value")

    async def wait_for(self, condition: str, limit: float = TIMEOUT) -> None:
        """Until the JavaScript `condition` holds in the page; after `limit` seconds, an
        AssertionError saying what the page shows instead."""
        try:
            async with asyncio.timeout(limit):
                await self.evaluate(WAIT_FOR % condition)
        except TimeoutError:
            shown = await self.evaluate("document.body ? document.body.innerText : ''")
            raise AssertionError(
                f"not so after {limit}s: {condition}\nthe page shows:\n{str(shown)[:2000]}"
            ) from None

    async def cookies(self, url: str) -> dict[str, dict[str, Any]]:
        """The cookies the browser would send to `url`, by name: HttpOnly ones too."""
        found = await self.send("Network.getCookies", urls=[url])
        return {c["name"]: c for c in found["cookies"]}

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def open_page(browser_ws: str) -> AsyncIterator[Page]:
    """The browser's first page target (`browser_ws`: its DevTools websocket URL), with the
    Page, Runtime and Network domains enabled."""
    listing = URL(browser_ws).with_scheme("http").with_path("/json/list")
    async with aiohttp.ClientSession() as http:
        async with http.get(listing) as resp:
            targets = await resp.json()
        target = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            try:
                for domain in ("Page", "Runtime", "Network"):
                    await page.send(f"{domain}.enable")
                yield page
            finally:
                await page.close()
