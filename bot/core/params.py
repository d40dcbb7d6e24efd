"""Typed command arguments: each kind converts one token or says what is wrong with it."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Any

from bot.core.roles import ROLES
from bot.core.text import has_hidden
from bot.xbooker.client import MEMBER_ID
from bot.xbooker.operations import MEMBER_ROLES, ORGANIZATION_FIELDS

MAX_ARGUMENT = 500
# A reason required by XBOOKER_BOT_REQUIRE_REASON says something: at least this many
# characters after trimming (the modal's field checks the same number).
REASON_MIN = 10
MAX_REASON = 500
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
PHONE = re.compile(r"^\+?[0-9 ().-]{5,30}$")
URL = re.compile(r"^https?://[^\s<>\"]{1,490}$")


class ArgumentError(ValueError):
    """A token does not fit its parameter; the message is for the user."""


@dataclass(frozen=True)
class MemberRef:
    """An email or a member id, as typed; resolved to an id against X Booker later."""

    value: str
    is_email: bool

    def __str__(self) -> str:
        return self.value


def jsonable(args: dict) -> dict:
    """Parsed arguments as plain JSON values, for storage and the audit log. They
    hold no secrets by construction: no parameter takes one."""
    return {k: (str(v) if isinstance(v, MemberRef) else v) for k, v in args.items()}


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _email(text: str) -> str:
    if len(text) > 254 or not EMAIL.fullmatch(text):
        raise ArgumentError(f"'{text}' is not an email address")
    return text


def _member(text: str) -> MemberRef:
    if "@" in text:
        return MemberRef(_email(text), True)
    if not MEMBER_ID.fullmatch(text):
        raise ArgumentError(
            f"'{text}' is neither an email nor a member id (1 to 64 letters, digits, '-' or '_')"
        )
    return MemberRef(text, False)


def _choice(options: tuple[str, ...], what: str):
    def convert(text: str) -> str:
        if text.lower() not in options:
            raise ArgumentError(f"'{text}' is not {what}; use one of: {', '.join(options)}")
        return text.lower()

    return convert


def _int(low: int, high: int, what: str):
    def convert(text: str) -> int:
        # isdigit() accepts "²" and other digits int() refuses: ASCII digits only.
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise ArgumentError(f"{what} must be a whole number from {low} to {high}, not '{text}'")
        return int(text)

    return convert


def _slack_user(text: str) -> str:
    if not SLACK_USER.fullmatch(text):
        raise ArgumentError(f"'{text}' is not a Slack user: mention them (@name) or give a U… ID")
    return text


def _one_line(text: str, what: str) -> str:
    """Typed values are one line: a line break in a name would make it show as two."""
    hidden = has_hidden(text)
    if hidden:
        raise ArgumentError(f"{what} contains a line break or invisible character ({hidden})")
    return text


def _text(limit: int):
    def convert(text: str) -> str:
        if len(text) > limit:
            raise ArgumentError(f"the text is {len(text)} characters long; at most {limit}")
        return _one_line(text, "the text")

    return convert


def _reason(text: str) -> str:
    """A reason as typed after ``reason=``: trimmed, one line, bounded. Whether one is
    required, and its minimum length then, is the parser's to check (a setting)."""
    text = text.strip()
    if not text:
        raise ArgumentError('the reason is empty: write why in reason="…", or leave it out')
    if len(text) > MAX_REASON:
        raise ArgumentError(f"the reason is {len(text)} characters long; at most {MAX_REASON}")
    return _one_line(text, "the reason")


def _field_value(field: str, value: str) -> str:
    value = _one_line(value.strip(), field)
    if not value:
        raise ArgumentError(f"{field} cannot be empty")
    if field == "email":
        return _email(value)
    if field == "timezone" and value not in _timezones():
        raise ArgumentError(f"'{value}' is not an IANA time zone such as Europe/Paris")
    if field == "website" and not URL.fullmatch(value):
        raise ArgumentError(f"'{value}' is not a web address starting with https://")
    if field == "phone" and not PHONE.fullmatch(value):
        raise ArgumentError(f"'{value}' is not a phone number")
    return value


@dataclass(frozen=True)
class Param:
    """One argument of a command. ``keyword`` ones are typed ``name=value``; a
    ``rest`` one takes every remaining word; ``fields`` takes every ``key=value``."""

    name: str
    placeholder: str
    convert: Any
    required: bool = True
    keyword: bool = False
    rest: bool = False
    fields: tuple[str, ...] = ()

    def usage(self) -> str:
        if self.fields:
            text = "<field>=<value> ..."
        elif self.keyword:
            text = f"{self.name}={self.placeholder}"
        else:
            text = self.placeholder
        return text if self.required else f"[{text}]"


def email(name: str = "email") -> Param:
    return Param(name, "<email>", _email)


def member(name: str = "member") -> Param:
    return Param(name, "<email|member-id>", _member)


def xb_role(required: bool = True) -> Param:
    return Param("role", "<role>", _choice(MEMBER_ROLES, "an X Booker role"), required)


def bot_role() -> Param:
    return Param("role", "<role>", _choice(ROLES, "a bot role"))


def slack_user() -> Param:
    return Param("user", "<@user>", _slack_user)


def request_id() -> Param:
    return Param("id", "<id>", _int(0, 10**9, "a request id"))


def org_fields() -> Param:
    return Param("fields", "", None, fields=ORGANIZATION_FIELDS)


def convert_field(field: str, value: str) -> str:
    if len(value) > MAX_ARGUMENT:
        raise ArgumentError(f"{field} is {len(value)} characters long; at most {MAX_ARGUMENT}")
    return _field_value(field, value)


def page() -> Param:
    return Param("page", "<n>", _int(1, 10000, "page"), False, keyword=True)


def last_row() -> Param:
    return Param("last", "<row id>", _int(1, 10**15, "a row id"), False, keyword=True)


def role_filter() -> Param:
    return Param("role", "<role>", _choice(MEMBER_ROLES, "an X Booker role"), False, keyword=True)


def full_name() -> Param:
    return Param("name", '"<full name>"', _text(200), False, keyword=True)


def search() -> Param:
    return Param("search", "<search text>", _text(200), False, rest=True)


def reason() -> Param:
    """The rest of the line, on the approvals commands that always took a reason."""
    return Param("reason", "<reason>", _text(MAX_REASON), False, rest=True)


def reason_option() -> Param:
    """``reason="…"`` on the other commands that change something: optional, unless the
    command is listed in XBOOKER_BOT_REQUIRE_REASON (:func:`bot.core.parser.parse`)."""
    return Param("reason", '"<why>"', _reason, False, keyword=True)


def topic() -> Param:
    return Param("topic", "<command>", _text(100), False, rest=True)


def count() -> Param:
    return Param("count", "<n>", _int(1, 200, "the number of rows"), False)


def resolution() -> Param:
    return Param("resolution", "succeeded|failed", _choice(("succeeded", "failed"), "an outcome"))
