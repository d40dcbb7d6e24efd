"""Turn results into replies. Every value from a user or X Booker is escaped here."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.actions import Change, Status
from bot.core.allowlist import Grant
from bot.core.context import Invocation
from bot.core.replies import (
    Pages,
    Reply,
    chunks,
    code,
    context,
    esc,
    fields,
    header,
    ours,
    section,
)
from bot.store import audit
from bot.store.database import fault_kind
from bot.xbooker import errors
from bot.xbooker.advice import advise
from bot.xbooker.models import Member, MemberPage, Organization

_ORG_FIELDS = [
    ("Name", "name"),
    ("Email", "email"),
    ("Phone", "phone"),
    ("Website", "website"),
    ("Address", "address"),
    ("Time zone", "timezone"),
    ("ID", "id"),
    ("Updated", "updated_at"),
]


def user(user_id: str) -> str:
    """A Slack user ID as a mention. IDs are validated (U/W + capitals and digits),
    so this is the one place we emit markup on purpose."""
    return f"<@{user_id}>" if user_id[:1] in "UW" and user_id.isalnum() else esc(user_id)


def organization_card(org: Organization, title: str = "Organization") -> list[dict]:
    return [
        header(f"{title}: {org.name}"),
        *fields([(lbl, getattr(org, k)) for lbl, k in _ORG_FIELDS]),
    ]


def member_card(m: Member, title: str = "Member") -> list[dict]:
    return [
        header(f"{title}: {m.name or m.email}"),
        *fields(
            [
                ("Name", m.name),
                ("Email", m.email),
                ("X Booker role", m.role),
                ("Status", m.status),
                ("Joined", m.joined_at or "not yet"),
                ("ID", m.id),
            ]
        ),
    ]


def org_show(inv: Invocation, args: dict, org: Organization) -> Reply:
    return Reply(f"Organization {esc(org.name)} ({esc(org.id)})", organization_card(org))


def org_update(inv: Invocation, args: dict, change: Change) -> Reply:
    before, after = change.before, change.after
    was = lambda k: code(getattr(before, k)) if before is not None else "(unknown)"  # noqa: E731
    lines = [f"• {k}: {was(k)} → {code(getattr(after, k))}" for k in args["fields"]]
    text = "Organization updated:\n" + "\n".join(lines)
    return Reply(text, [section(text), *organization_card(after, "Now")])


def member_line(m: Member) -> str:
    """One member, one line, of bounded length whatever X Booker sends (a page of these
    must fit one message): the name and email are cut with "…" if very long."""
    name = esc(m.name, 80) if m.name else "(no name)"
    extra = " · invited" if m.status == "invited" else ""
    return f"*{name}* · {esc(m.email, 120)} · {esc(m.role, 20)}{extra} · {code(m.id, 64)}"


def members_list(inv: Invocation, args: dict, page: MemberPage) -> Reply:
    if not page.members:
        what = "No members match." if (args.get("search") or args.get("role")) else "No members."
        if page.page > 1 and page.total:
            what = f"Page {page.page} is past the end: there are {page.pages} page(s)."
        return Reply.note(what)
    title = f"Members: page {page.page} of {page.pages} ({page.total} in all)"
    blocks = [header(title), *[section(t) for t in chunks([member_line(m) for m in page.members])]]
    pages = Pages(
        " ".join(["members list", *([f"role={args['role']}"] if args.get("role") else [])]),
        page.page,
        page.pages,
        f'"{args["search"]}"' if args.get("search") else "",
    )
    footer = f"Page {page.page} of {page.pages}"
    if pages.next:
        footer += " · next page: " + code("/xbooker " + pages.next)
    blocks.append(context(footer))
    return Reply(esc(title), blocks, pages=pages)


def members_show(inv: Invocation, args: dict, m: Member) -> Reply:
    return Reply(f"Member {esc(m.email)}: {esc(m.role)}", member_card(m))


def members_add(inv: Invocation, args: dict, m: Member) -> Reply:
    text = f"Added {esc(m.email)} as {esc(m.role)} (status: {esc(m.status)})."
    return Reply(text, [section(text), *member_card(m)])


def members_role(inv: Invocation, args: dict, change: Change) -> Reply:
    before, after = change.before, change.after
    was = code(before.role) if before is not None else "(unknown)"
    return Reply.note(f"{code(after.email)}: X Booker role {was} → {code(after.role)}.")


def members_remove(inv: Invocation, args: dict, m: Member) -> Reply:
    return Reply.note(f"Removed {esc(m.email)} ({esc(m.role)}) from the organization.")


def access_list(inv: Invocation, args: dict, grants: list[Grant]) -> Reply:
    if not grants:
        return Reply.note("No one has a bot role yet.")
    lines = [
        f"• {user(g.user_id)}: {g.role}"
        + (" (from XBOOKER_BOT_ADMINS)" if g.from_config else f" (granted by {user(g.granted_by)})")
        for g in grants
    ]
    return Reply("\n".join(lines), [header("Bot roles"), *[section(t) for t in chunks(lines)]])


def access_grant(inv: Invocation, args: dict, change: Change) -> Reply:
    was = f" (was {change.before})" if change.before else ""
    return Reply.note(f"{user(args['user'])} now has bot role {change.after}{was}.")


def access_revoke(inv: Invocation, args: dict, change: Change) -> Reply:
    return Reply.note(f"{user(args['user'])} no longer has a bot role (was {change.before}).")


def status(inv: Invocation, args: dict, st: Status) -> Reply:
    t = st.tokens
    reach = "reachable" if st.reachable else f"not usable: {esc(st.xbooker_error)}"
    age = lambda v: "none yet" if v is None else f"{v:g} s"  # noqa: E731
    lines = [
        f"*xbooker-bot {esc(st.version)}*",
        f"• X Booker: {reach}",
        f"• Access token age: {age(t['access_token_age'])}; refresh token age: "
        f"{age(t['refresh_token_age'])}; refresh token re-issued "
        f"{t['refresh_reissues'] or 0} time(s)",
        f"• Pending approvals: {st.pending_approvals}",
        f"• Database: {code(st.database)}",
        f"• Your bot role: {st.role or 'none'}",
    ]
    lines += [f":warning: {esc(w)}" for w in st.warnings]
    text = "\n".join(lines)
    return Reply(text, [section(text)])


def xbooker_error(inv: Invocation, command: str, exc: errors.XBookerError) -> Reply:
    advice = advise(exc)
    status = f" (HTTP {exc.status})" if exc.status is not None else ""
    text = (
        f":warning: `{esc(command)}` failed{status}. X Booker said: {code(exc.message)}\n"
        f"{ours(advice.meaning)}\n*What to do:* {ours(advice.action)}"
    )
    return Reply(text, [section(text), context(f"Reference: {code(inv.correlation)}")])


_STORE_STATE = {
    "locked": "is busy (another process holds it)",
    "full": "is full (no space left on its disk)",
    "error": "cannot be used (an I/O or schema error)",
}


def _store_state(exc: Exception) -> str:
    return _STORE_STATE[fault_kind(exc)]


def unrecorded(inv: Invocation, exc: Exception) -> str:
    """The line added to a lookup's answer when its audit row could not be written."""
    return (
        f":warning: The bot's database {_store_state(exc)}, so this lookup is not in the "
        f"audit log. Reference: {code(inv.correlation)}"
    )


def store_fault(inv: Invocation, exc: Exception, *, applied: bool) -> Reply:
    """One clear answer for a database that is locked, full or failing."""
    what = _store_state(exc)
    if applied:
        message = (
            f":warning: X Booker received the change, but the bot's database {what}, so the "
            "bot could not record it. Check `/xbooker audit` and X Booker before trying again."
        )
    else:
        message = f":warning: The bot's database {what}: nothing was changed. Try again shortly."
    return Reply.note(f"{message} Reference: {code(inv.correlation)}")


def user_error(message: str) -> Reply:
    return Reply.note(f":warning: {esc(message)}")


def internal_error(inv: Invocation) -> Reply:
    text = (
        ":x: Something went wrong inside xbooker-bot; check the current state before "
        "trying again. "
        f"Give the bot's operator this reference: {code(inv.correlation)}"
    )
    return Reply.note(text)


def as_is(inv: Invocation, args: dict, reply: Reply) -> Reply:
    """For commands whose run function already answers with a reply (approvals)."""
    return reply


def audit_rows(inv: Invocation, args: dict, page: audit.Page) -> Reply:
    rows = page.rows
    if not rows:
        if page.number > 1:
            return Reply.note(f"Page {page.number} is past the end: there are {page.pages}.")
        return Reply.note("The audit log is empty.")
    lines = []
    for row in rows:
        at = datetime.fromtimestamp(row["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        summary = audit.describe(row["detail"])
        lines.append(
            f"`#{row['id']}` {at} {user(row['actor'])} ({esc(row['source'])}) "
            f"{esc(row['action'])}: *{esc(row['outcome'])}*"
            + (f" {code(summary)}" if summary else "")
        )
    title = f"Audit log: rows #{rows[0]['id']} to #{rows[-1]['id']}"
    if page.pages > 1:
        title += f" (page {page.number} of {page.pages})"
    blocks = [header(title), *[section(t) for t in chunks(lines)]]
    pages = Pages(f"audit {page.size} last={page.last}", page.number, page.pages)
    return Reply("\n".join(lines), blocks, pages=pages)
