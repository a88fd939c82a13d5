"""The daily rollups behind the dashboard: they agree with the journal, whatever happened."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from loyalty.analytics import rollups
from loyalty.analytics.models import MemberActivity, MembersDaily, PointsDaily, RollupState
from loyalty.analytics.queries import Period, dashboard, store_activity
from loyalty.analytics.rollups import run_rollups, settled_horizon
from loyalty.db.engine import Database
from loyalty.jobs.registry import JOBS
from loyalty.ledger.jobs import expire_lots
from loyalty.ledger.models import Entry
from loyalty.ledger.queries import points_summary
from loyalty.members.models import Member
from loyalty.programs.models import Program
from loyalty.stores.models import Store
from tests.conftest import START, assert_balanced
from tests.factories import Api, key_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = START.astimezone(SHANGHAI).date()
SUMMARY_KEYS = (
    "issued",
    "redeemed",
    "expired",
    "adjusted",
    "reversed",
    "outstanding",
    "liability_amount",
    "redemption_rate",
    "breakage_rate",
)


def a_year_at_two_stores(api: Api, db, session: Session) -> dict[str, int]:
    """Orders at two stores over a year, an expiry, points paid at the till, a manual
    adjustment, a refund and a merge: every kind of entry the journal knows."""
    api.store("SH001"), api.store("SH002")
    till = Api(api.client, key_for(session, "pos", "SH001"))
    a = api.member(store_code="SH001")["id"]
    b = api.member(store_code="SH002")["id"]
    c = api.member()["id"]
    api.order(a, 100_000, START - timedelta(days=400), store_code="SH001", order_id="OLD")
    api.order(a, 20_000, START - timedelta(days=2), store_code="SH001", order_id="A2")
    api.order(b, 30_000, START - timedelta(days=1), store_code="SH002", order_id="B1")
    api.order(c, 5_000, START, store_code="SH002", order_id="C1")
    api.order(c, 7_000, START - timedelta(days=40), store_code="SH001", order_id="C0")
    expire_lots(db.transaction, START, START)  # OLD's 1,000 points, dated when they were due
    hold = till.hold(a, 80).json()
    assert till.post(f"/v1/points/holds/{hold['id']}/capture").status_code == 200
    api.ok("/v1/points/adjustments", {"member_id": b, "points": 10, "reason": "补录小票"}, 201)
    assert api.refund("B1", "R-B1", 15_000).status_code == 201
    assert api.post(f"/v1/members/{b}/merge", {"source_member_id": c}).status_code == 200
    assert_balanced(session)
    return {"a": a, "b": b, "c": c}


def program(session: Session) -> Program:
    found = session.get(Program, 1)
    assert found is not None
    session.refresh(found)
    return found


def journal_by_day(session: Session) -> dict[tuple[date, str], int]:
    """The journal itself, summed per local day and kind, the slow way."""
    sums: dict[tuple[date, str], int] = defaultdict(int)
    for e in session.scalars(select(Entry).where(Entry.program_id == 1)):
        sums[(e.occurred_at.astimezone(SHANGHAI).date(), e.kind)] += e.points
    return dict(sums)


def rollup_by_day(session: Session) -> dict[tuple[date, str], int]:
    sums: dict[tuple[date, str], int] = defaultdict(int)
    for row in session.scalars(select(PointsDaily).where(PointsDaily.program_id == 1)):
        sums[(row.day, row.kind)] += row.points
    return dict(sums)


def rollup_contents(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    rows: list[tuple[object, ...]] = []
    for model in (PointsDaily, MembersDaily, MemberActivity, RollupState):
        for obj in session.scalars(select(model)):
            values = {c.key: getattr(obj, c.key) for c in model.__table__.columns}
            values.pop("updated_at", None)
            rows.append((model.__tablename__, *sorted(values.items())))
    return sorted(rows, key=repr)


def board_summary(session: Session, period: Period) -> dict[str, object]:
    board = dashboard(session, program(session), period, None)
    return {k: board.summary[k] for k in SUMMARY_KEYS}


def journal_summary(session: Session, period: Period) -> dict[str, object]:
    start, end = period.bounds("Asia/Shanghai")
    found = points_summary(session, program(session), start, end)
    return {k: found[k] for k in SUMMARY_KEYS}


PERIODS = (
    Period.ending(TODAY),
    Period.ending(TODAY - timedelta(days=1), 7),
    Period(TODAY - timedelta(days=450), TODAY),
    Period(TODAY - timedelta(days=60), TODAY - timedelta(days=30)),
)


def test_the_rollups_add_up_to_the_journal_after_every_kind_of_entry(api, db, session):
    a_year_at_two_stores(api, db, session)
    result = run_rollups(db, START)
    assert result.rows == session.query(Entry).count()
    assert rollup_by_day(session) == journal_by_day(session)
    state = session.scalars(select(RollupState).where(RollupState.name == "entries")).one()
    assert state.net_points == sum(journal_by_day(session).values())


def test_the_dashboard_agrees_with_the_points_summary_before_and_after_the_job(api, db, session):
    a_year_at_two_stores(api, db, session)
    for period in PERIODS:  # nothing rolled up yet: the journal's tail is everything
        assert board_summary(session, period) == journal_summary(session, period)
    run_rollups(db, START)
    for period in PERIODS:
        assert board_summary(session, period) == journal_summary(session, period)
    member = api.member()["id"]  # more happens after the job: rollups + tail
    api.order(member, 12_300, START, store_code="SH002", order_id="LATE")
    expire_lots(db.transaction, START + timedelta(days=400), START)
    for period in PERIODS:
        assert board_summary(session, period) == journal_summary(session, period)


def test_running_the_job_twice_changes_nothing(api, db, session):
    a_year_at_two_stores(api, db, session)
    run_rollups(db, START)
    first = rollup_contents(session)
    again = run_rollups(db, START + timedelta(minutes=1))
    assert (again.rows, again.members) == (0, 0)
    assert rollup_contents(session) == first


def test_small_chunks_fold_the_same_figures(api, db, session, monkeypatch):
    a_year_at_two_stores(api, db, session)
    run_rollups(db, START)
    whole = rollup_contents(session)
    for model in (PointsDaily, MembersDaily, MemberActivity, RollupState):
        session.query(model).delete()
    monkeypatch.setattr(rollups, "CHUNK_IDS", 2)
    run_rollups(db, START)
    assert rollup_contents(session) == whole


def test_the_job_is_registered_for_the_worker(api, db, session):
    a_year_at_two_stores(api, db, session)
    job, description = JOBS["rollups"]
    assert "rollups" in description
    result = job(db, START, START, None)
    assert result.rows > 0 and result.members == 3


def test_a_store_sees_its_own_points_and_the_breakage_of_points_it_issued(api, db, session):
    a_year_at_two_stores(api, db, session)
    stores = {s.code: s.id for s in session.scalars(select(Store))}
    period = Period(TODAY - timedelta(days=450), TODAY)
    before = dashboard(session, program(session), period, frozenset({stores["SH001"]}))
    run_rollups(db, START)
    after = dashboard(session, program(session), period, frozenset({stores["SH001"]}))
    for board in (before, after):
        s = board.summary
        # SH001: OLD 1,000 + A2 200 + C0 70 issued; 80 paid at its till; OLD's 1,000 expired.
        assert (s["issued"], s["redeemed"], s["expired"]) == (1270, 80, 1000)
        assert s["outstanding"] is None and s["liability_amount"] is None
        assert s["breakage_rate"] == round(1000 / 1270, 4)
        assert [f.code for f in board.store_figures] == ["SH001"]
    sh002 = dashboard(session, program(session), period, frozenset({stores["SH002"]}))
    assert (sh002.summary["issued"], sh002.summary["reversed"]) == (350, 150)
    nothing = dashboard(session, program(session), period, frozenset())
    assert nothing.summary["issued"] == 0 and nothing.new_members == 0


def test_new_and_active_members_are_counted_once_per_period(api, db, session):
    ids = a_year_at_two_stores(api, db, session)
    stores = {s.code: s.id for s in session.scalars(select(Store))}
    week = Period.ending(TODAY, 7)
    for run in (False, True):
        if run:
            run_rollups(db, START)
        board = dashboard(session, program(session), week, None)
        # a (A2), b (B1) and c (C1) ordered this week; c's refund and merge change nothing.
        assert board.active_members == 3
        assert board.new_members == 3
        sh001 = dashboard(session, program(session), week, frozenset({stores["SH001"]}))
        assert (sh001.active_members, sh001.new_members) == (1, 1)
        quarter = dashboard(session, program(session), Period.ending(TODAY, 90), None)
        assert quarter.active_members == 3  # c ordered twice, at two stores: one member
        active = store_activity(session, program(session), Period.ending(TODAY, 90), None)
        assert {code: active[i] for code, i in stores.items()} == {"SH001": 2, "SH002": 2}
        old = dashboard(
            session, program(session), Period.ending(TODAY - timedelta(days=35), 10), None
        )
        assert old.active_members == 1  # only c's order C0, forty days ago
    assert ids["c"] in {m.id for m in session.scalars(select(Member))}


def test_active_members_follow_the_days_of_the_month_exactly(api, db, session):
    api.store("SH001")
    member = api.member()["id"]
    ordered_on = datetime(2026, 1, 31, 4, 0, tzinfo=UTC)  # 31 January, Shanghai
    api.order(member, 1_000, ordered_on, store_code="SH001")
    run_rollups(db, START)
    p = program(session)
    assert (
        dashboard(session, p, Period(date(2026, 1, 31), date(2026, 2, 2)), None).active_members == 1
    )
    assert (
        dashboard(session, p, Period(date(2026, 1, 1), date(2026, 1, 30)), None).active_members == 0
    )
    assert (
        dashboard(session, p, Period(date(2026, 2, 1), date(2026, 2, 28)), None).active_members == 0
    )
    assert (
        dashboard(session, p, Period(date(2025, 12, 1), date(2026, 3, 1)), None).active_members == 1
    )


def test_days_are_local_days_even_where_clocks_change(api, db, session):
    p = program(session)
    p.timezone = "Europe/Berlin"
    session.flush()
    member = api.member()["id"]
    api.order(member, 1_000, datetime(2025, 3, 29, 23, 30, tzinfo=UTC), order_id="WINTER")
    api.order(member, 2_000, datetime(2025, 3, 30, 22, 30, tzinfo=UTC), order_id="SUMMER")
    run_rollups(db, START)
    days = {(r.day, r.points) for r in session.scalars(select(PointsDaily))}
    # 00:30 on the 30th in winter time (UTC+1); 00:30 on the 31st in summer time (UTC+2).
    assert days == {(date(2025, 3, 30), 10), (date(2025, 3, 31), 20)}


def test_a_new_program_has_an_empty_dashboard(db, session):
    run_rollups(db, START)
    board = dashboard(session, program(session), Period.ending(TODAY), None)
    assert board.empty and board.summary["issued"] == 0 and board.summary["outstanding"] == 0
    assert board.summary["redemption_rate"] == 0.0 and board.tiers == []


def _count(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_concurrent_runs_fold_each_entry_once(committed_db, monkeypatch):
    from loyalty.ledger.operations import adjust

    with committed_db.transaction() as s:
        p = s.get(Program, 1)
        assert p is not None
        members = []
        for n in range(5):
            m = Member(
                program_id=1,
                member_no=f"9000{n}",
                status="active",
                registered_at=START,
                referral_code=f"RC{n}",
                consents={},
                created_at=START,
            )
            s.add(m)
            members.append(m)
        s.flush()
        for n in range(40):
            adjust(s, p, members[n % 5].id, 10 + n, "补录", None, "test", START)
    monkeypatch.setattr(rollups, "CHUNK_IDS", 3)
    threads = [threading.Thread(target=run_rollups, args=(committed_db, START)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _count(committed_db, "SELECT SUM(points) FROM points_daily") == sum(
        10 + n for n in range(40)
    )
    assert _count(committed_db, "SELECT SUM(entries) FROM points_daily") == 40
    assert _count(committed_db, "SELECT SUM(registered) FROM members_daily") == 5


def test_the_job_waits_for_writers_still_open(committed_db):
    if committed_db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: what is committed is final")
    with committed_db.engine.connect() as other:
        other.execute(text("SELECT txid_current()"))  # a transaction that could still write
        assert settled_horizon(committed_db, wait=0.2) is None
    assert settled_horizon(committed_db, wait=0.2) is not None


def test_members_per_day_match_the_members_table(api, db, session):
    api.store("SH001")
    for n in range(4):
        api.member(store_code="SH001", registered_at=(START - timedelta(days=n)).isoformat())
    run_rollups(db, START)
    rolled = Counter({r.day: r.registered for r in session.scalars(select(MembersDaily))})
    direct = Counter(
        m.registered_at.astimezone(SHANGHAI).date() for m in session.scalars(select(Member))
    )
    assert rolled == direct
