"""Importing the old system's members and orders from CSV: the same points the API would give,
nothing twice, bad rows set aside with their reason."""

import csv
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from loyalty.cli.main import app as cli
from loyalty.imports import orders as order_import
from loyalty.imports.csvfile import ImportFileError, load_checkpoint
from loyalty.imports.members import import_members
from loyalty.imports.orders import import_orders
from loyalty.imports.statistics import PlannerStatistics
from loyalty.imports.values import InvalidValueError, parse_time, parse_yuan
from loyalty.ledger.models import Lot
from loyalty.members.models import Identifier, Member
from loyalty.members.service import lookup
from loyalty.notifications.models import OutboxEvent
from loyalty.stores.manage import set_store_active
from loyalty.stores.service import create_store
from tests.conftest import START, assert_balanced

MEMBER_HEADER = [
    "member_ref",
    "phone",
    "name",
    "birthday",
    "gender",
    "card_no",
    "wechat_openid",
    "store_code",
    "registered_at",
]
ORDER_HEADER = ["order_id", "member_ref", "store_code", "occurred_at", "amount", "payment_method"]
MEMBERS = [
    [
        "OLD-1",
        "13800138001",
        "王小明",
        "1990-05-20",
        "男",
        "C-0001",
        "oAbc123",
        "SH001",
        "2024-01-15",
    ],
    ["OLD-2", "139 0013 8002", "李娜", "", "女", "", "", "", "2024-02-01T10:30:00+08:00"],
    ["", "13700137003", "张伟", "", "", "", "", "SH001", ""],
]
ORDERS = [
    ["P-1", "OLD-1", "SH001", "2026-02-01T12:30:00+08:00", "123.45", "wechat"],
    ["P-2", "OLD-1", "SH001", "2026-02-15", "88", "alipay"],
    ["P-3", "OLD-2", "", "2026-02-20 19:05", "0.99", "cash"],
]


def write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def add_store(session):
    create_store(
        session,
        1,
        code="SH001",
        name="上海一店",
        channel="store",
        region="上海",
        groups=[],
        now=START,
    )


@pytest.fixture
def store(session):
    add_store(session)
    session.commit()


@pytest.fixture
def members_csv(tmp_path, store):
    return write_csv(tmp_path / "members.csv", MEMBER_HEADER, MEMBERS)


@pytest.fixture
def imported(db, members_csv):
    result = import_members(db, 1, members_csv, START)
    assert (result.imported, result.skipped, result.rejected) == (3, 0, 0)
    return result


def test_members_are_imported_with_normalised_identifiers(db, session, imported):
    first = lookup(session, 1, "legacy_id", "OLD-1")
    assert (first.name, first.phone, first.gender) == ("王小明", "+8613800138001", "male")
    assert first.birthday.isoformat() == "1990-05-20"
    assert first.member_no and first.channel == "store"
    # A date alone means midnight in Shanghai.
    assert first.registered_at == datetime(2024, 1, 14, 16, 0, tzinfo=UTC)
    types = sorted(session.scalars(select(Identifier.type).where(Identifier.member_id == first.id)))
    assert types == ["card", "legacy_id", "phone", "wechat_openid"]
    assert lookup(session, 1, "phone", "13900138002").name == "李娜"
    assert lookup(session, 1, "phone", "13700137003").registered_at == START


def test_orders_earn_exactly_what_the_api_gives(db, session, api, imported, tmp_path):
    result = import_orders(db, 1, write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS), START)
    assert (result.imported, result.skipped, result.rejected) == (3, 0, 0)
    member = lookup(session, 1, "legacy_id", "OLD-1")
    assert api.points(member.id)["available"] == 123 + 88
    lot = session.scalar(select(Lot).where(Lot.source_id == "P-1"))
    assert lot.expires_at == datetime(2026, 2, 1, 4, 30, tzinfo=UTC) + timedelta(days=365)
    # The API sees the imported order as its own: the same body is a retry, same answer.
    body = api.order_body(
        member.id,
        12345,
        datetime(2026, 2, 1, 4, 30, tzinfo=UTC),
        order_id="P-1",
        store_code="SH001",
        payment_method="wechat",
    )
    retry = api.post("/v1/orders", body)
    assert retry.status_code == 201 and retry.json()["points"]["awarded"] == 123
    assert api.points(member.id)["available"] == 211
    assert_balanced(session)


def test_imported_history_tells_no_member_they_just_earned_points(
    db, session, api, imported, tmp_path
):
    import_orders(db, 1, write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS), START)
    earned = select(OutboxEvent).where(OutboxEvent.topic == "points.earned")
    assert session.scalars(earned).all() == []
    member = lookup(session, 1, "legacy_id", "OLD-1")
    api.order(member.id, 5_000, START, store_code="SH001")  # a new order is news
    assert [e.payload["points"] for e in session.scalars(earned)] == [50]


def test_a_closed_store_takes_no_new_orders_but_its_history_imports(
    db, session, api, imported, tmp_path
):
    set_store_active(session, 1, "SH001", False)
    session.commit()
    result = import_orders(db, 1, write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS), START)
    assert (result.imported, result.rejected) == (3, 0)
    member = lookup(session, 1, "legacy_id", "OLD-1")
    live = api.post("/v1/orders", api.order_body(member.id, 5_000, START, store_code="SH001"))
    assert live.status_code == 422 and live.json()["code"] == "store_inactive"
    joined = api.post("/v1/members", {"phone": "13600136001", "store_code": "SH001"})
    assert joined.status_code == 422 and joined.json()["code"] == "store_inactive"
    assert api.points(member.id)["available"] == 123 + 88
    assert_balanced(session)


def test_running_an_import_again_imports_nothing_twice(
    db, session, imported, members_csv, tmp_path
):
    orders_csv = write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS)
    import_orders(db, 1, orders_csv, START)
    assert load_checkpoint(orders_csv).rows == 3
    again = import_orders(db, 1, orders_csv, START)
    assert (again.imported, again.skipped, again.resumed_after) == (0, 3, 3)
    restarted = import_orders(db, 1, orders_csv, START, restart=True)
    assert (restarted.imported, restarted.skipped, restarted.rejected) == (0, 3, 0)
    members = import_members(db, 1, members_csv, START, restart=True)
    assert (members.imported, members.skipped) == (0, 3)
    assert session.scalar(select(Member.lifetime_earned).where(Member.name == "王小明")) == 211
    assert_balanced(session)


def test_an_interrupted_import_carries_on_where_it_stopped(
    db, session, imported, tmp_path, monkeypatch
):
    orders_csv = write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS)
    real = order_import.post_orders
    calls = []

    def failing_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(order_import, "post_orders", failing_second_time)
    with pytest.raises(RuntimeError):
        import_orders(db, 1, orders_csv, START, chunk_size=2)
    assert load_checkpoint(orders_csv).rows == 2
    result = import_orders(db, 1, orders_csv, START, chunk_size=2)
    assert (result.imported, result.skipped, result.resumed_after) == (1, 2, 2)
    assert_balanced(session)


def test_bad_rows_are_set_aside_with_a_reason_and_good_rows_import(db, session, imported, tmp_path):
    rows = [
        ["B-1", "NOBODY", "SH001", "2026-02-01", "10.00", "cash"],
        ["B-2", "OLD-1", "SH001", "2026-02-01", "-5.00", "cash"],
        ["B-3", "OLD-1", "SH001", "yesterday", "10.00", "cash"],
        ["B-4", "OLD-1", "SH001", "2026-02-01", "10.001", "cash"],
        ["B-5", "OLD-1", "NOWHERE", "2026-02-01", "10.00", "cash"],
        ["B-6", "OLD-1", "SH001", "2026-02-02", "50.00", "wechat"],
    ]
    orders_csv = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    result = import_orders(db, 1, orders_csv, START)
    assert (result.imported, result.rejected) == (1, 5)
    assert result.rejected_path == tmp_path / "orders.rejected.csv"
    rejected = read_csv(result.rejected_path)
    assert [r["order_id"] for r in rejected] == ["B-1", "B-2", "B-3", "B-4", "B-5"]
    assert list(rejected[0]) == [*ORDER_HEADER, "reason"]
    reasons = [r["reason"] for r in rejected]
    assert reasons[0].startswith("member_not_found") and "NOBODY" in reasons[0]
    assert "negative" in reasons[1]
    assert "ISO 8601" in reasons[2]
    assert "2 decimals" in reasons[3]
    assert reasons[4].startswith("unknown_store")
    assert lookup(session, 1, "legacy_id", "OLD-1").points_available == 50
    assert_balanced(session)


def test_a_member_whose_phone_is_taken_is_rejected(db, session, imported, tmp_path):
    rows = [
        ["NEW-1", "13800138001", "冒名", "", "", "", "", "", ""],
        ["NEW-2", "12345", "号码错", "", "", "", "", "", ""],
        ["NEW-3", "13600136004", "生日错", "1990-13-01", "", "", "", "", ""],
        ["NEW-4", "13600136005", "新会员", "1995-01-01", "F", "", "", "SH001", ""],
        ["NEW-5", "13600136005", "同号", "", "", "", "", "", ""],
    ]
    result = import_members(db, 1, write_csv(tmp_path / "m.csv", MEMBER_HEADER, rows), START)
    assert (result.imported, result.rejected) == (1, 4)
    reasons = {r["member_ref"]: r["reason"] for r in read_csv(result.rejected_path)}
    assert reasons["NEW-1"].startswith("identifier_taken") and "+8613800138001" in reasons["NEW-1"]
    assert reasons["NEW-2"].startswith("invalid_phone")
    assert "YYYY-MM-DD" in reasons["NEW-3"]
    assert "also on row 4" in reasons["NEW-5"]
    assert lookup(session, 1, "legacy_id", "NEW-4").gender == "female"


def test_amounts_are_converted_to_fen_exactly():
    assert parse_yuan("123.45") == 12345
    assert parse_yuan("0.1") == 10
    assert parse_yuan("¥1,024.50") == 102450
    assert parse_yuan("19.99") == 1999  # float would give 1998.9999...
    for bad in ("-1", "1.234", "abc", "1e3", ""):
        with pytest.raises(InvalidValueError):
            parse_yuan(bad)


def test_times_without_offset_are_local_to_the_program():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    assert parse_time("2026-03-01", tz, "t") == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert parse_time("2026/3/1 08:00", tz, "t") == datetime(2026, 3, 1, 0, tzinfo=UTC)
    assert parse_time("2026-03-01T08:00:00Z", tz, "t") == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_a_file_without_required_columns_exits_with_2(tmp_path):
    runner = CliRunner()
    no_amount = write_csv(tmp_path / "o.csv", ["order_id", "member_ref", "occurred_at"], [])
    result = runner.invoke(cli, ["import", "orders", str(no_amount)])
    assert result.exit_code == 2
    assert "amount" in result.output
    no_key = write_csv(tmp_path / "m.csv", ["name", "birthday"], [["王", "1990-01-01"]])
    assert runner.invoke(cli, ["import", "members", str(no_key)]).exit_code == 2
    missing = runner.invoke(cli, ["import", "members", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2


def test_the_command_reports_counts_and_exits_0_despite_rejects(db, store, tmp_path, monkeypatch):
    monkeypatch.setattr("loyalty.cli.imports.open_db", lambda: db)
    runner = CliRunner()
    members_csv = write_csv(tmp_path / "m.csv", MEMBER_HEADER, MEMBERS)
    assert runner.invoke(cli, ["import", "members", str(members_csv)]).exit_code == 0
    rows = [*ORDERS, ["P-9", "NOBODY", "", "2026-02-01", "1", ""]]
    result = runner.invoke(
        cli, ["import", "orders", str(write_csv(tmp_path / "o.csv", ORDER_HEADER, rows))]
    )
    assert result.exit_code == 0, result.output
    assert "3 imported" in result.output and "1 rejected" in result.output
    assert "o.rejected.csv" in result.output


def test_a_file_that_breaks_part_way_keeps_what_came_before(db, session, imported, tmp_path):
    unknown = [[f"X-{i}", "NOBODY", "", "2026-02-01", "1", ""] for i in range(2000)]
    path = write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS + unknown)
    with path.open("ab") as f:
        f.write(b"P-4,OLD-1,SH001,2026-02-21,\xff\xfe,cash\n")
    with pytest.raises(ImportFileError, match="cannot be read"):
        import_orders(db, 1, path, START)
    assert load_checkpoint(path).rows == 1000
    assert lookup(session, 1, "legacy_id", "OLD-1").points_available == 211


def test_planner_statistics_are_refreshed_as_the_import_grows(db):
    statistics = PlannerStatistics(db, ["orders", "points_lots"])
    first = statistics.due_at
    assert first >= 1000  # or the tables' own size, when they are bigger
    statistics.after(first - 1)
    assert statistics.due_at == first
    statistics.after(1)
    assert statistics.due_at == (2 * first if db.dialect == "postgresql" else first)


def test_lanes_import_side_by_side_and_report_in_file_order(committed_db, tmp_path):
    """Two processes post chunks at once (each its own connection); the rejects file and the
    checkpoint read as with one lane, and every point is there once."""
    with committed_db.transaction() as session:
        add_store(session)
    members_csv = write_csv(tmp_path / "members.csv", MEMBER_HEADER, MEMBERS)
    assert import_members(committed_db, 1, members_csv, START).imported == 3
    rows = [
        [f"L-{i}", "OLD-1" if i % 2 else "OLD-2", "SH001", "2026-02-01", f"{i}.00", "cash"]
        for i in range(1, 31)
    ]
    for at, bad in ((4, "NOBODY"), (17, "NOBODY"), (29, "NOBODY")):
        rows[at][1] = bad
    rows.append(list(rows[5]))  # the same order again: skipped
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    result = import_orders(committed_db, 1, path, START, lanes=2, chunk_size=3)
    assert (result.imported, result.skipped, result.rejected) == (27, 1, 3)
    assert [r["order_id"] for r in read_csv(result.rejected_path)] == ["L-5", "L-18", "L-30"]
    assert load_checkpoint(path).rows == len(rows)
    with committed_db.reader() as session:
        earned = {"OLD-1": 0, "OLD-2": 0}
        for _, ref, *_, amount, _ in rows[:30]:
            if ref in earned:
                earned[ref] += int(float(amount))
        for ref, points in earned.items():
            assert lookup(session, 1, "legacy_id", ref).points_available == points
        assert_balanced(session)
