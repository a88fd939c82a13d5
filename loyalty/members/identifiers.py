"""Identifier types and normalisation (phone numbers through ``phonenumbers``)."""

from __future__ import annotations

import re

import phonenumbers

from loyalty.errors import InvalidRequestError
from loyalty.members.models import IDENTIFIER_TYPES

PLATFORM_TYPE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
VALUE = re.compile(r"^[\w\-.:@+=/]{1,128}$")


class InvalidPhoneError(InvalidRequestError):
    code = "invalid_phone"
    title = "Invalid phone number"


class InvalidIdentifierError(InvalidRequestError):
    code = "invalid_identifier"
    title = "Invalid identifier"


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 form of a phone number, read as ``region``'s when it has no country code."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneError(f"{raw!r} is not a phone number", field="phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneError(f"{raw!r} is not a valid phone number", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_identifier(type_: str, value: str) -> tuple[str, str]:
    """Check an identifier's type and value; phone numbers come back in E.164."""
    if type_ not in IDENTIFIER_TYPES and not PLATFORM_TYPE.match(type_):
        raise InvalidIdentifierError(
            f"identifier type {type_!r}: use one of {', '.join(IDENTIFIER_TYPES)} or a platform "
            "name of lowercase letters, digits and underscores",
            field="type",
        )
    if type_ == "phone":
        return type_, normalise_phone(value)
    value = value.strip()
    if not VALUE.match(value):
        raise InvalidIdentifierError(f"identifier value {value!r} is not allowed", field="value")
    return type_, value
