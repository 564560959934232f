"""The platform adapters a process can enable from its settings.

Each platform module offers ``from_settings(settings) -> adapter | None``; importing them
here, lazily, keeps a platform's SDK out of processes that do not use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from config.settings import Settings

Factory = Callable[[Settings], Any]
PLATFORM_MODULES = ("bot.adapters.slack", "bot.adapters.lineworks", "bot.adapters.matrix")


def platform_factories() -> list[Factory]:
    """``from_settings`` of each platform module that is present."""
    factories: list[Factory] = []
    for name in PLATFORM_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but its SDK is missing: say so
            continue
        factories.append(module.from_settings)
    return factories
