"""Members sign in to the mobile page with their phone and a one-time SMS code.

A code has 6 digits from ``secrets``, is stored only as a digest, lives 5 minutes and takes at
most 5 tries; a phone gets at most one code a minute and 10 a day. A phone the program does not
know yet is welcome: the first correct code registers it as a new member (a loyalty program
wants the customer standing at the counter to join in one step), so the page answers every
valid phone the same way and reveals nothing about who is a member.

A signed-in member holds a session: a random cookie token stored as its SHA-256, with its own
CSRF token. Services flush, never commit.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loyalty.errors import LoyaltyError
from loyalty.members.identifiers import normalise_phone
from loyalty.members.models import Member, MemberLoginCode, MemberSession
from loyalty.members.service import (
    Registration,
    UnknownReferralCodeError,
    find_by_identifier,
    register,
)
from loyalty.programs.models import Program
from loyalty.tasks.service import on_registration
from loyalty.tokens import digest, expired, new_session

CODE_LIFETIME = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)
CODES_PER_DAY = 10
SESSION_LIFETIME = timedelta(days=30)
SIGN_UP_CHANNEL = "online"
_DAY = timedelta(days=1)


class WrongCodeError(LoyaltyError):
    status = 401
    code = "wrong_code"
    title = "Wrong code; check the text message and try again"


class CodeExpiredError(LoyaltyError):
    status = 401
    code = "code_expired"
    title = "The code has expired; ask for a new one"


class TooManyCodeAttemptsError(LoyaltyError):
    status = 429
    code = "too_many_code_attempts"
    title = "Too many wrong codes; ask for a new one"


class CodeTooSoonError(LoyaltyError):
    status = 429
    code = "code_too_soon"
    title = "A code was just sent; wait a minute before asking again"


class DailyCodeLimitError(LoyaltyError):
    status = 429
    code = "daily_code_limit"
    title = "Too many codes for this phone today; try again tomorrow"


@dataclass(frozen=True)
class IssuedCode:
    id: int
    phone: str
    code: str


@dataclass(frozen=True)
class MemberIdentity:
    """The member behind a session cookie."""

    member_id: int
    program_id: int
    csrf_token: str


def _code_digest(phone: str, code: str) -> str:
    return digest(f"{phone}:{code}")


def code_message(code: str) -> str:
    """The text of the SMS (Chinese: it goes to a Chinese mobile number)."""
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return f"您的验证码是 {code}，{minutes} 分钟内有效，请勿告诉他人。"


def issue_code(
    session: Session, program_id: int, raw_phone: str, ip: str | None, now: datetime
) -> IssuedCode:
    """A new code for a phone, within the resend and daily limits; the caller sends it."""
    phone = normalise_phone(raw_phone)
    _check_code_limits(session, program_id, phone, now)
    code = f"{secrets.randbelow(10**6):06d}"
    row = MemberLoginCode(
        program_id=program_id,
        phone=phone,
        code_hash=_code_digest(phone, code),
        attempts=0,
        ip=(ip or "")[:45] or None,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    session.add(row)
    session.flush()
    return IssuedCode(row.id, phone, code)


def prune_sign_ins(session: Session, as_of: datetime) -> int:
    """Delete member sessions expired by ``as_of`` and codes older than the daily limit's
    window (a phone that never asks again keeps none). Returns the rows deleted."""
    gone = session.execute(delete(MemberSession).where(MemberSession.expires_at <= as_of))
    codes = session.execute(
        delete(MemberLoginCode).where(MemberLoginCode.created_at < as_of - _DAY)
    )
    return int(gone.rowcount or 0) + int(codes.rowcount or 0)  # type: ignore[attr-defined]


def _check_code_limits(session: Session, program_id: int, phone: str, now: datetime) -> None:
    mine = (MemberLoginCode.program_id == program_id) & (MemberLoginCode.phone == phone)
    session.execute(delete(MemberLoginCode).where(mine, MemberLoginCode.created_at < now - _DAY))
    latest = session.scalar(select(func.max(MemberLoginCode.created_at)).where(mine))
    if latest is not None and latest > now - RESEND_AFTER:
        raise CodeTooSoonError(f"the last code went out at {latest.isoformat()}")
    today = session.scalar(
        select(func.count(MemberLoginCode.id)).where(mine, MemberLoginCode.created_at > now - _DAY)
    )
    if (today or 0) >= CODES_PER_DAY:
        raise DailyCodeLimitError(f"{CODES_PER_DAY} codes in 24 hours")


def forget_code(session: Session, code_id: int) -> None:
    """Drop a code that could not be sent, so it neither works nor counts."""
    session.execute(delete(MemberLoginCode).where(MemberLoginCode.id == code_id))


def check_code(
    session: Session, program_id: int, raw_phone: str, code: str, now: datetime
) -> str | LoyaltyError:
    """The phone if ``code`` is its latest code, still fresh and untried too often; else the
    error. The error is returned, not raised, so the caller commits the counted attempt."""
    phone = normalise_phone(raw_phone)
    stmt = (
        select(MemberLoginCode)
        .where(MemberLoginCode.program_id == program_id, MemberLoginCode.phone == phone)
        .order_by(MemberLoginCode.created_at.desc(), MemberLoginCode.id.desc())
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return CodeExpiredError("no fresh code for this phone")
    if row.attempts >= MAX_ATTEMPTS:
        return TooManyCodeAttemptsError(f"{MAX_ATTEMPTS} wrong codes")
    row.attempts += 1
    if not hmac.compare_digest(row.code_hash, _code_digest(phone, code.strip())):
        session.flush()
        return WrongCodeError(f"{MAX_ATTEMPTS - row.attempts} tries left")
    row.used_at = now
    session.flush()
    return phone


def member_for_phone(
    session: Session, program: Program, phone: str, referral_code: str | None, now: datetime
) -> Member:
    """The member with this phone, or a new one (with the referrer, if the code is known)."""
    member = find_by_identifier(session, program.id, "phone", phone)
    if member is not None:
        return member
    reg = Registration(phone=phone, channel=SIGN_UP_CHANNEL, referral_code=referral_code or None)
    try:
        member = register(session, program.id, reg, now)
    except UnknownReferralCodeError:  # raised before anything is written
        member = register(
            session, program.id, Registration(phone=phone, channel=SIGN_UP_CHANNEL), now
        )
    on_registration(session, program, member, now)
    return member


def open_member_session(session: Session, member: Member, now: datetime) -> str:
    """A new session; returns the cookie token (stored only as its digest)."""
    session.execute(
        delete(MemberSession).where(
            MemberSession.member_id == member.id, MemberSession.expires_at <= now
        )
    )
    new = new_session(now, SESSION_LIFETIME)
    session.add(
        MemberSession(
            token_hash=new.token_hash,
            member_id=member.id,
            csrf_token=new.csrf_token,
            created_at=now,
            expires_at=new.expires_at,
        )
    )
    session.flush()
    return new.token


def identify_member(session: Session, token: str, now: datetime) -> MemberIdentity | None:
    """The member behind a cookie token (a merged account stands for its survivor)."""
    row = session.execute(
        select(MemberSession, Member)
        .join(Member, Member.id == MemberSession.member_id)
        .where(MemberSession.token_hash == digest(token))
    ).first()
    if row is None or expired(row[0].expires_at, now):
        return None
    member_session, member = row
    member_id = member.merged_into_id if member.status == "merged" else member.id
    if member_id is None:
        return None
    return MemberIdentity(member_id, member.program_id, member_session.csrf_token)


def close_member_session(session: Session, token: str) -> None:
    session.execute(delete(MemberSession).where(MemberSession.token_hash == digest(token)))
