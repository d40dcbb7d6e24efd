"""App Home: published when a user opens it, and again for the people a request
concerns whenever it changes (its requester and the bot admins who may decide it),
so no one acts on a stale list.

Publishing is a Slack call per person: it runs on the listeners' executor, never on
the thread of the command or click that changed the request (so shutdown drains
it with the rest of the work), and its failures are logged and dropped (the next
open rebuilds the home anyway).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor

from slack_sdk import WebClient

from bot.core import home
from bot.core.engine import Engine
from bot.slack.views import home_view

log = logging.getLogger(__name__)

# Admins whose homes one change refreshes: beyond this, they see it when they open it.
MAX_REFRESHED = 50
# Executor threads refreshing homes at once: the rest of the executor runs commands.
REFRESHERS = 2


class HomePublisher:
    """Publishes homes on open (at once) and refreshes them after changes (in the
    background, coalesced: a user whose home is already due for a refresh is not
    queued twice, and at most ``REFRESHERS`` executor threads work through the due
    homes, so a burst of changes costs each person one publish, not one per change,
    and never takes the threads commands need)."""

    def __init__(self, client: WebClient, engine: Engine, executor: Executor) -> None:
        self._client = client
        self._engine = engine
        self._pool = executor
        self._locks: dict[str, threading.Lock] = {}  # one per user of the workspace
        self._due: dict[str, None] = {}  # homes to refresh, oldest first
        self._refreshers = 0
        self._state = threading.Lock()
        # Shared with the organization form, whose opening must not be a way to make
        # X Booker calls past the rate limit either.
        self.organization = home.OrganizationCache(engine.svc.xbooker.organization)

    def publish(self, user_id: str) -> None:
        """Build and publish now, on the caller's thread. One user's publishes take turns,
        each built just before it is sent: an older home can never land after a newer."""
        with self._lock_of(user_id):
            try:
                engine = self._engine
                built = home.build(engine.svc, engine.approvals, user_id, self.organization)
                self._client.views_publish(user_id=user_id, view=home_view(built.blocks))
            except Exception as exc:  # see the module's docstring
                log.warning("could not publish the App Home of %s: %s", user_id, type(exc).__name__)

    def _lock_of(self, user_id: str) -> threading.Lock:
        with self._state:
            return self._locks.setdefault(user_id, threading.Lock())

    def refresh_request(self, request_id: int) -> None:
        """The homes of everyone ``request_id`` concerns are due for a refresh (called as
        each change commits, on the changing thread: two quick reads, no Slack call)."""
        request = self._engine.approvals.load(request_id)
        if request is None:
            return
        admins = self._engine.svc.allowlist.admins()[:MAX_REFRESHED]
        for user_id in dict.fromkeys([request.requester, *admins]):
            self.refresh(user_id)

    def refresh(self, user_id: str) -> None:
        with self._state:
            self._due[user_id] = None
            if self._refreshers >= REFRESHERS:
                return  # a running refresher will get to it
            self._refreshers += 1
        try:
            self._pool.submit(self._work_through)
        except RuntimeError:  # shutting down: the next open rebuilds the home anyway
            with self._state:
                self._refreshers -= 1
            log.info("not refreshing App Home: shutting down")

    def _work_through(self) -> None:
        while True:
            with self._state:
                if not self._due:
                    self._refreshers -= 1
                    return
                user_id = next(iter(self._due))
                del self._due[user_id]
            self.publish(user_id)
