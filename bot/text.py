"""Tolerant reading of what staff type: full-width digits, spaces and symbols."""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    """NFKC-fold (１→1, ＃→#, full-width space→space), collapse spaces, strip."""
    folded = unicodedata.normalize("NFKC", text)
    return " ".join(folded.split())


def fold(text: str) -> str:
    """``normalize`` and lower-case: for comparing keywords and labels."""
    return normalize(text).casefold()
