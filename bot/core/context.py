"""What every command runs with: who asked, from where, and the services it may use."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlite_utils

from bot.config import Settings
from bot.core import ratelimit
from bot.core.allowlist import AllowList
from bot.metrics import Metrics
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
    # "card": the request's message, which the click must come from; "home": the
    # clicker's own App Home, which Slack shows to them alone (bound by the nonce).
    surface: str = "card"


@dataclass(frozen=True)
class Invocation:
    team_id: str
    user_id: str
    text: str  # already decoded from Slack's encoding
    source: str = "slack"  # slack | console | cli | approval
    channel_id: str | None = None
    correlation: str = field(default_factory=lambda: secrets.token_hex(4))
    click: Click | None = None  # set when a card's button, not typed text, asked for this
    # When it arrived (time.monotonic): a command's latency is measured from here.
    started: float = field(default_factory=time.monotonic, compare=False, repr=False)

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
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def team_id(self) -> str:
        return self.allowlist.team_id

    def audit_in(self, db: sqlite_utils.Database, entry: audit.Entry) -> int:
        """Append inside the caller's transaction. Every audit row passes here, so this is
        also where the running command's rate-limit events join that transaction, and
        where the metrics count the row once it has committed."""
        row = audit.append(db, entry, self.settings.audit_key, self.clock())
        ratelimit.record_in(db.conn, entry, self.store.on_commit)
        self.store.on_commit(lambda: self.metrics.audited(entry))
        return row

    def audit(self, entry: audit.Entry) -> int:
        """Append in a transaction of its own (for events that change nothing else)."""
        with self.store.write() as db:
            return self.audit_in(db, entry)


@dataclass(frozen=True)
class Runtime:
    """What a command's ``run`` gets: the services, and the approval desk built on them."""

    svc: Services
    approvals: Approvals
