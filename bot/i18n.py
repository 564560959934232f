"""Locale catalogues (Japanese first, English second) and text lookup."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "config" / "locales"
DEFAULT_LOCALE = "ja"
# A site's own names, written into the texts where ``{name}`` stands: towns call their policy
# section differently (``[locale] policy_section``). The catalogue's ``[terms]`` table holds
# the usual names; terms are not texts, so they are taken out of the tables.
TERMS = "terms."


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str | list[str]]:
    flat: dict[str, str | list[str]] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _with_terms(value: str | list[str], terms: Mapping[str, str]) -> str | list[str]:
    """``value`` with each ``{term}`` replaced once, at load: the text's own placeholders
    stay for ``Catalog.t``."""
    if isinstance(value, list):
        return [str(_with_terms(item, terms)) for item in value]
    for name, term in terms.items():
        value = value.replace(f"{{{name}}}", term)
    return value


def _terms(table: dict[str, str | list[str]]) -> dict[str, str]:
    """Take the ``[terms]`` entries out of ``table`` (they are names, not texts)."""
    found = {key: value for key, value in table.items() if key.startswith(TERMS)}
    for key in found:
        del table[key]
    return {key.removeprefix(TERMS): str(value) for key, value in found.items()}


class Catalog:
    """Text for every locale, looked up by dotted key with a Japanese fallback."""

    def __init__(self, tables: dict[str, dict[str, str | list[str]]], default: str) -> None:
        if default not in tables:
            raise ValueError(f"no catalogue for default locale {default!r}")
        self._tables = tables
        self.default = default

    @classmethod
    def load(
        cls,
        directory: Path = LOCALES_DIR,
        default: str = DEFAULT_LOCALE,
        terms: Mapping[str, str] | None = None,
    ) -> Catalog:
        """Every ``*.toml`` of ``directory``, with the terms written in: the site's ``terms``
        over the locale's ``[terms]`` over Japanese's."""
        tables: dict[str, dict[str, str | list[str]]] = {}
        for path in sorted(directory.glob("*.toml")):
            # ja.toml, ja.forms.toml … all belong to "ja"; one file per feature stays small.
            locale = path.stem.split(".", 1)[0]
            table = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
            clash = tables.setdefault(locale, {}).keys() & table.keys()
            if clash:
                raise ValueError(f"{path.name} repeats keys: {sorted(clash)}")
            tables[locale].update(table)
        named = {locale: _terms(table) for locale, table in tables.items()}
        for locale, table in tables.items():
            written = {**named.get(DEFAULT_LOCALE, {}), **named[locale], **(terms or {})}
            tables[locale] = {key: _with_terms(value, written) for key, value in table.items()}
        return cls(tables, default)

    @property
    def locales(self) -> list[str]:
        return list(self._tables)

    def keys(self, locale: str) -> set[str]:
        return set(self._tables[locale])

    def has(self, locale: str | None, key: str) -> bool:
        """Whether ``key`` has a text in ``locale`` or the default locale."""
        return self._raw(locale, key) is not None

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
            return text.format(**self._listed(locale, values)) if values else text
        except (KeyError, IndexError, ValueError):
            log.error("bad placeholders for locale key %s", key)
            return text

    def _listed(self, locale: str | None, values: dict[str, Any]) -> dict[str, Any]:
        """Values with each list or tuple joined by the locale's ``forms.list_separator``."""
        if not any(isinstance(value, list | tuple) for value in values.values()):
            return values
        separator = self.t(locale, "forms.list_separator")
        return {
            name: separator.join(map(str, value)) if isinstance(value, list | tuple) else value
            for name, value in values.items()
        }

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
