"""Set-based seeding statements, one ``INSERT ... SELECT`` per chunk of generated ids.

PostgreSQL generates the ids with ``generate_series``, SQLite with a recursive CTE; the few
other expressions that differ (padding, time arithmetic, JSON) come from ``Dialect``. Row ``g``
of every table is a pure function of ``g``, so a chunk is ``:lo`` to ``:hi`` and nothing else.

Entry ``g`` (and its lot ``g``) belongs to member ``(g - 1) % :members + 1``, earns
``1 + g % 200`` points, happened ``g % 360`` days (and ``g % 86400`` seconds) before ``:t0`` and
expires 365 days after that: each member gets ~10 lots spread over the past year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MEMBER = "((g - 1) % :members + 1)"
POINTS = "(1 + g % 200)"
AGE_SECONDS = "((g % 360) * 86400 + g % 86400)"
EXPIRY_DAYS = 365


@dataclass(frozen=True)
class Dialect:
    name: str

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def source(self) -> tuple[str, str]:
        """(prefix, FROM clause) yielding one row per ``g`` from ``:lo`` to ``:hi``."""
        if self.postgres:
            return "", "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS s(g)"
        return (
            "WITH RECURSIVE s(g) AS (SELECT :lo UNION ALL SELECT g + 1 FROM s WHERE g < :hi)",
            "s",
        )

    def pad(self, expr: str, width: int) -> str:
        if self.postgres:
            return f"lpad(CAST({expr} AS TEXT), {width}, '0')"
        return f"substr('{'0' * width}' || {expr}, -{width}, {width})"

    def at(self, seconds_before: str, days_after: int = 0) -> str:
        """``:t0`` minus ``seconds_before`` seconds plus ``days_after`` days."""
        if self.postgres:
            return (
                f"(CAST(:t0 AS timestamptz) - ({seconds_before}) * interval '1 second'"
                f" + interval '{days_after} days')"
            )
        return (
            f"(strftime('%Y-%m-%d %H:%M:%S', :t0, '-' || ({seconds_before}) || ' seconds', "
            f"'+{days_after} days') || '.000000')"
        )

    def json(self, expr: str) -> str:
        return f"CAST({expr} AS json)" if self.postgres else expr

    def t0(self, when: datetime) -> object:
        """``:t0`` as the driver should bind it (SQLite keeps UTC text)."""
        utc = when.astimezone(UTC)
        return utc if self.postgres else utc.strftime("%Y-%m-%d %H:%M:%S")


def luhn(expr: str) -> str:
    """The check digit ``members.service.member_number`` appends, as SQL arithmetic."""
    terms = []
    for k in range(9):
        digit = f"(({expr} / {10**k}) % 10)"
        doubled = f"(2 * {digit} - CASE WHEN {digit} >= 5 THEN 9 ELSE 0 END)"
        terms.append(doubled if k % 2 == 0 else digit)
    return f"((10 - ({' + '.join(terms)}) % 10) % 10)"


def members(d: Dialect) -> str:
    prefix, source = d.source()
    member_no = f"{d.pad('g', 9)} || CAST({luhn('g')} AS TEXT)"
    return f"""{prefix}
    INSERT INTO members (id, program_id, member_no, name, phone, status, registered_at,
        store_id, channel, referral_code, consents, points_available, points_pending,
        points_held, points_debt, lifetime_earned, lifetime_redeemed, lifetime_expired,
        created_at)
    SELECT g, :program_id, {member_no}, 'Bench member ' || CAST(g AS TEXT),
        '+86139' || {d.pad("g", 8)}, 'active', {d.at("g % 31536000 + 31536000")},
        :store_id, 'store', 'B' || {d.pad("g", 9)}, {d.json("'{}'")}, 0, 0, 0, 0, 0, 0, 0,
        {d.at("0")}
    FROM {source}"""


def identifiers(d: Dialect, kind: str) -> str:
    """Phone (id ``2g - 1``) or card (id ``2g``) identifiers of member ``g``."""
    prefix, source = d.source()
    if kind == "phone":
        value, offset = "'+86139' || " + d.pad("g", 8), 1
    else:
        value, offset = "'C' || " + d.pad("g", 9), 0
    return f"""{prefix}
    INSERT INTO member_identifiers (id, program_id, member_id, type, value, created_at)
    SELECT 2 * g - {offset}, :program_id, g, '{kind}', {value}, {d.at("0")}
    FROM {source}"""


def entries(d: Dialect) -> str:
    prefix, source = d.source()
    breakdown = (
        '\'[{"rule": "base_rate", "description": "seed", "points": \' || '
        f"CAST({POINTS} AS TEXT) || '}}]'"
    )
    return f"""{prefix}
    INSERT INTO points_entries (id, program_id, member_id, kind, points, occurred_at,
        recorded_at, source_type, source_id, store_id, channel, description, breakdown,
        lot_id, expires_at)
    SELECT g, :program_id, {MEMBER}, 'earn', {POINTS}, {d.at(AGE_SECONDS)},
        {d.at(AGE_SECONDS)}, 'order', 'seed-' || CAST(g AS TEXT), :store_id, 'store',
        '订单 seed-' || CAST(g AS TEXT) || ' 消费积分', {d.json(breakdown)}, g,
        {d.at(AGE_SECONDS, EXPIRY_DAYS)}
    FROM {source}"""


def lots(d: Dialect) -> str:
    prefix, source = d.source()
    return f"""{prefix}
    INSERT INTO points_lots (id, program_id, member_id, entry_id, source_type, source_id,
        points, remaining, state, earned_at, available_at, expires_at, store_id)
    SELECT g, :program_id, {MEMBER}, g, 'order', 'seed-' || CAST(g AS TEXT), {POINTS},
        {POINTS}, 'available', {d.at(AGE_SECONDS)}, NULL, {d.at(AGE_SECONDS, EXPIRY_DAYS)},
        :store_id
    FROM {source}"""


BALANCES = """
    UPDATE members SET points_available = t.total, lifetime_earned = t.total,
        orders_count = t.n, last_order_at = t.last, lots_expire_from = t.soonest
    FROM (SELECT e.member_id, SUM(e.points) AS total, COUNT(*) AS n,
                 MAX(e.occurred_at) AS last, MIN(e.expires_at) AS soonest
          FROM points_entries AS e GROUP BY e.member_id) AS t
    WHERE members.id = t.member_id"""

SERIAL_TABLES = ("members", "member_identifiers", "points_entries", "points_lots")


def reset_sequence(table: str) -> str:
    """PostgreSQL: move the id sequence past the ids the seed chose."""
    return (
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
    )
