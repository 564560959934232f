"""Fuzzy matching of a typed name against a known list (e.g. 所属課)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from bot.text import fold


def closest(typed: str, names: Sequence[str], cutoff: float = 0.6) -> str | None:
    """The one known name that ``typed`` most likely means, or None.

    "市民" finds "市民課" (containment), "しみん課" does not guess; a typo such as
    "税務果" finds "税務課" (similarity). Ambiguous containment gives no answer.
    """
    key = fold(typed)
    if not key:
        return None
    folded = {fold(name): name for name in names}
    containing = [name for f, name in folded.items() if key in f or f in key]
    if len(containing) == 1:
        return containing[0]
    pool = list(folded) if not containing else [fold(n) for n in containing]
    found = difflib.get_close_matches(key, pool, n=2, cutoff=cutoff)
    if len(found) == 1 or (found and _clearly_best(key, found)):
        return folded[found[0]]
    return None


def _clearly_best(key: str, found: list[str]) -> bool:
    scores = [difflib.SequenceMatcher(None, key, f).ratio() for f in found]
    return scores[0] - scores[1] >= 0.1
