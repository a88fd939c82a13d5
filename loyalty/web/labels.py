"""Names shown for codes stored in the database (roles, entry kinds, statuses, channels).

Each is marked for translation here and translated where it is shown (``_(label)``).
"""

from __future__ import annotations

from loyalty.web.i18n import N_

ROLE_NAMES = {
    "owner": N_("Owner"),
    "hq": N_("HQ operator"),
    "analyst": N_("Analyst"),
    "manager": N_("Store manager"),
    "clerk": N_("Clerk"),
}

CHANNEL_NAMES = {
    "store": N_("Store"),
    "online": N_("Online mall"),
    "miniprogram": N_("Mini-program"),
    "partner": N_("Partner"),
}

ENTRY_KINDS = {
    "earn": N_("Earned"),
    "redeem": N_("Redeemed"),
    "expire": N_("Expired"),
    "adjust": N_("Adjusted"),
    "reverse": N_("Reversed"),
    "merge_in": N_("Merged in"),
    "merge_out": N_("Merged out"),
    "hold": N_("Held"),
    "release": N_("Released"),
    "capture": N_("Paid with points"),
    "vest": N_("Became available"),
    "debt": N_("Debt"),
    "repay": N_("Debt repaid"),
}

MEMBER_STATUSES = {
    "active": N_("Active"),
    "frozen": N_("Frozen"),
    "merged": N_("Merged"),
}


def label(table: dict[str, str], code: str | None) -> str:
    """The English label of ``code`` (to be translated), or the code itself if unknown."""
    if code is None:
        return ""
    return table.get(code, code)
