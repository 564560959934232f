"""The aiohttp edge: ``POST /hooks/{adapter}``, ``GET /downloads/{token}`` and ``GET /healthz``,
plus ``/_matrix/app/…`` where a Matrix homeserver calls its application service.

Ack only what is stored.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from functools import cache
from typing import Any, cast
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from bot.adapters.base import (
    Ack,
    Batch,
    DeliveryError,
    PayloadError,
    Preparing,
    RawRequest,
    SignatureError,
)
from bot.downloads import fetch_download
from bot.intake import BacklogFull
from bot.metrics import CONTENT_TYPE
from bot.runtime import Runtime

log = logging.getLogger(__name__)
RUNTIME = web.AppKey("runtime", Runtime)
RETRY_LATER = {"Retry-After": "5"}


def _error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"ok": False, "error": code, "message": message, **extra}
    return web.json_response(body, status=status, headers=headers)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


ErrorResponse = Callable[..., web.Response]
MATRIX_ERRCODES = {
    400: "M_BAD_JSON",
    401: "M_UNAUTHORIZED",
    403: "M_FORBIDDEN",
    404: "M_UNRECOGNIZED",
    413: "M_TOO_LARGE",
}


async def hook(request: web.Request) -> web.Response:
    """``POST /hooks/{adapter}``: a platform's webhook."""
    return await _accept(request, request.match_info["adapter"], _error)


async def matrix_app(request: web.Request) -> web.Response:
    """``/_matrix/app/v1/…``: the homeserver's application-service calls to the matrix adapter."""
    return await _accept(request, "matrix", _matrix_error)


def _matrix_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """The Matrix standard error body; the spec names M_FORBIDDEN for a refused hs_token."""
    body = {"errcode": MATRIX_ERRCODES.get(status, "M_UNKNOWN"), "error": message}
    return web.json_response(body, status=status, headers=extra.get("headers"))


async def _accept(request: web.Request, name: str, error: ErrorResponse) -> web.Response:
    """Verify, parse and store; ack only when every event of the request is stored."""
    runtime = request.app[RUNTIME]

    def refuse(status: int, code: str, message: str, **extra: Any) -> web.Response:
        runtime.metrics.rejected.labels(name, code).inc()
        return error(status, code, message, **extra)

    adapter = runtime.webhooks.get(name)
    if adapter is None:
        return refuse(404, "unknown_adapter", f"no adapter named {name!r} is enabled")
    limit = runtime.settings.http.max_body_bytes
    body = await _read_body(request, limit)
    if body is None:
        return refuse(413, "too_large", f"body larger than {limit} bytes")
    raw = RawRequest(
        headers=request.headers,
        body=body,
        query=request.query,
        method=request.method,
        path=request.path,
    )
    try:
        adapter.verify(raw, time.time())
        if _prepares(type(adapter)):
            await cast(Preparing, adapter).prepare(raw)
        parsed = adapter.parse(raw)
    except SignatureError as exc:
        log.warning("rejected %s webhook: %s", name, exc)
        return refuse(exc.status, "bad_signature", str(exc))
    except PayloadError as exc:
        return refuse(400, "bad_request", exc.reason, field=exc.field)
    except DeliveryError as exc:
        log.warning("%s request not ready, platform will retry: %s", name, exc.reason)
        return refuse(503, "unavailable", "retry later", headers={"Retry-After": "5"})
    if isinstance(parsed, Ack):
        return _ack(parsed)
    events = parsed.events if isinstance(parsed, Batch) else (parsed,)
    new = False
    try:
        for event in events:
            new = await runtime.accept(event) or new
    except BacklogFull as exc:
        log.warning("refused %s event, backlog full: %s", name, exc)
        return refuse(503, "busy", "too many events waiting; retry later", headers=RETRY_LATER)
    except (DBAPIError, OSError) as exc:
        log.error("could not store %s event: %s", name, type(exc).__name__)
        return refuse(503, "unavailable", "event not stored; retry later", headers=RETRY_LATER)
    counter = runtime.metrics.received if new else runtime.metrics.duplicates
    counter.labels(name).inc()
    if isinstance(parsed, Batch):
        return _ack(parsed.ack)
    return web.json_response({"ok": True, "duplicate": not new} if not new else {"ok": True})


@cache
def _prepares(kind: type) -> bool:
    """Whether an adapter class is ``Preparing``: asked once per class, since a protocol check
    on an instance inspects its members each time (~20 µs, a tenth of a relay ack)."""
    return issubclass(kind, Preparing)


def _ack(ack: Ack) -> web.Response:
    """The platform's own acknowledgement; no body means an empty 200 (Slack shows any JSON
    it gets back for a slash command to the person who typed it)."""
    if ack.body is None:
        return web.Response(status=ack.status)
    return web.json_response(ack.body, status=ack.status)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name per RFC 5987 (日本語 names)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def download(request: web.Request) -> web.Response:
    """A file offered by link (see ``bot.downloads``); unknown and expired look the same."""
    runtime = request.app[RUNTIME]
    try:
        async with runtime.sessions() as session:
            found = await fetch_download(session, request.match_info["token"], runtime.clock.now())
    except (DBAPIError, OSError) as exc:
        log.error("could not read a download: %s", type(exc).__name__)
        return _error(503, "unavailable", "retry later", headers={"Retry-After": "5"})
    if found is None:
        return _error(404, "not_found", "no such download, or the link has expired")
    headers = {
        "Content-Type": found.content_type,
        "Content-Disposition": content_disposition(found.filename),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=found.data, headers=headers)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; outbox gauges are read from the database at scrape time."""
    runtime = request.app[RUNTIME]
    try:
        async with runtime.sessions() as session:
            await runtime.metrics.refresh_outbox(session, runtime.clock.now())
    except (DBAPIError, OSError):
        pass  # counters still tell their story; healthz says the database is gone
    return web.Response(body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    if await request.app[RUNTIME].healthy():
        return web.json_response({"ok": True, "database": "ok"})
    return _error(503, "database_unavailable", "database unreachable")


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn aiohttp's own HTTP errors (404, 405 …) and any bug into JSON, never a bare 500."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        kept = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason, headers=kept)
    except Exception:
        log.exception("unexpected error on %s", request.path)
        return _error(500, "internal", "internal error")


def build_web_app(runtime: Runtime) -> web.Application:
    app = web.Application(
        client_max_size=runtime.settings.http.max_body_bytes, middlewares=[_json_errors]
    )
    app[RUNTIME] = runtime
    app.router.add_post("/hooks/{adapter}", hook)
    app.router.add_route("*", "/_matrix/app/{path:.*}", matrix_app)
    app.router.add_get("/downloads/{token}", download)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


class PortUnavailable(OSError):
    """The HTTP port is taken (another dxbot, another program) or may not be bound."""


async def serve(runtime: Runtime, *, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT: stop accepting, finish in-flight work, flush the outbox.

    The port is bound before handling and the scheduler start, so a taken port costs a
    restart nothing but the schema check (no reminders run by a process about to exit)."""
    await runtime.prepare()
    http = runtime.settings.http
    runner = web.AppRunner(
        build_web_app(runtime),
        shutdown_timeout=http.shutdown_timeout_seconds,
        handle_signals=False,
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, http.host, http.port)
    try:
        await site.start()
    except OSError as exc:  # nothing was accepted: stop what started, say why
        await runner.cleanup()
        await runtime.stop(flush_seconds=0)
        raise PortUnavailable(exc.errno, exc.strerror or str(exc)) from exc
    await runtime.start()
    log.info(
        "dxbot listening on http://%s:%s (adapters: %s)",
        http.host,
        http.port,
        ", ".join(runtime.webhooks) or "none",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing in-flight work")
        await runner.cleanup()
        await runtime.stop()
        log.info("stopped")
