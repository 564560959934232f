"""Where the CPU of one event goes: accept (the ack path) and handle (inbox → reply in outbox),
in-process under pyinstrument, with a recording sender instead of a platform.

    python -m bench.profile_handling                      # 300 events, SQLite (NORMAL)
    python -m bench.profile_handling --events 300 --database postgresql+asyncpg://…/db
    python -m bench.profile_handling --html /tmp/handling.html
    python -m bench.profile_handling --form --events 450   # form steps, as bench.e2e sends

Prints ms of CPU per event for each phase, then pyinstrument's call tree of the handling phase.
The database must be empty (SQLite: a fresh temporary file is used by default).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.e2e import form_events
from bench.webhook import USERS


async def run(url: str, events: int, per_user: bool, form: bool) -> str:
    from pyinstrument import Profiler

    from bot.runtime import Runtime
    from config.settings import Settings
    from storage import migrate
    from tests.builders import make_event
    from tests.fakes import RecordingSender

    settings = Settings.model_validate(
        {"database": {"url": url, "sqlite_synchronous": "NORMAL"}, "logging": {"level": "WARNING"}}
    )
    sender = RecordingSender("relay")
    runtime = Runtime(settings, webhooks={}, senders={"relay": sender})
    try:
        await migrate.upgrade(runtime.engine)
        if form:
            made = [make_event(text, user=user) for user, text in form_events(events, "P")]
        else:
            made = [
                make_event("ヘルプ", user=f"P{n if per_user else n % USERS}") for n in range(events)
            ]
        cpu = time.process_time()
        for event in made:
            await runtime.accept(event)
        accept_ms = (time.process_time() - cpu) * 1000 / events
        profiler = Profiler(async_mode="disabled")
        profiler.start()
        cpu = time.process_time()
        handled = await runtime.worker.handle_pending()
        handle_ms = (time.process_time() - cpu) * 1000 / max(handled, 1)
        cpu = time.process_time()
        await runtime.dispatcher.drain(60)
        send_ms = (time.process_time() - cpu) * 1000 / max(len(sender.sent), 1)
        profiler.stop()
        print(
            f"{events} events: accept {accept_ms:.2f} ms CPU each; handle {handle_ms:.2f} ms "
            f"CPU each ({handled} handled); outbox claim+send {send_ms:.2f} ms CPU per reply "
            f"({len(sender.sent)} replies)"
        )
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return str(profiler.output_html())
    finally:
        await runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_handling", description=__doc__)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--database", default="")
    parser.add_argument("--html", type=Path)
    parser.add_argument("--new-users", action="store_true", help="every event its own user")
    parser.add_argument("--form", action="store_true", help="form steps (bench.e2e's load)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        url = args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'profile.sqlite3'}"
        page = asyncio.run(run(url, args.events, args.new_users, args.form))
    if args.html:
        args.html.write_text(page)


if __name__ == "__main__":
    main()
