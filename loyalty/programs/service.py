"""Load and create programs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import NotFoundError
from loyalty.programs.cache import RowCache, detached_copy
from loyalty.programs.models import Program

DEFAULT_CODE = "default"


class ProgramNotFoundError(NotFoundError):
    code = "program_not_found"
    title = "Program not found"


def get_program(session: Session, program_id: int) -> Program:
    program = session.get(Program, program_id)
    if program is None:
        raise ProgramNotFoundError(f"program {program_id} does not exist")
    return program


_programs: RowCache[int, Program] = RowCache(Program)


def current_program(session: Session, program_id: int) -> Program:
    """The program, from this process's cache when it is fresh (see ``programs.cache``): for
    the hot paths (orders), which read its settings on every request. The instance belongs to
    ``session`` like a loaded one; a change to it is written as usual."""
    cached = _programs.get(session, program_id)
    if cached is None:
        program = get_program(session, program_id)
        _programs.put(session, program_id, detached_copy(program))
        return program
    return session.merge(cached, load=False)


def get_program_by_code(session: Session, code: str) -> Program | None:
    return session.scalar(select(Program).where(Program.code == code))


def ensure_program(
    session: Session, now: datetime, code: str = DEFAULT_CODE, name: str = "Default program"
) -> Program:
    """The program with this code, created with default settings if it is missing."""
    program = get_program_by_code(session, code)
    if program is None:
        program = Program(
            code=code,
            name=name,
            currency="CNY",
            timezone="Asia/Shanghai",
            earn_points=1,
            earn_per_amount=100,
            rounding="down",
            expiry_policy="rolling",
            expiry_days=365,
            expiry_years=1,
            pending_days=0,
            hold_ttl_seconds=900,
            excluded_categories=[],
            excluded_payment_methods=[],
            created_at=now,
        )
        session.add(program)
        session.flush()
    return program
