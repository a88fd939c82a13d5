"""``loyalty rules`` and ``loyalty tiers``: the earning rules and tier ladder from a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from loyalty.cli.common import console, default_program_id, open_db, parse_time
from loyalty.db.base import utcnow
from loyalty.errors import LoyaltyError
from loyalty.money import yuan
from loyalty.programs.service import get_program
from loyalty.rules.backtest import backtest
from loyalty.rules.service import create_rule, get_rule, list_rules, spec_of, update_rule
from loyalty.tiers.service import delete_tier, program_tiers, save_tier

rules_app = typer.Typer(help="Earning rules.", no_args_is_help=True)
tiers_app = typer.Typer(help="Tier levels.", no_args_is_help=True)
ACTOR = "cli"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        console.print(f"[red]Cannot read {path}: {exc}[/red]")
        raise typer.Exit(2) from exc
    if not isinstance(data, dict):
        console.print("[red]The file must hold one JSON object.[/red]")
        raise typer.Exit(2)
    return data


def _fail(exc: LoyaltyError) -> typer.Exit:
    console.print(f"[red]{exc.title}: {exc.detail}[/red]")
    return typer.Exit(1)


@rules_app.command("list")
def rules_list() -> None:
    """Every rule with its status and version."""
    db = open_db()
    with db.reader() as session:
        table = Table("id", "name", "kind", "status", "version", "budget used")
        for r in list_rules(session, default_program_id(db)):
            table.add_row(str(r.id), r.name, r.kind, r.status, str(r.version), str(r.budget_used))
    console.print(table)


@rules_app.command("create")
def rules_create(
    file: Annotated[Path, typer.Argument(help="JSON rule, as for POST /v1/rules")],
    enable: Annotated[bool, typer.Option(help="Enable it at once")] = False,
) -> None:
    """Create a rule from a JSON file (validated like the API)."""
    data = _load(file)
    db = open_db()
    try:
        with db.transaction() as session:
            program = get_program(session, default_program_id(db))
            rule = create_rule(
                session,
                program,
                data,
                status="enabled" if enable else "disabled",
                active_from=None,
                active_until=None,
                actor=ACTOR,
                now=utcnow(),
            )
            console.print(f"Created rule {rule.id} ({rule.name}), {rule.status}.")
    except LoyaltyError as exc:
        raise _fail(exc) from exc


def _set_status(rule_id: int, status: str) -> None:
    db = open_db()
    try:
        with db.transaction() as session:
            program = get_program(session, default_program_id(db))
            rule = update_rule(session, program, rule_id, {"status": status}, ACTOR, utcnow())
            console.print(f"Rule {rule.id} is {rule.status} (version {rule.version}).")
    except LoyaltyError as exc:
        raise _fail(exc) from exc


@rules_app.command("enable")
def rules_enable(rule_id: int) -> None:
    """Switch a rule on."""
    _set_status(rule_id, "enabled")


@rules_app.command("disable")
def rules_disable(rule_id: int) -> None:
    """Switch a rule off."""
    _set_status(rule_id, "disabled")


@rules_app.command("backtest")
def rules_backtest(
    rule_id: int,
    start: Annotated[str, typer.Option("--from", help="Start of the period (RFC 3339)")],
    end: Annotated[str, typer.Option("--to", help="End of the period (RFC 3339)")],
) -> None:
    """What the rule would have cost over a past period of real orders."""
    db = open_db()
    with db.reader() as session:
        program = get_program(session, default_program_id(db))
        try:
            spec = spec_of(get_rule(session, program.id, rule_id))
        except LoyaltyError as exc:
            raise _fail(exc) from exc
        zone = ZoneInfo(program.timezone)
        report = backtest(session, program, spec, parse_time(start, zone), parse_time(end, zone))
    console.print(
        f"{report['orders_scanned']} orders, {report['orders_affected']} affected, "
        f"+{report['extra_points']} points = ¥{yuan(report['cost_amount'])}, "
        f"{report['members_affected']} members, {report['elapsed_ms']} ms"
    )
    table = Table("store", "extra points", "cost (¥)")
    for row in report["by_store"][:20]:
        table.add_row(row["store_code"], str(row["extra_points"]), yuan(row["cost_amount"]))
    console.print(table)


@tiers_app.command("list")
def tiers_list() -> None:
    """The tier ladder, base tier first."""
    db = open_db()
    with db.reader() as session:
        program = get_program(session, default_program_id(db))
        table = Table("rank", "code", "name", "qualify", "multiplier")
        for t in program_tiers(session, program):
            table.add_row(
                str(t.rank),
                t.code,
                t.name,
                f"{t.metric} >= {t.threshold} in {t.window_days} days",
                str(float(t.multiplier)),
            )
    console.print(table)


@tiers_app.command("set")
def tiers_set(
    file: Annotated[
        Path,
        typer.Argument(help="JSON: code, name, rank, metric, threshold, window_days, multiplier"),
    ],
) -> None:
    """Create or replace a tier from a JSON file."""
    data = _load(file)
    db = open_db()
    try:
        with db.transaction() as session:
            program = get_program(session, default_program_id(db))
            tier = save_tier(session, program, data, utcnow())
            console.print(f"Tier {tier.code} ({tier.name}) saved at rank {tier.rank}.")
    except (LoyaltyError, KeyError) as exc:
        if isinstance(exc, KeyError):
            console.print(f"[red]Missing field {exc}[/red]")
            raise typer.Exit(2) from exc
        raise _fail(exc) from exc


@tiers_app.command("delete")
def tiers_delete(code: Annotated[str, typer.Argument(help="The tier's code, e.g. silver")]) -> None:
    """Delete a tier nobody holds and no earning rule names (the base tier stays)."""
    db = open_db()
    try:
        with db.transaction() as session:
            program = get_program(session, default_program_id(db))
            tier = delete_tier(session, program, code)
            console.print(f"Tier {tier.code} ({tier.name}) deleted.")
    except LoyaltyError as exc:
        raise _fail(exc) from exc
