"""The points journal, the lots it creates, and holds.

The journal (``points_entries``) is append-only: rows are inserted, never updated or deleted;
a correction is a new entry. Lots and holds are the working state the journal explains.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime

ENTRY_KINDS = ("earn", "redeem", "expire", "adjust", "reverse", "merge_in", "merge_out")


class Entry(Base):
    """One immutable movement of points.

    Attributes:
        kind: ``earn`` (credit from an order or event), ``redeem`` (spent: a captured hold or a
            redemption), ``expire`` (a lot ran out of time), ``adjust`` (manual, signed, with a
            reason), ``reverse`` (a refund taking back earned points), ``merge_in`` /
            ``merge_out`` (balance moved between two accounts of one person).
        points: signed integer; the sum over a member equals available + pending + held.
        occurred_at: business time (the order's time, the as-of of a job).
        recorded_at: when the row was written.
        source_type / source_id: what caused it (``order``/order id, ``refund``/refund id,
            ``hold``/hold id, ``adjustment``, ``job``/job name, ``merge``/member id).
        store_id / channel: where it happened, when known.
        description: a sentence for the member's history.
        breakdown: for earned points, the rules that produced each point (rule, version,
            description, points), adding up to ``points``.
        lot_id: the lot this entry created (earn). Expiries written before one entry covered
            all of a member's lots due together name the one lot they closed.
        expires_at: for an earn, when its lot expires; for an expiry, the latest expiry of
            the lots it closed.
        actor: who did it (API key name, console user, job).

    Only ``member_id`` is a foreign key. Programs and stores are never deleted (a store is
    deactivated), and every writer takes their ids from rows it has just read; a key on them
    made PostgreSQL lock the program's one row for every entry written, and each concurrent
    writer then shared that lock with all the others (a multixact): half of what writing an
    earn cost the database. The same holds for lots, orders, the outbox and idempotency keys.
    """

    __tablename__ = "points_entries"
    __table_args__ = (
        Index("ix_points_entries_member", "member_id", "id"),
        Index("ix_points_entries_program_time", "program_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(BigInteger)  # no key: see ``Entry``
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(255))
    breakdown: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    lot_id: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str | None] = mapped_column(String(64))


class Lot(Base):
    """Points earned together, spent and expired together.

    Attributes:
        points: what the earn credited (after repaying any debt).
        remaining: not yet spent, held, reversed or expired. Never negative.
        state: ``pending`` (inside the return window until ``available_at``) or ``available``.
        expires_at: when what remains expires; ``None`` = never. Spending takes the soonest first.
        store_id: the store of the earn that created it (a copy of its entry's, no key to keep
            earning cheap), so its expiry counts for the store that issued the points.
        source_type / source_id: the order (or other source) that earned it, so a refund can take
            back exactly this lot first.
    """

    __tablename__ = "points_lots"
    __table_args__ = (
        Index("ix_points_lots_member", "member_id", "state", "expires_at"),
        Index("ix_points_lots_source", "program_id", "source_type", "source_id"),
        Index(
            "ix_points_lots_pending",
            "available_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        # No index names ``remaining``, and pages keep room: so spending and expiring a lot
        # rewrite it in place on its page without touching an index (PostgreSQL's HOT
        # update). Expiring a lot went from 11 to 2 µs of the database's time. The expiry job
        # finds its lots through ``Member.lots_expire_from`` instead of an index of open lots.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(BigInteger)  # no key: see ``Entry``
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    source_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(10))
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    store_id: Mapped[int | None] = mapped_column(BigInteger)


class Allocation(Base):
    """Points taken from a lot by a spend, a reversal or a hold.

    A hold's allocations are ``released_at`` when it is voided or captured (the captured part
    becomes a ``redeem`` entry's allocation); the rest are a permanent record of which lot paid,
    so a cancellation can give points back with their original expiry.
    """

    __tablename__ = "points_allocations"
    __table_args__ = (
        Index("ix_points_allocations_entry", "entry_id"),
        Index("ix_points_allocations_hold", "hold_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("points_lots.id"))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    hold_id: Mapped[int | None] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Hold(Base):
    """Points reserved at the till (积分抵现): captured (in part) or voided, or timed out."""

    __tablename__ = "points_holds"
    __table_args__ = (
        Index(
            "ix_points_holds_open",
            "expires_at",
            postgresql_where=text("status = 'held'"),
            sqlite_where=text("status = 'held'"),
        ),
        Index("ix_points_holds_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    captured_points: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="held")
    reference: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
