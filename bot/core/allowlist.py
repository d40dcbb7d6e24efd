"""Who may do what: bot roles keyed by Slack team ID + user ID, never by name.

Bootstrap admins come from ``XBOOKER_BOT_ADMINS`` and are configuration: they
count as admins and cannot be revoked from Slack. Every change runs in one
``BEGIN IMMEDIATE`` transaction that also re-counts admins, so two concurrent
revokes cannot leave the workspace without one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from bot.core.roles import RANK, ROLES
from bot.store import Store


class AccessError(Exception):
    """A grant or revoke that the rules forbid; the text says which rule."""


@dataclass(frozen=True)
class Grant:
    user_id: str
    role: str
    granted_by: str
    granted_at: float | None
    from_config: bool = False


# Runs inside the change's transaction with the previous role: the audit row.
Hook = Callable[[sqlite_utils.Database, str | None], None]


class AllowList:
    def __init__(self, store: Store, team_id: str, config_admins: tuple[str, ...]) -> None:
        self._store = store
        self.team_id = team_id
        self.config_admins = frozenset(config_admins)

    def role_of(self, user_id: str, db: sqlite_utils.Database | None = None) -> str | None:
        """The user's bot role; pass the transaction's ``db`` to read it inside a decision,
        so that a revoke committed first always wins."""
        if user_id in self.config_admins:
            return "admin"
        return self._stored_role(db or self._store.db(), user_id)

    def role_from(self, user_id: str, stored: str | None) -> str | None:
        """The user's bot role, given their stored grant as read already (with their
        rate-limit counts, when a command is planned)."""
        return "admin" if user_id in self.config_admins else stored

    def grants(self) -> list[Grant]:
        stored = {
            r["user_id"]: Grant(r["user_id"], r["role"], r["granted_by"], r["granted_at"])
            for r in self._store.db().query(
                "SELECT * FROM grants WHERE team_id = ? ORDER BY user_id", (self.team_id,)
            )
        }
        for user in self.config_admins:
            stored[user] = Grant(user, "admin", "XBOOKER_BOT_ADMINS", None, True)
        return sorted(stored.values(), key=lambda g: (-RANK[g.role], g.user_id))

    def admins(self) -> list[str]:
        return [g.user_id for g in self.grants() if g.role == "admin"]

    def grant(self, user_id: str, role: str, by: str, hook: Hook | None = None) -> str | None:
        """Give ``user_id`` ``role``; returns the previous role. ``hook`` runs in the
        same transaction (the audit row)."""
        if role not in ROLES:
            raise AccessError("a bot role is one of " + ", ".join(ROLES))
        self._not_configured(user_id)
        with self._store.write() as db:
            previous = self._stored_role(db, user_id)
            if previous == "admin" and role != "admin":
                self._not_last_admin(db)
            db.conn.execute(
                "INSERT INTO grants (team_id, user_id, role, granted_by, granted_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO UPDATE SET "
                "role = excluded.role, granted_by = excluded.granted_by, "
                "granted_at = excluded.granted_at",
                (self.team_id, user_id, role, by, time.time()),
            )
            if hook:
                hook(db, previous)
        return previous

    def revoke(self, user_id: str, by: str, hook: Hook | None = None) -> str:
        """Remove ``user_id``'s grant; returns the role they had."""
        self._not_configured(user_id)
        with self._store.write() as db:
            previous = self._stored_role(db, user_id)
            if previous is None:
                raise AccessError(f"{user_id} has no bot role")
            if previous == "admin":
                self._not_last_admin(db)
            db.conn.execute(
                "DELETE FROM grants WHERE team_id = ? AND user_id = ?", (self.team_id, user_id)
            )
            if hook:
                hook(db, previous)
        return previous

    def _not_configured(self, user_id: str) -> None:
        if user_id in self.config_admins:
            raise AccessError(
                f"{user_id} is an admin through XBOOKER_BOT_ADMINS (configuration) and "
                "cannot be changed here; change that setting instead"
            )

    def _not_last_admin(self, db: sqlite_utils.Database) -> None:
        if self._admin_count(db) <= 1:
            raise AccessError("that would leave no bot admin: grant admin to someone else first")

    def _stored_role(self, db: sqlite_utils.Database, user_id: str) -> str | None:
        row = db.conn.execute(
            "SELECT role FROM grants WHERE team_id = ? AND user_id = ?", (self.team_id, user_id)
        ).fetchone()
        return row[0] if row else None

    def _admin_count(self, db: sqlite_utils.Database) -> int:
        stored = {
            r[0]
            for r in db.conn.execute(
                "SELECT user_id FROM grants WHERE team_id = ? AND role = 'admin'", (self.team_id,)
            )
        }
        return len(stored | self.config_admins)
