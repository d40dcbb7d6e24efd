"""What every command runs with: who asked, from where, and the services it may use."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlite_utils

from bot.config import Settings
from bot.core.allowlist import AllowList
from bot.store import Store, audit
from bot.xbooker.client import XBookerClient

if TYPE_CHECKING:
    from bot.core.approvals import Approvals


class UserError(Exception):
    """A request that cannot go ahead for a reason the user can fix; the text says it."""


@dataclass(frozen=True)
class Click:
    """Where a button was clicked: what binds a click to the card it was posted on."""

    nonce: str
    channel_id: str | None
    message_ts: str | None


@dataclass(frozen=True)
class Invocation:
    team_id: str
    user_id: str
    text: str  # already decoded from Slack's encoding
    source: str = "slack"  # slack | console | cli | approval
    channel_id: str | None = None
    correlation: str = field(default_factory=lambda: secrets.token_hex(4))
    click: Click | None = None  # set when a card's button, not typed text, asked for this

    @property
    def actor(self) -> str:
        return self.user_id

    def entry(self, action: str, outcome: str, detail: dict) -> audit.Entry:
        """An audit entry for something this user did, from where they did it."""
        return audit.Entry(
            self.actor, self.source, action, outcome, self.team_id, self.channel_id, detail
        )


@dataclass
class Services:
    settings: Settings
    store: Store
    allowlist: AllowList
    xbooker: XBookerClient
    clock: Callable[[], float] = time.time

    @property
    def team_id(self) -> str:
        return self.allowlist.team_id

    def audit_in(self, db: sqlite_utils.Database, entry: audit.Entry) -> int:
        """Append inside the caller's transaction."""
        return audit.append(db, entry, self.settings.audit_key, self.clock())

    def audit(self, entry: audit.Entry) -> int:
        """Append in a transaction of its own (for events that change nothing else)."""
        with self.store.write() as db:
            return self.audit_in(db, entry)


@dataclass(frozen=True)
class Runtime:
    """What a command's ``run`` gets: the services, and the approval desk built on them."""

    svc: Services
    approvals: Approvals
