"""What docs/xbooker-api.md assumes, as one table: the only place to change when X Booker
publishes its real endpoint list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # relative to {base}/delegated/v1; "{id}" is a member id
    scope: str  # this project's name for the scope X Booker checks
    capability: str  # what the scope lets the app do, in words for users
    write: bool


_OPS = [
    Operation(
        "show organization",
        "GET",
        "/organization",
        "organization:read",
        "read the organization",
        False,
    ),
    Operation(
        "update organization",
        "PATCH",
        "/organization",
        "organization:write",
        "change the organization's details",
        True,
    ),
    Operation(
        "list members", "GET", "/organization/members", "members:read", "read members", False
    ),
    Operation(
        "show member", "GET", "/organization/members/{id}", "members:read", "read members", False
    ),
    Operation(
        "add member", "POST", "/organization/members", "members:write", "manage members", True
    ),
    Operation(
        "change member role",
        "PATCH",
        "/organization/members/{id}",
        "members:write",
        "manage members",
        True,
    ),
    Operation(
        "remove member",
        "DELETE",
        "/organization/members/{id}",
        "members:write",
        "manage members",
        True,
    ),
]

OPERATIONS: dict[str, Operation] = {op.name: op for op in _OPS}

ORGANIZATION_FIELDS = ("name", "email", "phone", "website", "address", "timezone")
MEMBER_ROLES = ("owner", "admin", "member")
MEMBER_STATUSES = ("active", "invited")
PAGE_LIMIT_MAX = 100
