"""The bot's roles (not X Booker's): what each may run is a matter of rank."""

from __future__ import annotations

ROLES = ("viewer", "operator", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and RANK[role] >= RANK[needed]
