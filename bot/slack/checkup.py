"""What ``doctor`` checks on the Slack side, each problem as one line that says what is
wrong and what to do: the bot token (``auth.test``), the workspace, the approvals
and log channels (``conversations.info``: found, not archived, the bot a member),
and the configured admins (``users.info``: found, not deactivated).

Read-only: nothing is posted. ``conversations.info`` needs the ``channels:read``
scope (``groups:read`` for a private channel) and ``users.info`` needs
``users:read``; without them the check says so as a warning, since the bot itself
runs without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings

_BAD_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warning | error
    text: str


class _Unreachable(Exception):
    """Slack gave no answer (network, proxy, URL)."""


def check(settings: Settings, client: WebClient, stored_team: str | None) -> list[Finding]:
    """Every Slack-side finding, in the order an operator would fix them."""
    try:
        return _check(settings, client, stored_team)
    except _Unreachable as exc:
        return [
            Finding(
                "error",
                f"Slack could not be reached at {settings.slack_api_url} ({exc}): check the "
                "network, a proxy, or SLACK_API_URL",
            )
        ]


def _check(settings: Settings, client: WebClient, stored_team: str | None) -> list[Finding]:
    try:
        me = _call(client.auth_test)
    except SlackApiError as exc:
        error = _error(exc)
        if error in _BAD_TOKEN:
            what = (
                f"SLACK_BOT_TOKEN is not accepted by Slack ({error}): copy the Bot User OAuth "
                "Token (xoxb-…) from the app's OAuth & Permissions page, or reinstall the app "
                "if its token was revoked"
            )
        else:
            what = f"Slack refused auth.test ({error}): check SLACK_BOT_TOKEN and SLACK_API_URL"
        return [Finding("error", what)]
    team, bot = me.get("team_id"), me.get("user") or "xbooker"
    found = [Finding("ok", f"slack: token ok (bot @{bot} in workspace {team})")]
    found += _team(settings, team, stored_team)
    for variable, channel in (
        ("XBOOKER_BOT_APPROVALS_CHANNEL", settings.approvals_channel),
        ("XBOOKER_BOT_LOG_CHANNEL", settings.log_channel),
    ):
        if channel is not None:
            found.append(_channel(client, variable, channel, bot))
    found += _admins(client, settings.admins)
    return found


def _team(settings: Settings, team: str | None, stored_team: str | None) -> list[Finding]:
    if settings.slack_team_id is not None and team != settings.slack_team_id:
        return [
            Finding(
                "error",
                f"SLACK_BOT_TOKEN belongs to workspace {team}, but SLACK_TEAM_ID is "
                f"{settings.slack_team_id}: use the bot token of the workspace the bot "
                "serves, or correct SLACK_TEAM_ID",
            )
        ]
    if settings.slack_team_id is None and stored_team is not None and team != stored_team:
        return [
            Finding(
                "error",
                f"SLACK_BOT_TOKEN belongs to workspace {team}, but this database serves "
                f"workspace {stored_team} (its allow-list and requests are keyed by it): use "
                "that workspace's bot token, or point XBOOKER_BOT_DB at this workspace's "
                "database",
            )
        ]
    return []


def _channel(client: WebClient, variable: str, channel: str, bot: str) -> Finding:
    try:
        info = _call(client.conversations_info, channel=channel)["channel"]
    except SlackApiError as exc:
        error = _error(exc)
        if error == "missing_scope":
            return Finding(
                "warning",
                f"could not check {variable} {channel}: the app lacks the channels:read "
                "(groups:read for a private channel) scope: add it to the bot scopes and "
                "reinstall the app, or check the channel by hand",
            )
        if error == "channel_not_found":
            return Finding(
                "error",
                f"{variable} {channel} was not found (channel_not_found): check the channel "
                "ID (channel details, at the bottom); a private channel is found only once "
                f"the bot is in it: /invite @{bot}",
            )
        return Finding("error", f"{variable} {channel}: {_could_not(error)}")
    name = f"#{info.get('name', channel)} ({channel})"
    if info.get("is_archived"):
        return Finding(
            "error", f"{variable} {name} is archived: unarchive it, or set {variable} to another"
        )
    if not info.get("is_member"):
        if info.get("is_private"):
            return Finding(
                "error",
                f"the bot is not a member of {variable} {name}, a private channel, so it "
                f"cannot post there: invite the bot: /invite @{bot} in {name}",
            )
        return Finding(
            "warning",
            f"the bot is not a member of {variable} {name}: it can post there only through "
            f"the chat:write.public scope; invite the bot: /invite @{bot} in {name}",
        )
    return Finding("ok", f"{variable}: {name}, the bot is a member")


def _admins(client: WebClient, admins: tuple[str, ...]) -> list[Finding]:
    found: list[Finding] = []
    for user_id in admins:
        try:
            user = _call(client.users_info, user=user_id)["user"]
        except SlackApiError as exc:
            error = _error(exc)
            if error == "missing_scope":
                text = (
                    "could not check XBOOKER_BOT_ADMINS: the app lacks the users:read scope: "
                    "add it to the bot scopes and reinstall the app, or check the admins by hand"
                )
                return [*found, Finding("warning", text)]
            if error not in ("user_not_found", "invalid_user"):
                found.append(Finding("error", f"admin {user_id}: {_could_not(error)}"))
                continue
            found.append(
                Finding(
                    "error",
                    f"XBOOKER_BOT_ADMINS lists {user_id}, which Slack does not know in this "
                    f"workspace ({error}): correct or remove the ID",
                )
            )
            continue
        who = f"{user_id} (@{user.get('name', '?')})"
        if user.get("deleted"):
            found.append(
                Finding(
                    "error",
                    f"XBOOKER_BOT_ADMINS lists {who}, whose Slack account is deactivated: "
                    "remove it, and make sure another admin is configured or granted",
                )
            )
        else:
            found.append(Finding("ok", f"admin {who}: active"))
    return found


def _call(method, **kwargs) -> dict:
    """One Web API call; no answer at all becomes :class:`_Unreachable`."""
    try:
        return method(**kwargs).data
    except SlackApiError:
        raise
    except OSError as exc:
        raise _Unreachable(type(exc).__name__) from None


def _could_not(error: str) -> str:
    """For an answer that says nothing about the ID itself (rate limits, outages): no
    advice to change a setting that may well be right."""
    return f"Slack could not answer ({error}): run doctor again in a minute"


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "error")
