"""Console roles and what each may do. Every page and action checks one capability."""

from __future__ import annotations

ROLES = ("owner", "hq", "analyst", "manager", "clerk")
STORE_BOUND = frozenset({"manager", "clerk"})

_EVERYONE = frozenset(ROLES)
_STAFF = frozenset({"owner", "hq", "manager", "clerk"})
_HQ = frozenset({"owner", "hq"})
_READERS = frozenset({"owner", "hq", "analyst"})

CAPABILITIES: dict[str, frozenset[str]] = {
    "dashboard.view": frozenset({"owner", "hq", "analyst", "manager"}),
    "members.view": _EVERYONE,
    "members.adjust": frozenset({"owner", "hq", "manager"}),
    "members.merge": _HQ,
    "rules.view": _READERS,
    "rules.edit": _HQ,
    "mall.view": _READERS | {"manager"},
    "mall.edit": _HQ,
    "mall.fulfil": _STAFF,
    "counter.verify": _STAFF,
    "stores.view": _READERS | {"manager"},
    "stores.edit": _HQ,
    "apikeys.manage": frozenset({"owner"}),
    "users.manage": frozenset({"owner"}),
    "settings.view": _READERS,
    "settings.edit": frozenset({"owner"}),
    "audit.view": frozenset({"owner"}),
    "export": _EVERYONE,
}


def can(role: str, capability: str) -> bool:
    """Whether ``role`` may use ``capability`` (unknown capabilities are refused)."""
    return role in CAPABILITIES.get(capability, frozenset())
