"""The command line an operator or integrator uses (on a SQLite file of its own)."""

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from loyalty.cli.main import app
from loyalty.config import get_settings


@pytest.fixture
def cli(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result

    yield run, url
    get_settings.cache_clear()


def test_init_then_create_a_key_printed_alone_on_the_last_line(cli):
    run, _ = cli
    assert "default program" in run("init").output
    assert "Database ready" in run("init").output  # upgrading twice is harmless
    key = run("apikeys", "create", "--name", "till 1", "--role", "pos").stdout.splitlines()[-1]
    assert key.startswith("lk_") and " " not in key
    run("apikeys", "create", "--name", "x", "--role", "root", code=1)


def test_jobs_run_as_of_a_time_and_unknown_jobs_are_refused(cli):
    run, _ = cli
    run("init")
    for job in ("expire", "vest", "release-holds"):
        assert "0 rows" in run("jobs", "run", job, "--as-of", "2027-01-01T00:00:00+08:00").output
    run("jobs", "run", "nonsense", code=2)
    run("jobs", "run", "expire", "--as-of", "not a time", code=2)


def test_a_time_without_offset_is_the_program_s_local_time(cli):
    from fastapi.testclient import TestClient

    from loyalty.api.app import create_app
    from loyalty.db.engine import Database

    run, url = cli
    run("init")
    key = run("apikeys", "create", "--name", "hq").stdout.splitlines()[-1]
    db = Database(url)
    api = TestClient(create_app(db), headers={"Authorization": f"Bearer {key}"})
    member = api.post("/v1/members", json={}).json()
    order = {"order_id": "A-1", "member_id": member["id"], "amount": 5_000}
    earned = api.post("/v1/orders", json={**order, "occurred_at": "2026-03-04T02:00:00Z"}).json()
    # A year later, at 10:00 in Shanghai (02:00 UTC).
    assert earned["points"]["expires_at"] == "2027-03-04T02:00:00+00:00"
    assert "0 rows" in run("jobs", "run", "expire", "--as-of", "2027-03-04T09:59").output
    assert "1 rows, 50 points" in run("jobs", "run", "expire", "--as-of", "2027-03-04T10:00").output
    db.dispose()


def test_ledger_verify_finds_a_tampered_balance(cli):
    run, url = cli
    run("init")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO members (program_id, member_no, status, registered_at, referral_code,"
                " consents, points_available, points_pending, points_held, points_debt,"
                " lifetime_earned, lifetime_redeemed, lifetime_expired, created_at) VALUES"
                " (1, '1', 'active', '2026-01-01', 'AAAA', '{}', 0, 0, 0, 0, 0, 0, 0, '2026-01-01')"
            )
        )
    assert "no difference" in run("ledger", "verify").output
    with engine.begin() as conn:
        conn.execute(text("UPDATE members SET points_available = 5"))
    out = run("ledger", "verify", code=1).output
    assert "entries" in out and "available_lots" in out and "2 differences" in out


def test_rules_and_tiers_from_the_shell(cli, tmp_path):
    import json

    run, _ = cli
    run("init")
    rule = tmp_path / "wednesday.json"
    rule.write_text(
        json.dumps(
            {
                "name": "周三双倍积分",
                "kind": "multiplier",
                "factor": "2",
                "conditions": {"weekdays": [3]},
            }
        ),
        encoding="utf-8",
    )
    assert "Created rule 1" in run("rules", "create", str(rule), "--enable").output
    assert "enabled" in run("rules", "list").output
    assert "disabled (version 2)" in run("rules", "disable", "1").output
    out = run("rules", "backtest", "1", "--from", "2026-01-01", "--to", "2026-02-01").output
    assert "0 orders" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "kind": "multiplier", "factor": "0.5"}))
    assert "Invalid rule" in run("rules", "create", str(bad), code=1).output
    tier = tmp_path / "silver.json"
    tier.write_text(
        json.dumps(
            {
                "code": "silver",
                "name": "银卡",
                "rank": 1,
                "metric": "spend",
                "threshold": 200000,
                "window_days": 30,
                "multiplier": "1.2",
            }
        )
    )
    run("tiers", "set", str(tier))
    assert "银卡" in run("tiers", "list").output
    assert "base tier cannot be deleted" in run("tiers", "delete", "base", code=1).output
    assert "Tier silver (银卡) deleted." in run("tiers", "delete", "silver").output
    assert "银卡" not in run("tiers", "list").output


def test_the_first_owner_is_made_on_the_command_line_and_can_sign_in(cli):
    run, url = cli
    run("init")
    made = run(
        "users",
        "create",
        "--username",
        "Boss",
        "--role",
        "owner",
        "--password",
        "a long password",
    )
    assert "owner 'boss'" in made.output
    run("users", "create", "--username", "boss", "--password", "another one!", code=2)
    run(
        "users",
        "create",
        "--username",
        "c1",
        "--role",
        "clerk",
        "--password",
        "long enough",
        code=2,
    )
    run("users", "create", "--username", "x", "--password", "short", code=2)

    from loyalty.db.base import utcnow
    from loyalty.db.engine import Database
    from loyalty.users.service import authenticate

    db = Database(url)
    with db.transaction() as session:
        assert authenticate(session, 1, "BOSS", "a long password", utcnow()).role == "owner"
    db.dispose()
