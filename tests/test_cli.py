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
