"""How approval requests look: the channel card, the outcome lines, the open list.

A card must show the whole change truthfully to someone deciding from a phone:
the header states any privilege the change grants, every value sits on its own
line (values were made one line and inert when the preview was built), the
requester's reason (if any) has a section of its own, and the "what will change"
part is never cut. :func:`too_long` lets the request be refused up front when that
cannot fit one Slack message.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core import registry, render
from bot.core.replies import (
    MAX_HEADER,
    MAX_MESSAGE,
    MAX_TEXT,
    Pages,
    Reply,
    chunks,
    clip_markup,
    code,
    context,
    esc,
    header,
    section,
)
from bot.store.approvals import Request

APPROVE, REJECT = "approval_approve", "approval_reject"
# What the change may take of a card: the message's budget less room for the header,
# who asked, the expiry line and the buttons.
MAX_CHANGE_TEXT = MAX_MESSAGE - 1_000


def when(ts: float) -> str:
    """A Slack date token (shown in each reader's time zone) with a UTC fallback."""
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{iso}>"


def privilege(command: str, args: dict) -> str | None:
    """What the change grants, for the card's header, if it raises privileges."""
    found = registry.BY_NAME.get(command)
    return found.privileged(args) if found and found.privileged else None


def title(rid: int, command: str, args: dict) -> str:
    granted = privilege(command, args)
    text = f"Approval request #{rid}: {command}"
    return f"{text} · GRANTS {granted.upper()}" if granted else text


def reason_of(r: Request) -> str | None:
    """The requester's reason (``reason="…"``), kept with the request's arguments."""
    return r.args.get("reason")


def _reason_line(reason: str) -> str:
    return f"*Reason:* {esc(reason)}"


def too_long(lines: list[str], read_error: str | None, reason: str | None = None) -> str | None:
    """Why a preview cannot be shown whole on one card, or None if it can."""
    longest = max((len(line) for line in lines), default=0)
    total = sum(len(line) for line in lines) + len(read_error or "")
    total += len(_reason_line(reason)) if reason else 0
    if longest > MAX_TEXT:
        return f"one changed value makes a line of {longest} characters (at most {MAX_TEXT})"
    if total > MAX_CHANGE_TEXT:
        return f"the change takes {total} characters (at most {MAX_CHANGE_TEXT})"
    return None


def state(r: Request, unknown: bool) -> str:
    if unknown:
        return "outcome unknown"
    if r.status == "pending":
        return f"pending ({len(r.approvers)} of {r.needed} approvals)"
    return r.status


def outcome_text(r: Request, unknown: bool) -> str:
    """One line saying how the request ended (or where it stands), for cards and DMs."""
    by = ", ".join(render.user(u) for u in r.approvers)
    outcome = r.outcome or {}
    if unknown:
        return (
            f":grey_question: Outcome unknown ({esc(outcome.get('unknown', 'interrupted'))})."
            f" Check X Booker, then a bot admin runs "
            f"`/xbooker approvals resolve {r.id} succeeded|failed`."
        )
    if r.status in ("approved", "executing"):
        return f":gear: Approved by {by}; executing…"
    resolved = outcome.get("resolved_by")
    if r.status in ("succeeded", "failed") and resolved:
        mark = ":white_check_mark:" if r.status == "succeeded" else ":x:"
        why = f": {esc(outcome['reason'])}" if outcome.get("reason") else "."
        return f"{mark} Recorded as {r.status} by {render.user(resolved)}{why}"
    if r.status == "succeeded":
        return f":white_check_mark: Approved by {by}; done. {outcome.get('result', '')}".rstrip()
    if r.status == "failed":
        if outcome.get("changed"):
            changes = ", ".join(
                f"{esc(k)} was {code(v)}, now {code(outcome['now'].get(k))}"
                for k, v in outcome["before"].items()
            )
            return (
                f":x: Approved by {by}, but not executed: changed since requested "
                f"({changes}). Nothing was written."
            )
        status = f" (HTTP {outcome['status']})" if outcome.get("status") else ""
        return (
            f":x: Approved by {by}; failed{status}. "
            f"Said: {code(outcome.get('message', 'unknown error'))}"
        )
    if r.status == "rejected" and r.rejecter:
        reason = f": {esc(r.rejecter[1])}" if r.rejecter[1] else ""
        return f":no_entry_sign: Rejected by {render.user(r.rejecter[0])}{reason}"
    if r.status == "cancelled":
        who, why = outcome.get("by"), outcome.get("reason")
        text = ":heavy_multiplication_x: Cancelled" + (f" by {render.user(who)}" if who else "")
        return text + (f": {esc(why)}" if why else "")
    if r.status == "expired":
        return f":hourglass: Expired without enough approvals at {when(r.expires_at)}."
    return esc(r.status)


def buttons(r: Request) -> dict:
    """Approve and Reject, bound to this request by its nonce (on the card and on App
    Home alike)."""
    value = f"{r.id}:{r.nonce}"
    return {
        "type": "actions",
        "block_id": f"approval-{r.id}",
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "style": style,
                "text": {"type": "plain_text", "text": label},
                "value": value,
            }
            for action, style, label in (
                (APPROVE, "primary", "Approve"),
                (REJECT, "danger", "Reject"),
            )
        ],
    }


def card(r: Request, unknown: bool) -> Reply:
    """The channel message: the privilege, who asked, what will change, then the buttons
    while it is pending or the outcome once it is not."""
    top = title(r.id, r.command, r.args)
    blocks = [
        header(top[:MAX_HEADER]),
        section(f"{render.user(r.requester)} asks to run {code(r.command)}. *What will change:*"),
        *[section(line) for line in r.lines],
    ]
    reason = reason_of(r)
    if reason:
        blocks.append(section(_reason_line(reason)))
    if r.read_error:
        blocks.append(
            section(f":warning: X Booker refused to show the current state: {code(r.read_error)}")
        )
    if r.status == "pending":
        needed = f"{r.needed} approval(s) from bot admins other than the requester"
        blocks.append(
            context(f"Needs {needed} · {len(r.approvers)} so far · expires {when(r.expires_at)}")
        )
        if r.nonce:
            blocks.append(buttons(r))
    else:
        blocks.append(section(outcome_text(r, unknown)))
    text = f"{esc(top)} by {render.user(r.requester)}: " + "; ".join(r.lines)
    if reason:
        text += f" · reason: {esc(reason)}"
    return Reply(text, blocks)


def stale_card() -> Reply:
    """What replaces a card whose request this bot no longer has (a lost or restored
    database): its buttons go, so it can never decide a request that reused its number."""
    return Reply.note(
        ":warning: This approval card belongs to a request this bot no longer knows (its "
        "database was replaced or restored). Nothing was decided; ask for it again if needed."
    )


def created(r: Request, posted_in: str | None) -> Reply:
    """The requester's answer: the request number, where it is, and what it will change."""
    where = (
        f"It is posted in <#{posted_in}>."
        if posted_in
        else f"It could not be posted in the approvals channel; a bot admin can approve it with "
        f"`/xbooker approvals approve {r.id}`."
    )
    others = "a bot admin" if r.needed == 1 else f"{r.needed} bot admins"
    text = (
        f":hourglass_flowing_sand: Request *#{r.id}* created: `{esc(r.command)}` needs approval "
        f"by {others} other than you. {where} It expires {when(r.expires_at)}."
    )
    blocks = [section(text), section("*What will change:*"), *map(section, r.lines)]
    reason = reason_of(r)
    if reason:
        blocks.append(section(_reason_line(reason)))
    return Reply(text, blocks)


def outcome_message(r: Request, unknown: bool) -> Reply:
    """The requester's direct message once a request has ended (or its outcome is
    unknown): how it ended, and the reason they gave."""
    text = f"Your request #{r.id} ({esc(r.command)}): {outcome_text(r, unknown)}"
    reason = reason_of(r)
    if not reason:
        return Reply.note(text)
    why = f"Your reason: {esc(reason)}"
    return Reply(f"{text}\n{why}", [section(text), context(why)])


# Mentions a reminder makes at most: the rest are counted, so a workspace with many
# admins still gets a reminder that fits one message.
MAX_MENTIONS = 20
HALF, HOUR = "half", "hour"


def reminder(r: Request, eligible: list[str], kind: str) -> Reply:
    """A thread reply on a pending request's card, naming who can still decide it."""
    when_text = "half its time has passed" if kind == HALF else "it expires in less than an hour"
    text = (
        f":alarm_clock: Reminder: request #{r.id} ({code(r.command)}) is still waiting for "
        f"a decision; {when_text} (expires {when(r.expires_at)})."
    )
    if eligible:
        shown = " ".join(render.user(u) for u in eligible[:MAX_MENTIONS])
        more = len(eligible) - MAX_MENTIONS
        shown += f" and {more} more bot admin(s)" if more > 0 else ""
        text += f" {shown}: approve or reject it on the card above."
    else:
        text += " No bot admin other than the requester can decide it: it will expire."
    return Reply.note(text)


def open_list(requests: list[tuple[Request, bool]], total: int, page: int, size: int) -> Reply:
    """One page of open requests, with how to see the next."""
    if not total:
        return Reply.note("No approval requests are open.")
    pages = max(1, -(-total // size))
    if not requests:
        return Reply.note(f"Page {page} is past the end: there are {pages} page(s).")
    lines = [
        f"• *#{r.id}* {code(r.command)} by {render.user(r.requester)}: {state(r, unknown)}"
        + (f", expires {when(r.expires_at)}" if r.status == "pending" else "")
        + (f" · {clip_markup(r.lines[0], 300)}" if r.lines else "")
        for r, unknown in requests
    ]
    title_text = f"Open approval requests: page {page} of {pages} ({total} in all)"
    blocks = [header(title_text), *[section(t) for t in chunks(lines)]]
    if page < pages:
        blocks.append(context("Next page: " + code(f"/xbooker approvals page={page + 1}")))
    text = title_text + "\n" + "\n".join(lines)
    return Reply(text, blocks, pages=Pages("approvals", page, pages))
