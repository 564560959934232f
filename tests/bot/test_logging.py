"""Logging: secrets never reach a line (not even through a traceback), the event in hand is
on every line, and chatty libraries stay quiet at INFO."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from bot import logging as bot_logging

SECRET = "xoxb-very-secret-token"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("apscheduler", "aiohttp.access")}
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:], root.level = handlers, level
    sys.excepthook, threading.excepthook = hooks
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def test_a_secret_is_masked_in_the_message_and_in_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot_logging.configure("INFO", secrets=[SECRET])
    log = logging.getLogger("bot.test")
    log.warning("sending with %s", SECRET)
    try:
        raise ValueError(f"the platform refused {SECRET}")
    except ValueError:
        log.exception("send failed")
    err = capsys.readouterr().err
    assert SECRET not in err
    assert err.count(bot_logging.MASK) == 2 and "the platform refused" in err


def test_json_lines_carry_the_event_in_hand(capsys: pytest.CaptureFixture[str]) -> None:
    password = 'pa"ss\\word'  # JSON escapes both the quote and the backslash
    bot_logging.configure("INFO", json_format=True, secrets=[SECRET, password])
    with bot_logging.event_context("relay", "ev-42"):
        logging.getLogger("bot.test").info("受付 %s %s", SECRET, password)
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["event"] == "relay:ev-42"
    assert record["message"] == f"受付 {bot_logging.MASK} {bot_logging.MASK}"


@pytest.mark.parametrize(
    ("level", "shown"),
    [("INFO", ["warning"]), ("DEBUG", ["info", "warning"]), ("ERROR", [])],
)
def test_the_schedulers_run_lines_show_only_when_debugging(
    level: str, shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    bot_logging.configure(level)
    scheduler_log = logging.getLogger("apscheduler.executors.default")
    scheduler_log.info("info")
    scheduler_log.warning("warning")
    lines = capsys.readouterr().err.splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in lines] == shown


def test_an_uncaught_exception_is_logged_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """A crash nobody caught (in the main thread or another) goes through the log, so its
    traceback is masked like every other line."""
    bot_logging.configure("INFO", secrets=[SECRET])

    def fail() -> None:
        raise RuntimeError(f"cannot connect with {SECRET}")

    try:
        fail()
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    worker = threading.Thread(target=fail)
    worker.start()
    worker.join()
    err = capsys.readouterr().err
    assert SECRET not in err
    assert err.count("uncaught exception") == 2
    assert err.count(f"RuntimeError: cannot connect with {bot_logging.MASK}") == 2
