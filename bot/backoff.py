"""When to try a failed delivery again."""

from __future__ import annotations

import random


def retry_delay(
    attempts: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the next try: exponential with "equal jitter", or the platform's word.

    ``attempts`` counts tries made so far (1 after the first failure). A ``Retry-After``
    from the platform wins, because trying sooner only earns another 429.
    """
    if retry_after is not None:
        return min(retry_after, cap)
    ceiling = min(cap, base * float(2 ** max(0, attempts - 1)))
    jitter: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter
