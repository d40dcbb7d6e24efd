"""Assembling the core from settings: the same wiring for serve, socket, console and demo."""

from __future__ import annotations

from bot.config import Settings, require
from bot.core import logline
from bot.core.allowlist import AllowList
from bot.core.approvals import Approvals, Notifier, Unposted
from bot.core.context import Services
from bot.core.engine import Engine
from bot.store import Store
from bot.xbooker.client import XBookerClient


def stored_team_id(store: Store) -> str | None:
    row = store.query_one("SELECT value FROM meta WHERE key = 'slack_team_id'")
    return row["value"] if row else None


def xbooker_client(settings: Settings, store: Store, **options) -> XBookerClient:
    require(settings, "XBOOKER_CLIENT_SECRET")
    assert settings.credentials is not None
    return XBookerClient(settings.xbooker_base_url, settings.credentials, store, **options)


def engine(
    settings: Settings,
    store: Store,
    team_id: str,
    client: XBookerClient,
    notifier: Notifier | None = None,
) -> Engine:
    """The core for one workspace; without a notifier, requests are approved by typing.
    A refresh-token re-issue is recorded in the audit log (and so in the log channel)."""
    services = Services(settings, store, AllowList(store, team_id, settings.admins), client)
    client.tokens.on_reissue.append(
        lambda generation: services.audit(logline.reissue_entry(team_id, generation))
    )
    return Engine(services, Approvals(services, notifier or Unposted()))
