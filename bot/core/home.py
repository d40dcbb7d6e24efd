"""One person's App Home: their bot role, what awaits their decision, their own
requests, the organization, and (for admins) the latest audit rows.

The home is built from the same pieces as the typed answers (cards' state lines,
the organization card, the audit lines), so it can never say something a typed
command would not. Every list is bounded and says how many it left out; the whole
view stays inside Slack's limits for a home tab (100 blocks, 3,000 characters a
section). Its buttons are the cards' buttons (the same nonce-bound values, the same
decision path) plus Cancel on one's own requests and buttons that open the forms.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.core import cards, render
from bot.core.approvals import Approvals
from bot.core.context import Invocation, Services
from bot.core.forms import FORMS
from bot.core.registry import BY_NAME
from bot.core.replies import code, context, esc, header, section
from bot.core.roles import at_least
from bot.store import audit, inbox
from bot.xbooker import errors
from bot.xbooker.models import Organization

log = logging.getLogger(__name__)

AWAITING_SHOWN = 10
MINE_SHOWN = 10
AUDIT_SHOWN = 8
MAX_ENTRY = 2900  # characters of one request's change on the home: one section
CANCEL = "approval_cancel"
OPEN_FORM = "open_form"
# Requests one's own Cancel button may still stop (an approved one is being run).
CANCELLABLE = ("pending",)


class OrganizationCache:
    """The organization card's data, read from X Booker at most once per ``ttl``
    seconds: homes are rebuilt on every open and, after each change to a request, for
    every admin, and none of that should turn into a burst of X Booker calls. A failed
    read is kept as long (X Booker down must not cost every home its timeout). While a
    read is in flight, other callers get the last answer, or (before there is one) wait
    for it at most ``patience`` seconds: no home queues long behind a slow X Booker."""

    def __init__(
        self, read: Callable[[], Organization], ttl: float = 30.0, patience: float = 2.0
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._patience = patience
        self._done = threading.Condition()
        self._kept: tuple[float, Organization | errors.XBookerError] | None = None
        self._reading = False

    def __call__(self) -> Organization:
        with self._done:
            if self._reading and self._kept is None:
                self._done.wait_for(lambda: not self._reading, self._patience)
            kept = self._kept
            fresh = kept is not None and time.monotonic() - kept[0] < self._ttl
            if fresh or (kept is not None and self._reading):
                return _unpack(kept[1])
            if self._reading:
                raise errors.TransportError("X Booker is being asked; open the home again", None)
            self._reading = True
        outcome: Organization | errors.XBookerError | None = None
        try:
            outcome = self._read()
        except errors.XBookerError as exc:
            outcome = exc
        finally:  # whatever happened, the next caller may read again
            with self._done:
                if outcome is not None:
                    self._kept = (time.monotonic(), outcome)
                self._reading = False
                self._done.notify_all()
        return _unpack(outcome)


def _unpack(outcome: Organization | errors.XBookerError) -> Organization:
    if isinstance(outcome, errors.XBookerError):
        raise outcome
    return outcome


@dataclass(frozen=True)
class Home:
    """The home as blocks for Slack and as text for the console. Not a :class:`Reply`:
    a home tab has room for 100 blocks, where a message's guard would stop at 50."""

    text: str
    blocks: list[dict]


def build(
    svc: Services,
    approvals: Approvals,
    user_id: str,
    organization: Callable[[], Organization] | None = None,
) -> Home:
    """Read what this user may see, now. X Booker being down costs the organization
    card only: the rest of the home is local. ``organization`` reads the card's data
    (default: straight from X Booker; the Slack front end passes a cache)."""
    role = svc.allowlist.role_of(user_id)
    blocks: list[dict] = [header("xbooker-bot")]
    lines: list[str] = []

    def add(text: str, *more: dict) -> None:
        blocks.append(section(text))
        blocks.extend(more)
        lines.append(text)

    if role is None:
        add(
            "You have no bot role, so there is nothing here for you yet. "
            "A bot admin can give you one with `/xbooker access grant @you viewer`."
        )
        return Home("\n".join(lines), blocks)
    add(f"Your bot role: *{role}*. Type `/xbooker help` for every command you can run.")
    forms = [f for f in FORMS.values() if at_least(role, BY_NAME[f.command].role)]
    if forms:
        blocks.append(
            {
                "type": "actions",
                "block_id": "forms",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"{OPEN_FORM}:{f.command}",
                        "text": {"type": "plain_text", "text": f.title, "emoji": False},
                        "value": f.command,
                    }
                    for f in forms
                ],
            }
        )
        lines.append("Forms: " + ", ".join(f.title for f in forms))
    if at_least(role, "admin"):
        _awaiting(svc, approvals, user_id, blocks, lines)
    if at_least(role, "operator"):
        _mine(svc, approvals, user_id, blocks, lines)
    _organization(organization or svc.xbooker.organization, blocks, lines)
    if at_least(role, "admin"):
        _audit(svc, user_id, blocks, lines)
    return Home("\n".join(lines), blocks)


def _state_line(approvals: Approvals, r) -> str:
    line = f"*#{r.id}* {esc(cards.title(r.id, r.command, r.args))} · by "
    line += f"{render.user(r.requester)}: {cards.state(r, approvals.unknown(r))}"
    if r.status == "pending":
        line += f", expires {cards.when(r.expires_at)}"
    return line


def _whole_change(r) -> str | None:
    """Everything its card shows about the change (privilege, every line, the reason,
    a refused read), if it fits one section; an approver never decides on part of it."""
    parts = [*r.lines]
    reason = cards.reason_of(r)
    if reason:
        parts.append(f"Reason: {esc(reason)}")
    if r.read_error:
        parts.append(f":warning: X Booker refused to show the current state: {code(r.read_error)}")
    text = "\n".join(parts)
    return text if len(text) <= MAX_ENTRY else None


def _awaiting(svc: Services, approvals: Approvals, user_id: str, blocks, lines) -> None:
    requests, total = inbox.awaiting(svc.store, svc.team_id, user_id, AWAITING_SHOWN)
    blocks.append({"type": "divider"})
    blocks.append(header(f"Needs your approval ({total})"))
    lines.append(f"Needs your approval ({total})")
    if not requests:
        blocks.append(context("Nothing is waiting for you."))
        lines.append("  nothing is waiting for you")
    for r in requests:
        state, change = _state_line(approvals, r), _whole_change(r)
        blocks.append(section(state))
        lines.append("  " + state)
        if change is None:
            where = f"<#{r.channel_id}>" if r.channel_id else "the approvals channel"
            note = f"This change is too long to show here: decide it on its card in {where}."
            blocks.append(context(note))
            lines.append("  " + note)
            continue
        blocks.append(section(change))
        blocks.append(cards.buttons(r))
        lines.append("  " + change.replace("\n", "\n  ") + f"  [Approve #{r.id}] [Reject #{r.id}]")
    if total > len(requests):
        more = f"and {total - len(requests)} more: `/xbooker approvals`"
        blocks.append(context(more))
        lines.append("  " + more)


def _mine(svc: Services, approvals: Approvals, user_id: str, blocks, lines) -> None:
    requests = inbox.mine(svc.store, svc.team_id, user_id, MINE_SHOWN)
    blocks.append({"type": "divider"})
    blocks.append(header("Your requests"))
    lines.append("Your requests")
    if not requests:
        blocks.append(context("You have made no approval requests."))
        lines.append("  none")
    for r in requests:
        text = _state_line(approvals, r)
        if r.status in CANCELLABLE and r.nonce:
            blocks.append(
                {
                    "type": "section",
                    "block_id": f"mine-{r.id}",
                    "text": section(text)["text"],
                    "accessory": {
                        "type": "button",
                        "action_id": CANCEL,
                        "text": {"type": "plain_text", "text": "Cancel", "emoji": False},
                        "value": f"{r.id}:{r.nonce}",
                    },
                }
            )
            lines.append("  " + text.replace("\n", "\n  ") + f"  [Cancel #{r.id}]")
        else:
            blocks.append(section(text))
            lines.append("  " + text.replace("\n", "\n  "))


def _organization(read: Callable[[], Organization], blocks, lines) -> None:
    blocks.append({"type": "divider"})
    try:
        org = read()
    except errors.XBookerError as exc:
        text = f":warning: The organization could not be read: {esc(exc.message, 300)}"
        blocks.append(section(text))
        lines.append(text)
        return
    card = render.organization_card(org)
    blocks.extend(card)
    lines.append(f"Organization: {esc(org.name)}")


def _audit(svc: Services, user_id: str, blocks, lines) -> None:
    latest = audit.page(svc.store, AUDIT_SHOWN)
    inv = Invocation(svc.team_id, user_id, "audit", source="slack")
    shown = render.audit_rows(inv, {"count": AUDIT_SHOWN}, latest)
    blocks.append({"type": "divider"})
    blocks.extend(shown.blocks)  # not its page buttons: the home has no message to turn
    lines.append(shown.text)
