"""The platform adapters a process can enable from its settings.

Each platform module offers ``from_settings(settings) -> adapter | None``. A platform's module
(and its SDK: slack_sdk, PyJWT with cryptography …, ~13 MB together) is imported only when its
settings section is enabled, so a process serving only the relay never loads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from config.settings import Settings

Factory = Callable[[Settings], Any]
# Module → its section of Settings, whose ``enabled`` says whether the platform is configured.
PLATFORM_MODULES = {
    "bot.adapters.slack": "slack",
    "bot.adapters.lineworks": "lineworks",
    "bot.adapters.matrix": "matrix",
}


def _from_settings(name: str, section: str, settings: Settings) -> Any:
    """The platform's own ``from_settings``, imported only when its section is enabled."""
    if not getattr(settings, section).enabled:
        return None  # what every platform's from_settings answers then, without the import
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the module exists but its SDK is missing: say so
        return None
    return module.from_settings(settings)


def platform_factories() -> list[Factory]:
    """A ``from_settings`` for each platform module."""
    return [partial(_from_settings, name, section) for name, section in PLATFORM_MODULES.items()]
