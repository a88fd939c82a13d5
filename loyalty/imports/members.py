"""``loyalty import members``: members from the old system, written a chunk at a time.

Columns (only ``member_ref`` or ``phone`` is required):

========== ==============================================================================
member_ref the old system's member id, kept as identifier ``legacy_id`` (how orders find it)
phone      mobile number; Chinese numbers may omit +86; stored in E.164
name       up to 80 characters
birthday   YYYY-MM-DD
gender     male / female / other (also 男/女, M/F, WeChat's 1/2; 0 or blank = unknown)
card_no    membership card number, identifier ``card``
wechat_openid  identifier ``wechat_openid``
store_code the registration store (must exist); its channel becomes the member's channel
registered_at  ISO 8601; a date alone is local midnight, no offset means local time
========== ==============================================================================

Members are inserted set-based (two statements a chunk) rather than through ``register``
one by one: same normalisation, same uniqueness of identifiers (checked for the chunk in one
query, and enforced by the unique index), but no registration rewards, referral rewards or
welcome notifications for members who joined years ago.
A row whose ``member_ref`` (or, without one, ``phone``) is already known is skipped: it was
imported before. A row whose other identifiers belong to someone else is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from loyalty.db.engine import Database
from loyalty.imports.csvfile import Row, describe
from loyalty.imports.lookup import LEGACY_ID, Pair, Target, holders, load_target
from loyalty.imports.runner import (
    ChunkOutcome,
    ImportFile,
    ImportResult,
    Progress,
    run_import,
    write_chunk,
)
from loyalty.imports.statistics import PlannerStatistics
from loyalty.imports.values import InvalidValueError, parse_date, parse_gender, parse_time
from loyalty.members.identifiers import normalise_identifier, normalise_phone
from loyalty.members.models import Identifier, Member
from loyalty.members.service import IdentifierTakenError, member_number, new_referral_code
from loyalty.stores.service import UnknownStoreError

COLUMNS = (
    "member_ref",
    "phone",
    "name",
    "birthday",
    "gender",
    "card_no",
    "wechat_openid",
    "store_code",
    "registered_at",
)
REQUIRED = (("member_ref", "phone"),)
CHUNK = 1000
FUTURE_TOLERANCE = timedelta(hours=24)
ZERO_POINTS = dict.fromkeys(
    (
        "points_available",
        "points_pending",
        "points_held",
        "points_debt",
        "lifetime_earned",
        "lifetime_redeemed",
        "lifetime_expired",
    ),
    0,
)


@dataclass(frozen=True)
class MemberRow:
    """A valid row: ``key`` is the identifier a re-run recognises it by."""

    row: Row
    key: Pair
    identifiers: list[Pair]
    profile: dict[str, Any] = field(default_factory=dict)


def import_members(
    db: Database,
    program_id: int,
    path: Path,
    now: datetime,
    *,
    restart: bool = False,
    chunk_size: int = CHUNK,
    on_progress: Progress | None = None,
) -> ImportResult:
    """Import a members CSV; see the module docstring for its columns."""
    source = ImportFile.open(path, REQUIRED)
    with db.reader() as session:
        target = load_target(session, program_id)
    statistics = PlannerStatistics(db, (Member.__tablename__, Identifier.__tablename__))
    return run_import(
        source,
        lambda chunk: _chunk(db, target, chunk, now),
        chunk_size=chunk_size,
        restart=restart,
        on_progress=on_progress,
        on_chunk=lambda outcome: statistics.after(outcome.imported),
    )


def _chunk(db: Database, target: Target, chunk: list[Row], now: datetime) -> ChunkOutcome:
    """Parse, then write in one transaction; a unique-index race retries the chunk."""
    return write_chunk(
        db,
        chunk,
        lambda row: parse_member(row, target, now),
        lambda session, parsed, out: _write(session, target, parsed, now, out),
    )


def parse_member(row: Row, target: Target, now: datetime) -> MemberRow:
    """Check and normalise one row, or raise a ``LoyaltyError`` that says what is wrong."""
    ref, phone = row.get("member_ref"), row.get("phone")
    if not ref and not phone:
        raise InvalidValueError("member_ref or phone is required")
    pairs = [normalise_identifier(LEGACY_ID, ref)] if ref else []
    e164 = normalise_phone(phone) if phone else None
    if e164:
        pairs.append(("phone", e164))
    for column, type_ in (("card_no", "card"), ("wechat_openid", "wechat_openid")):
        value = row.get(column)
        if value:
            pairs.append(normalise_identifier(type_, value))
    return MemberRow(row, pairs[0], pairs, {"phone": e164, **_profile(row, target, now)})


def _profile(row: Row, target: Target, now: datetime) -> dict[str, Any]:
    name, code = row.get("name"), row.get("store_code")
    if name and len(name) > 80:
        raise InvalidValueError("name is longer than 80 characters", field="name")
    store = target.stores.get(code) if code else None
    if code and store is None:
        raise UnknownStoreError(f"store {code!r} does not exist", field="store_code")
    return {
        "name": name,
        "birthday": _optional(row, "birthday", lambda v: parse_date(v, _today(now), "birthday")),
        "gender": _optional(row, "gender", parse_gender),
        "store_id": store.id if store else None,
        "channel": store.channel if store else None,
        "registered_at": _registered_at(row, target, now),
    }


def _optional(row: Row, column: str, parse: Any) -> Any:
    value = row.get(column)
    return parse(value) if value else None


def _today(now: datetime) -> date:
    return (now + FUTURE_TOLERANCE).date()


def _registered_at(row: Row, target: Target, now: datetime) -> datetime:
    value = row.get("registered_at")
    if not value:
        return now
    at = parse_time(value, target.tz, "registered_at")
    if at > now + FUTURE_TOLERANCE:
        raise InvalidValueError(f"registered_at {value!r} is in the future", field="registered_at")
    return at


def _write(
    session: Session, target: Target, parsed: list[MemberRow], now: datetime, out: ChunkOutcome
) -> ChunkOutcome:
    """Skip rows already imported, reject rows clashing with anyone, insert the rest."""
    taken = holders(session, target.program_id, (p for m in parsed for p in m.identifiers))
    claimed: dict[Pair, int] = {}
    fresh: list[MemberRow] = []
    for m in parsed:
        if m.key in taken:
            out.skipped += 1
            continue
        clash = _clash(m, taken, claimed)
        if clash:
            out.reject(m.row, clash)
            continue
        claimed.update(dict.fromkeys(m.identifiers, m.row.number))
        fresh.append(m)
    _insert(session, target.program_id, fresh, now)
    out.imported += len(fresh)
    return out


def _clash(m: MemberRow, taken: dict[Pair, Any], claimed: dict[Pair, int]) -> str | None:
    for pair in m.identifiers:
        holder = taken.get(pair)
        if holder is not None:
            error = IdentifierTakenError(
                f"{pair[0]} {pair[1]} belongs to member {holder.member_no}"
            )
            return describe(error)
        if pair in claimed:
            return describe(
                IdentifierTakenError(f"{pair[0]} {pair[1]} is also on row {claimed[pair]}")
            )
    return None


def _insert(session: Session, program_id: int, fresh: list[MemberRow], now: datetime) -> None:
    """Members with their numbers, then their identifiers: two multi-row statements."""
    if not fresh:
        return
    ids = new_member_ids(session, len(fresh))
    rows = [_member_row(program_id, i, m, now) for i, m in zip(ids, fresh, strict=True)]
    # render_nulls: every row has the same columns, so they share one statement.
    session.execute(insert(Member).execution_options(render_nulls=True), rows)
    session.execute(
        insert(Identifier),
        [
            {"program_id": program_id, "member_id": i, "type": t, "value": v, "created_at": now}
            for i, m in zip(ids, fresh, strict=True)
            for t, v in m.identifiers
        ],
    )


def new_member_ids(session: Session, count: int) -> list[int]:
    """Ids for new members, taken before the insert so each row carries its member number.

    PostgreSQL: from the id sequence. SQLite: after the highest id, which is safe because a
    writing transaction holds the database's write lock from its first statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(Member.__tablename__, "id")
        numbers = func.generate_series(1, count)
        return list(session.scalars(select(func.nextval(sequence)).select_from(numbers)))
    top = session.scalar(select(func.max(Member.id))) or 0
    return list(range(top + 1, top + 1 + count))


def _member_row(program_id: int, member_id: int, m: MemberRow, now: datetime) -> dict[str, Any]:
    return {
        "id": member_id,
        "member_no": member_number(member_id),
        "program_id": program_id,
        **m.profile,
        "status": "active",
        "referral_code": new_referral_code(),
        "consents": {},
        "created_at": now,
        **ZERO_POINTS,
    }
