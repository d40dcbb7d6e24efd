"""What the log channel says: one line for each audit row people should see go by.

The log channel (``XBOOKER_BOT_LOG_CHANNEL``) is a running account of what changed:
every change sent to X Booker or to the allow-list (directly or after approval,
"outcome unknown" included), every decision, expiry and cancellation of a request,
every refresh-token re-issue, and the audit head once a day. Lookups, refusals and
requests being opened are not in it (the approvals channel shows requests).

Lines are built from audit rows only, so the channel can never say something the
log does not, and every value in them (arguments, reasons, X Booker's messages)
goes through :func:`~bot.core.replies.esc` or :func:`~bot.core.replies.code`:
one line, no mention, link or formatting a user could have planted. Audit rows
hold no secrets by contract, so neither do these lines.
"""

from __future__ import annotations

from bot.core import registry, render
from bot.core.cards import when
from bot.core.replies import code, esc
from bot.store import audit

# The row the token manager's re-issue listener writes (see reissue_entry).
REISSUE_ACTION, REISSUE_OUTCOME = "refresh token", "reissued"
# Of a row's summary, at most this many characters (after escaping): a line stays short.
MAX_SUMMARY = 1500

# Commands whose success changes X Booker or the allow-list.
CHANGES = frozenset(c.name for c in registry.COMMANDS if c.proposal is not None)
# Request events shown whatever their detail: (action, outcome) -> icon.
EVENTS = {
    ("approvals approve", "recorded"): ":ballot_box_with_check:",
    ("approvals reject", "recorded"): ":no_entry_sign:",
    ("approvals cancel", "cancelled"): ":heavy_multiplication_x:",
    ("approvals execute", "cancelled"): ":heavy_multiplication_x:",
    ("approvals expire", "expired"): ":hourglass:",
    ("approvals interrupted", "outcome unknown"): ":grey_question:",
    ("approvals resolve", "succeeded"): ":white_check_mark:",
    ("approvals resolve", "failed"): ":x:",
    (REISSUE_ACTION, REISSUE_OUTCOME): ":key:",
}
OUTCOME_ICONS = {"succeeded": ":white_check_mark:", "outcome unknown": ":grey_question:"}


def reissue_entry(team_id: str | None, generation: int) -> audit.Entry:
    """The audit row of a refresh-token re-issue (for the token manager's ``on_reissue``
    listener): the log channel shows it, and the audit log should hold it anyway."""
    detail = {"generation": generation}
    return audit.Entry("system", "system", REISSUE_ACTION, REISSUE_OUTCOME, team_id, None, detail)


def icon(row: dict) -> str | None:
    """The row's icon if the log channel shows it, else None."""
    action, outcome, detail = row["action"], row["outcome"], row["detail"]
    if (action, outcome) in EVENTS:
        return EVENTS[(action, outcome)]
    # An approval's execution also writes the grant's own row (source "approval"):
    # the execution's row is the one shown, so a change appears once.
    if action not in CHANGES or row["source"] == "approval" or outcome == "sending":
        return None
    if outcome in OUTCOME_ICONS:
        return OUTCOME_ICONS[outcome]
    # A request's execution ends in the channel whatever happened, since its decision
    # was shown there; a direct command that failed changed nothing.
    if "request" in detail and row["actor"] == "system":
        return ":white_check_mark:" if outcome.startswith("succeeded") else ":x:"
    return None


def line(row: dict) -> str | None:
    """One escaped mrkdwn line for an audit row (``detail`` decoded), or None if the log
    channel does not show it."""
    mark = icon(row)
    if mark is None:
        return None
    actor = row["actor"]
    who = "the bot" if actor == "system" else render.user(actor)
    summary = audit.describe(row["detail"])
    if row["action"] == REISSUE_ACTION and "generation" in row["detail"]:
        summary = f"generation {row['detail']['generation']}"
    text = f"{mark} {code(row['action'])} {esc(row['outcome'])} by {who}"
    if summary:
        text += f": {esc(summary, MAX_SUMMARY)}"
    return f"{text} · audit row {int(row['id'])} · {when(row['at'])}"


def head_line(head: audit.Head | None) -> str:
    """The daily anchor: the audit head, and the command that checks the log against it
    later (the one check that survives the whole database being replaced)."""
    if head is None:
        return ":link: Audit head: the audit log is empty."
    verify = f"xbooker-bot audit verify --anchor {head.last_id}:{head.last_hash}"
    return (
        f":link: Audit head: last row {int(head.last_id)}, {int(head.rows)} row(s), hash "
        f"{code(head.last_hash)}. To check the log against it later: {code(verify)}"
    )
