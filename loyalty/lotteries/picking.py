"""The weighted pick: a pure function of the weights and a source of random integers.

Production passes ``secrets.randbelow`` (the operating system's cryptographic generator), tests
pass anything; the function itself never reads a clock or a global generator. Odds are
``weight / sum(weights)``: drop a prize that is out of stock from ``weights`` and the others'
odds re-normalise by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

RandBelow = Callable[[int], int]


class NothingToPickError(ValueError):
    """Every weight is zero (or there is none): there is no prize to give."""


@dataclass(frozen=True)
class Pick:
    """Which weight won, the random number drawn in [0, total) and the total, for the audit."""

    index: int
    random_value: int
    total_weight: int


def pick(weights: Sequence[int], randbelow: RandBelow) -> Pick:
    """Draw ``r = randbelow(total)`` and return the weight whose cumulative range holds it."""
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total <= 0:
        raise NothingToPickError("no weight to pick from")
    r = randbelow(total)
    if not 0 <= r < total:
        raise ValueError(f"random source gave {r}, outside [0, {total})")
    left = r
    for index, weight in enumerate(weights):
        if left < weight:
            return Pick(index, r, total)
        left -= weight
    raise AssertionError("unreachable: r < total")
