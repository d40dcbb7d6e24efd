"""App Home: published when its user opens it; its buttons open the forms.

``app_home_opened`` also fires for the app's Messages tab, which has nothing to
publish; and Slack may send the event again for one visit, which only costs a
second identical publish.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core import forms
from bot.core.engine import Engine
from bot.core.home import OPEN_FORM
from bot.core.registry import BY_NAME
from bot.core.replies import Reply, code
from bot.core.roles import at_least
from bot.slack.clicks import clicked
from bot.slack.direct import Direct
from bot.slack.home import HomePublisher
from bot.slack.listeners.forms import open_form

log = logging.getLogger(__name__)


def register(app: App, engine: Engine, client: WebClient, homes: HomePublisher) -> None:
    direct = Direct(client)

    def acknowledge(ack: Ack) -> None:
        ack()

    def opened(event: dict, body: dict) -> None:
        if event.get("tab") != "home":
            return
        if str(body.get("team_id") or "") != engine.svc.team_id:
            return  # another workspace's event: nothing of ours to show
        user = event.get("user")
        if isinstance(user, str) and user:
            homes.publish(user)

    def form_button(body: dict) -> None:
        c = clicked(body)
        command = c.value
        if command not in forms.FORMS or c.team_id != engine.svc.team_id:
            return
        role = engine.svc.allowlist.role_of(c.user_id)
        if not at_least(role, BY_NAME[command].role):  # the home was older than a revoke
            homes.refresh(c.user_id)
            return
        if c.trigger_id is None:
            return
        try:
            open_form(client, engine, homes, c.trigger_id, command, command, None)
        except Exception as exc:  # the trigger expired (three seconds) or Slack is away
            log.warning("could not open the %s form: %s", command, type(exc).__name__)
            direct.tell(c.user_id, _typed_instead(command))

    app.event("app_home_opened")(ack=acknowledge, lazy=[opened])
    for command in forms.FORMS:
        app.action(f"{OPEN_FORM}:{command}")(ack=acknowledge, lazy=[form_button])


def _typed_instead(command: str) -> Reply:
    usage = code("/xbooker " + BY_NAME[command].usage)
    return Reply.note(f"The form could not be opened; type it instead: {usage}")
