"""The browser example's own origin: serves examples/web/index.html for `make run`.

`python examples/serve.py [--port 8081]` on 127.0.0.1: `GET /` is the page (never cached,
so an edit shows on reload); every other path is 404. The page calls the gateway on
another origin (http://web.localhost:8080), which is what the example is about.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

PAGE = Path(__file__).resolve().parent / "web" / "index.html"
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def make_app(page: Path = PAGE) -> web.Application:
    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(page, headers=HEADERS)

    app = web.Application()
    app.router.add_get("/", index)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the browser example on its own origin.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    try:
        web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)
    except OSError as exc:
        print(f"examples/serve.py: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
