"""Forms: opening them (from a typed command without its arguments, or a home button)
and their submissions (a command form, or a rejection's reason).

A submission is checked in the ack, field by field, so that errors come back on the
right field (``response_action: errors``), and planned there (parse and allow-list:
local reads) like a typed command; the lazy listener then executes the plan and
answers where the form was opened. Nothing here decides anything the engine does
not: a form is another way to type.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core import forms, render
from bot.core.context import Click, Invocation
from bot.core.engine import Engine
from bot.core.parser import ParseError, parse
from bot.core.text import has_hidden
from bot.slack.clicks import REQUEST_VALUE
from bot.slack.direct import Direct
from bot.slack.home import HomePublisher
from bot.slack.plans import Plans
from bot.slack.views import FORM, REJECT_REASON, form_modal, metadata, submitted

log = logging.getLogger(__name__)
MAX_ERROR = 150  # characters Slack shows under a field


def _key(body: dict) -> str:
    view = body.get("view") or {}
    return f"{view.get('id')}|{(body.get('user') or {}).get('id')}"


def _actor(body: dict) -> tuple[str, str]:
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    team = body.get("team") if isinstance(body.get("team"), dict) else {}
    return str(team.get("id") or user.get("team_id") or ""), str(user.get("id") or "")


def _errors(problems: dict[str, str]) -> dict:
    return {
        "response_action": "errors",
        "errors": {name: text[:MAX_ERROR] for name, text in problems.items()},
    }


def open_form(
    client: WebClient,
    engine: Engine,
    homes: HomePublisher,
    trigger_id: str,
    command: str,
    typed: str,
    channel: str | None,
) -> None:
    """Open ``command``'s form at once (a trigger lasts three seconds); ``org update``'s
    current values are filled in afterwards, from the organization as App Home last read
    it (at most 30 s old: a value shown stale and left alone is not sent, so it cannot
    undo a newer change; and opening forms is no way round the rate limit)."""
    form = forms.for_command(command, typed, engine.svc.settings.require_reason)
    loading = command == "org update"
    opened = client.views_open(trigger_id=trigger_id, view=form_modal(form, channel, loading))
    if not loading:
        return
    view = opened.get("view") or {}
    try:
        org = homes.organization()
        current = {f.name: getattr(org, f.name, "") or "" for f in form.fields}
        form = forms.with_current(form, current).with_values(forms.prefill(form, typed))
    except Exception as exc:  # the form still works, with no values shown
        log.warning("could not read the organization for its form: %s", type(exc).__name__)
    try:  # the hash makes Slack refuse it if the user got there first (say, submitted)
        client.views_update(
            view_id=view.get("id"), hash=view.get("hash"), view=form_modal(form, channel)
        )
    except Exception as exc:  # the form is open already: it stays usable as it is
        log.info("did not fill in the organization form: %s", type(exc).__name__)


def register(app: App, engine: Engine, client: WebClient, homes: HomePublisher) -> None:
    plans = Plans()
    direct = Direct(client)

    def check_form(ack: Ack, body: dict) -> None:
        view = body.get("view") or {}
        meta = metadata(view)
        command = meta.get("command")
        if command not in forms.FORMS:  # not a form of ours: close it, change nothing
            log.warning("a form submission named no form of ours")
            ack()
            return
        form = forms.for_command(command, "", engine.svc.settings.require_reason)
        initial = meta.get("initial") if isinstance(meta.get("initial"), dict) else {}
        form = form.with_values({k: str(v) for k, v in initial.items() if isinstance(v, str)})
        values = submitted(view)
        problems = forms.check(form, values)
        team, user = _actor(body)
        if problems:
            ack(**_errors(problems))
            _audit_invalid(team, user, command, problems)
            return
        channel = meta.get("channel") if isinstance(meta.get("channel"), str) else None
        inv = Invocation(team, user, forms.text(form, values), source="slack", channel_id=channel)
        plan = engine.plan(inv)
        if plan.outcome == "invalid" and plan.reply is not None:
            ack(**_errors({form.fields[0].name: plan.detail.get("error", "not valid")}))
            return
        plans.put(_key(body), plan)
        ack()

    def _audit_invalid(team: str, user: str, command: str, problems: dict[str, str]) -> None:
        """A refused form is a refused command: it has its audit row (field names and
        what was wrong with each; the messages quote the value, bounded)."""
        inv = Invocation(team, user, command, source="slack")
        detail = {
            "command": command,
            "form": True,
            "error": "; ".join(f"{name}: {text[:MAX_ERROR]}" for name, text in problems.items()),
        }
        try:
            engine.svc.audit(inv.entry(command, "invalid", detail))
        except Exception as exc:  # the user has their answer; only the record is missing
            log.error("could not audit a refused form: %s", type(exc).__name__)

    def run_form(body: dict) -> None:
        plan = plans.take(_key(body))
        if plan is None:  # the ack refused it, or this is not our process's submission
            return
        inv = plan.inv
        try:
            reply = engine.execute(plan)
        except Exception:  # a bug must still get the user an answer
            log.exception("form submission failed inside the bot (ref %s)", inv.correlation)
            reply = render.internal_error(inv)
        direct.tell(inv.user_id, reply, inv.channel_id)
        homes.refresh(inv.user_id)

    def check_reason(ack: Ack, body: dict) -> None:
        """The reason as the typed rejection would take it (one line, and at least
        10 characters where XBOOKER_BOT_REQUIRE_REASON lists rejections)."""
        problem = reason_problem(submitted(body.get("view") or {}).get("reason", ""))
        if problem:
            ack(**_errors({"reason": problem}))
        else:
            ack()

    def reason_problem(reason: str) -> str | None:
        reason = reason.strip()
        if not reason:
            return "a rejection needs a reason"
        if forms.quoted(reason) or has_hidden(reason):
            return "one line, without double quotes"
        try:
            parse(f"approvals reject 1 {reason}", engine.svc.settings.require_reason)
        except ParseError as exc:
            return str(exc)
        return None

    def reject(body: dict) -> None:
        view = body.get("view") or {}
        meta = metadata(view)
        reason = submitted(view).get("reason", "").strip()
        if reason_problem(reason):
            return  # refused in the ack
        value = f"{meta.get('id')}:{meta.get('nonce')}"
        found = REQUEST_VALUE.fullmatch(value)
        rid, nonce = (found.group(1), found.group(2)) if found else ("0", "")
        on_home = meta.get("home") is True
        channel = meta.get("channel") if isinstance(meta.get("channel"), str) else None
        ts = meta.get("ts") if isinstance(meta.get("ts"), str) else None
        team, user = _actor(body)
        inv = Invocation(
            team,
            user,
            f"approvals reject {rid} {reason}",
            source="slack",
            channel_id=channel,
            click=Click(nonce, channel, ts, "home" if on_home else "card"),
        )
        try:
            reply = engine.handle(inv)
        except Exception:
            log.exception("rejection failed inside the bot (ref %s)", inv.correlation)
            reply = render.internal_error(inv)
        direct.tell(user, reply, None if on_home else channel)
        if on_home:
            homes.refresh(user)

    app.view(FORM)(ack=check_form, lazy=[run_form])
    app.view(REJECT_REASON)(ack=check_reason, lazy=[reject])
