"""What every command needs: the database and the default program."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from loyalty.config import get_settings
from loyalty.db.engine import Database
from loyalty.programs.service import DEFAULT_CODE, get_program_by_code

console = Console(stderr=True)


def open_db() -> Database:
    settings = get_settings()
    return Database(settings.database_url, pool_size=settings.db_pool_size)


def default_program_id(db: Database, code: str = DEFAULT_CODE) -> int:
    with db.reader() as session:
        program = get_program_by_code(session, code)
        if program is None:
            console.print(f"[red]No program {code!r}: run 'loyalty init' first.[/red]")
            raise typer.Exit(2)
        return program.id


def program_zone(db: Database, code: str = DEFAULT_CODE) -> tzinfo:
    """The program's time zone (UTC before ``loyalty init`` made one)."""
    with db.reader() as session:
        program = get_program_by_code(session, code)
        return ZoneInfo(program.timezone) if program is not None else UTC


def parse_time(value: str | None, zone: tzinfo = UTC) -> datetime:
    """An RFC 3339 time; without an offset it is local to ``zone`` (a date alone: its local
    midnight), as an operator in Shanghai means "2027-01-01"; none means now."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
