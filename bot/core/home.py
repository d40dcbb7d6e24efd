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
from bot.core.replies import Reply, clip_markup, code, context, esc, header, section
from bot.core.roles import at_least
from bot.store import audit, inbox
from bot.xbooker import errors
from bot.xbooker.models import Organization

log = logging.getLogger(__name__)

AWAITING_SHOWN = 10
MINE_SHOWN = 10
AUDIT_SHOWN = 8
CANCEL = "approval_cancel"
OPEN_FORM = "open_form"
# Requests one's own Cancel button may still stop (an approved one is being run).
CANCELLABLE = ("pending",)


class OrganizationCache:
    """The organization card's data, read from X Booker at most once per ``ttl``
    seconds: homes are rebuilt on every open and, after each change to a request, for
    every admin, and none of that should turn into a burst of X Booker calls. A
    failed read is not kept, so the next home tries again."""

    def __init__(self, read: Callable[[], Organization], ttl: float = 30.0) -> None:
        self._read = read
        self._ttl = ttl
        self._lock = threading.Lock()
        self._kept: tuple[float, Organization] | None = None

    def __call__(self) -> Organization:
        with self._lock:
            if self._kept is not None and time.monotonic() - self._kept[0] < self._ttl:
                return self._kept[1]
            org = self._read()
            self._kept = (time.monotonic(), org)
            return org


@dataclass(frozen=True)
class Home:
    """The home as blocks for Slack and as text for the console."""

    user_id: str
    reply: Reply


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
        return Home(user_id, Reply("\n".join(lines), blocks))
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
    return Home(user_id, Reply("\n".join(lines), blocks))


def _request_line(approvals: Approvals, r) -> str:
    line = f"*#{r.id}* {code(r.command)} by {render.user(r.requester)}: "
    line += cards.state(r, approvals.unknown(r))
    if r.status == "pending":
        line += f", expires {cards.when(r.expires_at)}"
    if r.lines:
        line += "\n" + clip_markup(r.lines[0], 600)
    return line


def _awaiting(svc: Services, approvals: Approvals, user_id: str, blocks, lines) -> None:
    requests, total = inbox.awaiting(svc.store, svc.team_id, user_id, AWAITING_SHOWN)
    blocks.append({"type": "divider"})
    blocks.append(header(f"Needs your approval ({total})"))
    lines.append(f"Needs your approval ({total})")
    if not requests:
        blocks.append(context("Nothing is waiting for you."))
        lines.append("  nothing is waiting for you")
    for r in requests:
        text = _request_line(approvals, r)
        blocks.append(section(text))
        blocks.append(cards.buttons(r))
        lines.append("  " + text.replace("\n", "\n  ") + f"  [Approve #{r.id}] [Reject #{r.id}]")
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
        text = _request_line(approvals, r)
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
