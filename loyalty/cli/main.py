"""``loyalty``: the command line."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from loyalty.apikeys.models import ROLES
from loyalty.apikeys.service import create_key
from loyalty.cli.common import (
    console,
    default_program_id,
    open_db,
    parse_time,
    program_zone,
)
from loyalty.cli.rules import rules_app, tiers_app
from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.errors import LoyaltyError
from loyalty.jobs.registry import JOBS
from loyalty.ledger.jobs import JobResult
from loyalty.ledger.verify import verify
from loyalty.members.models import Member
from loyalty.runtime import tune_gc
from loyalty.users.permissions import ROLES as USER_ROLES
from loyalty.users.service import create_user
from loyalty.wallet.verify import verify_wallets

app = typer.Typer(help="Member loyalty points engine (会员积分系统).", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys.", no_args_is_help=True)
ledger_app = typer.Typer(help="The points ledger.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(ledger_app, name="ledger")
users_app = typer.Typer(help="Console users.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@app.command()
def init() -> None:
    """Create or upgrade the database and the default program."""
    from loyalty.db.bootstrap import initialise

    db = open_db()
    program_id = initialise(db)
    console.print(f"Database ready ({db.dialect}); default program id {program_id}.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one, printed)")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL in production: one per core)")
    ] = 1,
) -> None:
    """Serve the API (docs at /docs). With several workers, each has its own listening
    socket, so the kernel spreads connections over them (``loyalty.api.serve``)."""
    import uvicorn

    from loyalty.api.serve import APP, reuse_port
    from loyalty.api.serve import serve as serve_workers

    def ready(bound: int) -> None:
        console.print(f"Serving on http://{host}:{bound} (API docs: http://{host}:{bound}/docs)")

    if reuse_port():
        try:
            serve_workers(host, port, workers, ready)
        except OSError as exc:  # the port is taken, or the address is not this machine's
            console.print(f"[red]Cannot listen on {host}:{port}: {exc.strerror or exc}[/red]")
            raise typer.Exit(1) from exc
        return
    ready(port)
    uvicorn.run(APP, host=host, port=port, workers=workers, log_level="warning", access_log=False)


@jobs_app.command("run")
def run_job(
    name: Annotated[str, typer.Argument(help=", ".join(JOBS))],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="RFC 3339 time; without an offset, the program's local time; default now",
        ),
    ] = None,
) -> None:
    """Run one job now, as of a time (safe to run twice or concurrently)."""
    if name not in JOBS:
        console.print(f"[red]Unknown job {name!r}; jobs: {', '.join(JOBS)}[/red]")
        raise typer.Exit(2)
    db = open_db()
    result = _run(db, name, parse_time(as_of, program_zone(db)))
    console.print(f"{name}: {result.rows} rows, {result.points} points, {result.members} members")


def _run(db: Database, name: str, as_of_time: datetime) -> JobResult:
    job, _ = JOBS[name]
    tune_gc()
    with Progress(
        TextColumn(f"[bold]{name}"),
        BarColumn(),
        TextColumn("{task.completed} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(name, total=None)
        return job(db, as_of_time, utcnow(), lambda r: bar.advance(task, r.rows))


@app.command()
def worker(
    interval: Annotated[int, typer.Option(help="Seconds between rounds")] = 60,
    rounds: Annotated[int, typer.Option(help="Stop after this many rounds (0 = forever)")] = 0,
) -> None:
    """Run every job in a loop (the scheduler)."""
    db, done = open_db(), 0
    while rounds == 0 or done < rounds:
        for name in JOBS:
            result = _run(db, name, utcnow())
            if result.rows:
                console.print(f"{name}: {result.rows} rows, {result.points} points")
        done += 1
        if rounds == 0 or done < rounds:
            time.sleep(interval)


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key")],
    role: Annotated[str, typer.Option("--role", help=" | ".join(ROLES))] = "admin",
    store: Annotated[str | None, typer.Option("--store", help="Bind a till key to a store")] = None,
) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    db = open_db()
    program_id = default_program_id(db)
    with db.transaction() as session:
        key, token = create_key(session, program_id, name, role, store, utcnow())
        console.print(
            f"Created {key.role} key {key.name!r} (id {key.id}). Store it now: "
            "it is not shown again."
        )
    typer.echo(token)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option("--username", help="Sign-in name")],
    role: Annotated[str, typer.Option("--role", help=" | ".join(USER_ROLES))] = "owner",
    store: Annotated[
        list[str] | None, typer.Option("--store", help="Store code (managers and clerks)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name shown in the console")] = None,
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password"),
    ] = "",
) -> None:
    """Create a console user (the first one is usually the owner)."""
    db = open_db()
    program_id = default_program_id(db)
    try:
        with db.transaction() as session:
            user = create_user(
                session, program_id, username, password, role, utcnow(), name, store or []
            )
            console.print(f"Created {user.role} {user.username!r}: sign in at /console.")
    except LoyaltyError as exc:
        console.print(f"[red]{exc.title}: {exc.detail}[/red]")
        raise typer.Exit(2) from exc


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Prove cached balances = sum of entries = sum of open lots (+ debt) for every member,
    and every stored value balance = its journal."""
    db = open_db()
    with db.reader() as session:
        problems = verify(session) + verify_wallets(session)
        members = session.scalar(select(func.count()).select_from(Member))
    if not problems:
        console.print(f"[green]Ledger balances: {members} members checked, no difference.[/green]")
        return
    table = Table("member", "check", "cached", "actual")
    for p in problems[:200]:
        table.add_row(str(p.member_id), p.check, str(p.cached), str(p.actual))
    console.print(table)
    console.print(f"[red]{len(problems)} differences.[/red]")
    raise typer.Exit(1)


def _register_bench() -> None:
    from loyalty.bench.command import bench

    app.command("bench")(bench)


_register_bench()


def _register_demo_and_import() -> None:
    from loyalty.cli.demo import demo
    from loyalty.cli.imports import imports_app

    app.command("demo")(demo)
    app.add_typer(imports_app, name="import")


_register_demo_and_import()


app.add_typer(rules_app, name="rules")
app.add_typer(tiers_app, name="tiers")
