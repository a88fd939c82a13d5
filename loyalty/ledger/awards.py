"""How an entry keeps the awards that explain its points.

Each award is stored as a row, ``[rule, points, description, description_en, rule_id,
rule_version]``, not as an object repeating those names: ten awards take 0.8 kB instead of 1.6
kB, on every earn entry, for the life of the ledger, and cost the database half as much to
write. Orders and tasks write rows; a top-up bonus or a lottery win, one award, keeps an object,
as do entries written before rows. Readers always get objects (``expand``).
"""

from __future__ import annotations

from typing import Any

FIELDS = ("rule", "points", "description", "description_en", "rule_id", "rule_version")
# An award object's keys, in the order the API has always answered them.
KEYS = ("rule_id", "rule_version", "rule", "description", "description_en", "points")
_AT = tuple((key, FIELDS.index(key)) for key in KEYS)


def expand(stored: list[Any] | None) -> list[dict[str, Any]]:
    """The awards as objects, whichever form the entry keeps."""
    return [_object(a) if isinstance(a, list) else a for a in stored or ()]


def _object(row: list[Any]) -> dict[str, Any]:
    return {key: row[i] for key, i in _AT}
