"""Daily rollup tables: what dashboards read instead of scanning the journal.

The ``rollups`` job (``loyalty.analytics.rollups``) folds every ledger entry and every new
member into these tables exactly once, in id order, remembering in ``rollup_state`` how far it
got. A reader adds the few rows beyond that watermark itself, so figures are exact at any time.

``store_id`` is ``0`` where no store is known (an online order, a merge, an adjustment by HQ):
a key column must not be NULL for the primary key to hold on both databases, so it carries no
foreign key either.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime

NO_STORE = 0


class PointsDaily(Base):
    """Points moved per local day, store and entry kind.

    Attributes:
        day: the entry's ``occurred_at`` as a date in the program's time zone.
        store_id: where it happened; an ``expire`` entry counts for the store that issued the
            expired lot, so a store sees its own breakage. ``0`` = no store.
        kind: the entry kind (``earn``, ``redeem``, ``expire``, ``adjust``, ``reverse``,
            ``merge_in``, ``merge_out``).
        points: the signed sum of the entries' points (as in the journal: redeem is negative).
        entries: how many entries.
    """

    __tablename__ = "points_daily"

    program_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("programs.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(BigInteger)


class MembersDaily(Base):
    """New members per local day of ``registered_at`` and registration store."""

    __tablename__ = "members_daily"

    program_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("programs.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    registered: Mapped[int] = mapped_column(BigInteger)


class MemberActivity(Base):
    """On which days of a month a member ordered at a store: one row per member, month, store.

    Active members over a period are a distinct count, which daily counts cannot add up to;
    this table answers it exactly for any range of days while staying far smaller than the
    journal (a member who orders weekly has one row a month, not four).

    Attributes:
        month: the first day of the local month.
        days: a bit mask, bit ``d - 1`` set when the member earned points on an order on day
            ``d`` of the month (1..31), so ``days & mask != 0`` asks "active in these days?".
    """

    __tablename__ = "member_activity"

    program_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("programs.id"), primary_key=True, autoincrement=False
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    days: Mapped[int] = mapped_column(Integer)


class RollupState(Base):
    """How far a rollup got for a program: every source row with ``id <= last_id`` is in.

    Attributes:
        name: ``entries`` (points_entries into points_daily and member_activity) or
            ``members`` (members into members_daily).
        net_points: for ``entries``, the sum of the points of every entry rolled up, so the
            points outstanding at a date need only the days after it.
    """

    __tablename__ = "rollup_state"

    program_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("programs.id"), primary_key=True, autoincrement=False
    )
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    net_points: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
