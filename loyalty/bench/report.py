"""The benchmark's answer: every figure measured, beside its target, passed or failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Target:
    """``value >= bound`` (throughput) or, with ``below``, ``value < bound`` (latency)."""

    bound: float
    below: bool = False
    label: str = ""

    def text(self, unit: str) -> str:
        if self.label:
            return self.label
        return f"{'<' if self.below else '≥'} {number(self.bound)} {unit}"

    def met(self, value: float) -> bool:
        return value < self.bound if self.below else value >= self.bound


@dataclass(frozen=True)
class Figure:
    """One measured number. Without a target it is shown for information.

    ``sound`` is false when the measurement itself went wrong (errors answered, ledger
    differences): such a figure fails whatever its value. ``per_ceiling`` figures are orders/s
    shown as a multiple of the database's raw ceiling for one earn transaction.
    """

    name: str
    value: float | None
    unit: str
    target: Target | None = None
    note: str = ""
    sound: bool = True
    per_ceiling: bool = False

    def verdict(self) -> str:
        if self.value is None:
            return "[yellow]n/a[/yellow]"
        if not self.sound:
            return "[red]FAIL[/red]"
        if self.target is None:
            return "[dim]info[/dim]"
        return "[green]pass[/green]" if self.target.met(self.value) else "[red]FAIL[/red]"

    def failed(self) -> bool:
        return "FAIL" in self.verdict()


@dataclass
class Report:
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ceiling: float | None = None

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)


def number(value: float) -> str:
    if float(value).is_integer() or value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def _ratio(figure: Figure, ceiling: float | None) -> str:
    if not figure.per_ceiling or not ceiling or figure.value is None:
        return ""
    return f"{figure.value / ceiling:.2f}×"


def render(report: Report, console: Console) -> None:
    table = Table(title=report.title, title_justify="left", show_lines=False)
    table.add_column("measurement")
    table.add_column("target", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("result", justify="center")
    table.add_column("vs DB ceiling", justify="right")
    table.add_column("notes", overflow="fold")
    for f in report.figures:
        measured = "—" if f.value is None else f"{number(f.value)} {f.unit}"
        target = f.target.text(f.unit) if f.target else ""
        table.add_row(f.name, target, measured, f.verdict(), _ratio(f, report.ceiling), f.note)
    console.print(table)
    for note in report.notes:
        console.print(f"  • {note}")
    failed = sum(1 for f in report.figures if f.failed())
    judged = sum(1 for f in report.figures if f.target is not None or not f.sound)
    colour = "red" if failed else "green"
    console.print(f"[{colour}]{judged - failed} of {judged} checks passed.[/{colour}]")
