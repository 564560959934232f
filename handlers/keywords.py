"""Whole-message keywords from the catalogues, as patterns for ``app.message``."""

from __future__ import annotations

import re

from bot.i18n import Catalog


def keyword_pattern(catalog: Catalog, key: str) -> re.Pattern[str]:
    """Matches a message that is exactly one of the words under ``key``, in any locale."""
    words = sorted(catalog.words(key), key=len, reverse=True)
    return re.compile("^(?:" + "|".join(re.escape(w) for w in words) + ")$", re.IGNORECASE)
