"""Structured logging with the event in hand attached, and secrets masked."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType

_event: contextvars.ContextVar[str] = contextvars.ContextVar("dxbot_event", default="")
MASK = "[REDACTED]"


@contextmanager
def event_context(adapter: str, event_id: str) -> Iterator[None]:
    """Tag every log line written while handling this event with its id."""
    token = _event.set(f"{adapter}:{event_id}")
    try:
        yield
    finally:
        _event.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, "event", _event.get())  # noqa: B010 - LogRecord takes extras
        return True


class _Masking(logging.Formatter):
    """Masks secrets in the finished line: the message, its arguments, and a traceback's
    exception messages alike."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        kept = [s for s in secrets if s and len(s) >= 4]
        # A JSON line escapes quotes and backslashes: mask the escaped spelling as well.
        escaped = [json.dumps(s, ensure_ascii=False)[1:-1] for s in kept]
        self._secrets = sorted(set(kept + escaped), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self._inner.format(record)
        for secret in self._secrets:
            line = line.replace(secret, MASK)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        event = getattr(record, "event", "")
        if event:
            data["event"] = event
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (it may be swapped, e.g. by test capture)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(
    level: str = "INFO", *, json_format: bool = False, secrets: Iterable[str] = ()
) -> None:
    """Send logs to stderr; ``secrets`` never appear in any line."""
    handler = _CurrentStderr()
    handler.addFilter(_ContextFilter())
    formatter = (
        JsonFormatter()
        if json_format
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(event)s] %(message)s")
    )
    handler.setFormatter(_Masking(formatter, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    chosen = logging.getLevelNamesMapping()[level.upper()]
    logging.getLogger("aiohttp.access").setLevel(max(chosen, logging.WARNING))
    # APScheduler logs each run of each job twice at INFO (thousands of lines a day); the jobs
    # log what they do, and its warnings (a missed run) still show. DEBUG shows everything.
    quiet = chosen if chosen <= logging.DEBUG else max(chosen, logging.WARNING)
    logging.getLogger("apscheduler").setLevel(quiet)
    # An exception nobody caught would otherwise reach stderr through Python's own hook, past
    # the masking: send it through the log instead.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("dxbot").critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
