"""Which working group (部会) an issue goes to: section rules, then keywords, else policy staff."""

from __future__ import annotations

from collections.abc import Sequence

from bot.text import fold
from config.settings import WorkingGroupSettings


def route(
    groups: Sequence[WorkingGroupSettings], section: str, text: str
) -> WorkingGroupSettings | None:
    """The group for an issue from ``section`` about ``text``; None means the policy queue."""
    for group in groups:
        if fold(section) in {fold(s) for s in group.sections}:
            return group
    folded = fold(text)
    for group in groups:
        if any(fold(word) in folded for word in group.keywords):
            return group
    return None
