"""Locale catalogues (Japanese first, English second) and text lookup."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "config" / "locales"
DEFAULT_LOCALE = "ja"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str | list[str]]:
    flat: dict[str, str | list[str]] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


class Catalog:
    """Text for every locale, looked up by dotted key with a Japanese fallback."""

    def __init__(self, tables: dict[str, dict[str, str | list[str]]], default: str) -> None:
        if default not in tables:
            raise ValueError(f"no catalogue for default locale {default!r}")
        self._tables = tables
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, default: str = DEFAULT_LOCALE) -> Catalog:
        tables: dict[str, dict[str, str | list[str]]] = {}
        for path in sorted(directory.glob("*.toml")):
            # ja.toml, ja.forms.toml … all belong to "ja"; one file per feature stays small.
            locale = path.stem.split(".", 1)[0]
            table = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
            clash = tables.setdefault(locale, {}).keys() & table.keys()
            if clash:
                raise ValueError(f"{path.name} repeats keys: {sorted(clash)}")
            tables[locale].update(table)
        return cls(tables, default)

    @property
    def locales(self) -> list[str]:
        return list(self._tables)

    def keys(self, locale: str) -> set[str]:
        return set(self._tables[locale])

    def resolve(self, locale: str | None) -> str:
        return locale if locale in self._tables else self.default

    def _raw(self, locale: str | None, key: str) -> str | list[str] | None:
        for candidate in (self.resolve(locale), self.default, DEFAULT_LOCALE):
            value = self._tables.get(candidate, {}).get(key)
            if value is not None:
                return value
        return None

    def t(self, locale: str | None, key: str, /, **values: Any) -> str:
        """The text for ``key``; a missing key shows itself rather than failing the reply."""
        raw = self._raw(locale, key)
        if raw is None:
            log.error("missing locale key %s", key)
            return key
        text = "\n".join(raw) if isinstance(raw, list) else raw
        try:
            return text.format(**values) if values else text
        except (KeyError, IndexError, ValueError):
            log.error("bad placeholders for locale key %s", key)
            return text

    def words(self, key: str, locales: Iterable[str] | None = None) -> list[str]:
        """Every locale's list under ``key`` (keywords users may type in any language)."""
        found: list[str] = []
        for locale in locales or self._tables:
            value = self._tables.get(locale, {}).get(key)
            if isinstance(value, list):
                found.extend(value)
            elif isinstance(value, str):
                found.append(value)
        return found
