"""The whole bot wired for a test: simulator, fake Slack, store, engine and Bolt app."""

from __future__ import annotations

import itertools
import json
import time

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.config import load_settings
from bot.core.context import Invocation
from bot.runtime import engine as build_engine
from bot.runtime import xbooker_client
from bot.slack.app import DrainingExecutor, build_app, resolve_team_id, web_client
from bot.slack.notifier import SlackNotifier
from bot.store import Store
from tests.fake_slack import FakeSlack
from tests.helpers import CREDS, fast_retry
from tests.slack_requests import command_body, sign

SIGNING_SECRET = "test-signing-secret-123"
TEAM = "T0TEAM"
ADMIN, ADMIN2, OPERATOR, VIEWER, NOBODY = "UADMIN1", "UADMIN2", "UOPER1", "UVIEW1", "UNOBODY"
CHANNEL, APPROVALS = "C0GENERAL", "C0APPROVALS"


def settings_env(sim_url: str, slack: FakeSlack, db: str, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-0000-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "XBOOKER_BASE_URL": sim_url,
        "XBOOKER_ORGANIZATION_ID": CREDS.organization_id,
        "XBOOKER_CLIENT_ID": CREDS.client_id,
        "XBOOKER_CLIENT_SECRET": CREDS.client_secret.reveal(),
        "XBOOKER_BOT_DB": db,
        "XBOOKER_BOT_ADMINS": ADMIN,
        "XBOOKER_BOT_APPROVALS_CHANNEL": APPROVALS,
        **extra,
    }


class World:
    def __init__(
        self,
        sim_server,
        slack: FakeSlack,
        tmp_path,
        client_options=None,
        busy_timeout: float | None = None,
        **env: str,
    ) -> None:
        self.sim_server, self.sim, self.slack = sim_server, sim_server.simulator, slack
        self.env = settings_env(sim_server.url, slack, str(tmp_path / "bot.db"), **env)
        self.settings = load_settings(self.env)
        store_options = {"busy_timeout": busy_timeout} if busy_timeout else {}
        self.store = Store(self.settings.db_path, **store_options)
        options = {"retry": fast_retry(), **(client_options or {})}
        self.client = xbooker_client(self.settings, self.store, **options)
        self.web = web_client(self.settings)
        self.team = resolve_team_id(self.settings, self.store, self.web)
        self.engine = build_engine(
            self.settings, self.store, self.team, self.client, SlackNotifier(self.web)
        )
        self.approvals = self.engine.approvals
        self.executor = DrainingExecutor()
        self.app = build_app(self.settings, self.engine, client=self.web, executor=self.executor)
        self._urls = itertools.count(1)
        allow = self.engine.svc.allowlist
        allow.grant(ADMIN2, "admin", "setup")
        allow.grant(OPERATOR, "operator", "setup")
        allow.grant(VIEWER, "viewer", "setup")

    def close(self) -> None:
        self.executor.drain(10)
        # Work the drained work handed on (App Home refreshes) must end before the store
        # closes: SQLite connections closed under a running query crash the process.
        self.executor.shutdown(wait=True)
        self.client.close()
        self.store.close()

    def dispatch(self, body: str, headers: dict | None = None) -> BoltResponse:
        headers = sign(SIGNING_SECRET, body) if headers is None else headers
        return self.app.dispatch(BoltRequest(body=body, headers=headers))

    def command(
        self, text: str, user: str = ADMIN, team: str = TEAM, channel: str = CHANNEL
    ) -> tuple[BoltResponse, str]:
        """Send a signed slash command; returns Bolt's response and its response_url path."""
        name = f"c{next(self._urls)}"
        body = command_body(text, user, team, channel, self.slack.response_url(name))
        return self.dispatch(body), f"/response/{name}"

    def ask(self, text: str, user: str = ADMIN, **kw) -> dict:
        """The reply a user sees: the ack body if it had one, else the response_url post."""
        response, path = self.command(text, user, **kw)
        assert response.status == 200, response.body
        if response.body:
            return json.loads(response.body)
        return self.wait_response(path)

    def wait_response(self, path: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got, payload in list(self.slack.responses):
                if got == path:
                    return payload
            time.sleep(0.005)
        raise AssertionError(f"no response posted to {path}")

    def handle(self, text: str, user: str = ADMIN):
        """Straight through the core, as the console does."""
        return self.engine.handle(Invocation(self.team, user, text, source="console"))


def everything(payload: dict) -> str:
    """All text a payload would show or notify with, for escaping assertions."""
    return json.dumps(payload)


def click(
    world: World,
    request_id: int,
    user: str,
    action: str = "approval_approve",
    name: str | None = None,
    *,
    value: str | None = None,
    ts: str | None = None,
    team: str = TEAM,
) -> tuple[BoltResponse, str]:
    """A signed Approve/Reject click on the request's card, as Slack sends it: the
    button's value and the channel and ts of the message it is on (overridable, to
    click a card that is not the request's own)."""
    from tests.slack_requests import action_body

    request = world.approvals.load(request_id)
    if value is None:
        value = f"{request_id}:{request.nonce}" if request else f"{request_id}:{'0' * 32}"
    if ts is None:
        ts = (request.message_ts if request else None) or "1.0001"
    path = f"/response/{name or f'click{next(world._urls)}'}"
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": team, "username": user.lower()},
        "team": {"id": team, "domain": "acme"},
        "api_app_id": "A0XBOOKER",
        "token": "deprecated",
        "trigger_id": f"{next(world._urls)}.123.abc",
        "container": {"type": "message", "message_ts": ts, "channel_id": APPROVALS},
        "channel": {"id": APPROVALS, "name": "approvals"},
        "message": {"ts": ts, "text": "Approval request"},
        "response_url": world.slack.url + path,
        "actions": [
            {
                "action_id": action,
                "block_id": f"approval-{request_id}",
                "value": value,
                "type": "button",
                "action_ts": "1.1",
            }
        ],
    }
    return world.dispatch(action_body(payload)), path
