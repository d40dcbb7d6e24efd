"""Typed views of X Booker's Organization and Member objects.

Parsing is strict about what the bot relies on and lenient about the rest: a
missing optional field becomes empty, an unknown field is ignored, but a member
without an id or a role we cannot show is a malformed answer, not a crash later.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.xbooker.errors import TransportError


def _text(obj: dict, key: str, operation: str, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise TransportError(f"X Booker's answer has no usable {key}", 200, operation)
    return value


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    email: str
    phone: str
    website: str
    address: str
    timezone: str
    created_at: str
    updated_at: str

    @classmethod
    def parse(cls, data: dict, operation: str) -> Organization:
        org = data.get("organization", data)
        if not isinstance(org, dict):
            raise TransportError("X Booker's answer has no organization", 200, operation)
        t = lambda k, r=False: _text(org, k, operation, r)  # noqa: E731
        return cls(
            t("id", True),
            t("name"),
            t("email"),
            t("phone"),
            t("website"),
            t("address"),
            t("timezone"),
            t("createdAt"),
            t("updatedAt"),
        )


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    email: str
    role: str
    status: str
    joined_at: str | None

    @classmethod
    def parse(cls, member: object, operation: str) -> Member:
        if not isinstance(member, dict):
            raise TransportError("X Booker's answer has no member", 200, operation)
        joined = member.get("joinedAt")
        return cls(
            id=_text(member, "id", operation, True),
            name=_text(member, "name", operation),
            email=_text(member, "email", operation),
            role=_text(member, "role", operation, True),
            status=_text(member, "status", operation),
            joined_at=joined if isinstance(joined, str) else None,
        )


@dataclass(frozen=True)
class MemberPage:
    members: tuple[Member, ...]
    page: int
    limit: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit)) if self.limit else 1

    @classmethod
    def parse(cls, data: dict, operation: str) -> MemberPage:
        raw = data.get("members")
        numbers = [data.get(k) for k in ("page", "limit", "total")]
        if not isinstance(raw, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers
        ):
            raise TransportError("X Booker's member list is malformed", 200, operation)
        members = tuple(Member.parse(item, operation) for item in raw)
        return cls(members, numbers[0], numbers[1], numbers[2])
