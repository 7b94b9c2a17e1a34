"""The upper limit for the webhook benchmark: a bare aiohttp app that answers every `POST /wechat` with
one fixed reply XML and checks nothing (no signature, no parsing, no dedupe, no database).

It runs the same aiohttp version, event loop (asyncio's; with --uvloop uvloop's, as `partybot serve` with
PARTYBOT_UVLOOP=1) and `run_app` settings as `partybot serve`, so the gap between the two is what
partybot's own work costs. The reply is read from a file written by
webhook_bench.py (partybot's real menu reply, so both servers send the same number of bytes).

    python bench/bare_app.py --port 8081 --reply-file /tmp/reply.xml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

REPLY = web.AppKey("reply", bytes)


async def receive(request: web.Request) -> web.Response:
    # Read the body as partybot does, so both servers receive the same bytes before answering.
    await request.read()
    return web.Response(body=request.app[REPLY], content_type="application/xml", charset="utf-8")


async def healthz(request: web.Request) -> web.Response:
    # Only for the benchmark's readiness poll; never called during a measurement.
    return web.Response(text="ok")


def create_app(reply: bytes) -> web.Application:
    app = web.Application()
    app[REPLY] = reply
    app.router.add_post("/wechat", receive)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reply-file", type=Path, required=True, help="the fixed reply XML to send")
    parser.add_argument("--uvloop", action="store_true", help="on uvloop, as `partybot serve` with it")
    args = parser.parse_args()
    app = create_app(args.reply_file.read_bytes())
    loop = None
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    # access_log=None and print=None: like `partybot serve`, no per-request logging.
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
