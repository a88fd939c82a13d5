"""``loyalty demo``: a realistic demo chain with a year of history, then the API to try it."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from loyalty.analytics.rollups import run_rollups
from loyalty.apikeys.service import create_key
from loyalty.cli.common import console, default_program_id, open_db
from loyalty.db.base import utcnow
from loyalty.db.bootstrap import initialise
from loyalty.db.engine import Database
from loyalty.demo.console_users import demo_console_users
from loyalty.demo.generate import DEFAULT_SEED, build_demo
from loyalty.demo.summary import DemoSummary, demo_state, summarise, wipe


def demo(
    members: Annotated[int, typer.Option("--members", min=10, help="Members to create")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same chain")] = DEFAULT_SEED,
    host: Annotated[str, typer.Option(help="Address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the data and exit")] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete an earlier demo and build it again")
    ] = False,
) -> None:
    """Build a demo chain (20 stores, 5,000 members, a year of orders) and serve the API.

    If the database already holds the demo, it is served again with a fresh admin key.
    """
    db = open_db()
    initialise(db)
    if _needs_build(db, reset):
        started = time.perf_counter()
        program_id = _build(db, members, seed, utcnow())
        run_rollups(db, utcnow())  # the dashboard's daily figures, ready before serving
        console.print(f"Demo built in {time.perf_counter() - started:.1f} s.")
    else:
        program_id = default_program_id(db)
    print_summary(summarise(db, program_id, utcnow()))
    token = _admin_key(db, program_id)
    store_code, password = demo_console_users(db, program_id, utcnow())
    announce(host, port, token, password, store_code)
    if not no_serve:
        _serve(host, port)


def _needs_build(db: Database, reset: bool) -> bool:
    """Build on an empty database; rebuild a demo only when asked; never touch real data."""
    state = demo_state(db)
    if state == "other":
        console.print(
            f"[red]The database ({db.dialect}) already holds data that is not the demo's. "
            "Point LOYALTY_DATABASE_URL at an empty database for the demo.[/red]"
        )
        raise typer.Exit(2)
    if state == "demo" and reset:
        wipe(db)
        initialise(db)
        return True
    if state == "demo":
        console.print(
            "The database already holds the demo chain: serving it again with a fresh key "
            "(use --reset to build it anew)."
        )
    return state == "empty"


def _build(db: Database, members: int, seed: int, now: datetime) -> int:
    with Progress(
        TextColumn("[bold]Building the demo chain"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("planning", total=None)

        def tick(orders: int, description: str) -> None:
            bar.update(task, advance=orders, description=description)

        def planned(total: int) -> None:
            bar.update(task, total=total)

        program_id, _ = build_demo(
            db, now, members=members, seed=seed, on_progress=tick, on_plan=planned
        )
    return program_id


def print_summary(s: DemoSummary) -> None:
    table = Table("", "", title="Demo chain 禾风小馆", show_header=False)
    rows = (
        ("Stores", s.stores),
        ("Members", s.members),
        ("Orders", s.orders),
        ("Refunds", s.refunds),
        ("Points paid at the till (holds captured)", s.holds_captured),
        ("Manual adjustments", s.adjustments),
        ("Points issued", s.issued),
        ("Points redeemed", s.redeemed),
        ("Points expired", s.expired),
        ("Points outstanding", s.outstanding),
    )
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    console.print(table)
    if s.sample_phone:
        console.print(f"A busy member to look up: phone {s.sample_phone}")


def _admin_key(db: Database, program_id: int) -> str:
    with db.transaction() as session:
        name = f"demo-admin-{int(time.time())}"
        _, token = create_key(session, program_id, name, "admin", None, utcnow())
    return token


def announce(host: str, port: int, token: str, password: str = "", store_code: str = "") -> None:
    """Where to go and the key to use, printed so it cannot be missed; the key alone on the
    last line of standard output, as ``loyalty apikeys create`` does."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    console.print(
        Panel.fit(
            f"Console   {url}/console\n"
            f"Sign in   admin / {password}  (also hq, analyst; manager and clerk of "
            f"{store_code}; same password)\n"
            f"Members   {url}/m  (the SMS code is printed in this log)\n"
            f"API       {url}\nAPI docs  {url}/docs\nAdmin key {token}",
            title="Loyalty demo",
            border_style="green",
        )
    )
    console.print(f'Try: curl -H "Authorization: Bearer {token}" {url}/v1/stores', soft_wrap=True)
    typer.echo(token)


def _serve(host: str, port: int) -> None:
    import uvicorn

    console.print(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
    uvicorn.run("loyalty.api.main:app", host=host, port=port, log_level="warning")
