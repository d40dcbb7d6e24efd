"""What each command does, given parsed arguments: X Booker calls and local changes.

Functions here return plain results; turning them into replies is
:mod:`bot.core.render`'s job, and deciding whether they may run at all is the
engine's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from bot import __version__
from bot.core.allowlist import AllowList, Grant
from bot.core.context import Invocation, Runtime, Services, UserError
from bot.core.params import MemberRef
from bot.store import approvals as approvals_store
from bot.store import audit
from bot.xbooker import errors
from bot.xbooker.client import XBookerClient
from bot.xbooker.models import Member, MemberPage, Organization

# Rows a page of `members list` shows: with each row bounded (render.member_line), a
# page fits one Slack message, so paging never has to drop a row.
MEMBERS_PAGE = 25


def resolve_member(client: XBookerClient, ref: MemberRef) -> Member:
    """An email or id to the member; emails are matched exactly, ignoring case."""
    if not ref.is_email:
        return client.member(ref.value)
    page = client.list_members(query=ref.value, limit=100)
    for member in page.members:
        if member.email.lower() == ref.value.lower():
            return member
    raise UserError(f"no member has the email {ref.value}")


@dataclass(frozen=True)
class Change:
    """A write's before and after, for the reply and the audit log."""

    before: object
    after: object


def org_show(rt: Runtime, inv: Invocation, args: dict) -> Organization:
    return rt.svc.xbooker.organization()


def org_update(rt: Runtime, inv: Invocation, args: dict) -> Change:
    before = rt.svc.xbooker.organization()
    return Change(before, rt.svc.xbooker.update_organization(args["fields"]))


def members_list(rt: Runtime, inv: Invocation, args: dict) -> MemberPage:
    return rt.svc.xbooker.list_members(
        page=args.get("page", 1),
        limit=MEMBERS_PAGE,
        role=args.get("role"),
        query=args.get("search"),
    )


def members_show(rt: Runtime, inv: Invocation, args: dict) -> Member:
    return resolve_member(rt.svc.xbooker, args["member"])


def members_add(rt: Runtime, inv: Invocation, args: dict) -> Member:
    return rt.svc.xbooker.add_member(args["email"], args.get("role", "member"), args.get("name"))


def members_role(rt: Runtime, inv: Invocation, args: dict) -> Change:
    before = resolve_member(rt.svc.xbooker, args["member"])
    return Change(before, rt.svc.xbooker.change_member_role(before.id, args["role"]))


def members_remove(rt: Runtime, inv: Invocation, args: dict) -> Member:
    target = resolve_member(rt.svc.xbooker, args["member"])
    return rt.svc.xbooker.remove_member(target.id)


def access_list(rt: Runtime, inv: Invocation, args: dict) -> list[Grant]:
    return rt.svc.allowlist.grants()


# Appends an audit row inside the caller's transaction (Services.audit_in).
AuditIn = Callable[[sqlite_utils.Database, audit.Entry], int]


def _args(reason: str | None, **args: str) -> dict:
    """The arguments an access change records, with its reason when one was given."""
    return {**args, "reason": reason} if reason else args


def grant_access(
    allow: AllowList,
    audit_in: AuditIn,
    inv: Invocation,
    user: str,
    role: str,
    reason: str | None = None,
) -> Change:
    """The one way a bot role is given, from Slack, an approval or the shell: the grant
    and its audit row (actor, source, previous role, reason) in one transaction."""
    detail = {"command": "access grant", "args": _args(reason, user=user, role=role)}

    def record(db: sqlite_utils.Database, previous: str | None) -> None:
        audit_in(db, inv.entry("access grant", "succeeded", {**detail, "was": previous}))

    return Change(allow.grant(user, role, inv.actor, record), role)


def revoke_access(
    allow: AllowList, audit_in: AuditIn, inv: Invocation, user: str, reason: str | None = None
) -> Change:
    """The one way a bot role is taken away; see :func:`grant_access`."""
    detail = {"command": "access revoke", "args": _args(reason, user=user)}

    def record(db: sqlite_utils.Database, previous: str | None) -> None:
        audit_in(db, inv.entry("access revoke", "succeeded", {**detail, "was": previous}))

    return Change(allow.revoke(user, inv.actor, record), None)


def access_grant(rt: Runtime, inv: Invocation, args: dict) -> Change:
    svc = rt.svc
    return grant_access(
        svc.allowlist, svc.audit_in, inv, args["user"], args["role"], args.get("reason")
    )


def access_revoke(rt: Runtime, inv: Invocation, args: dict) -> Change:
    svc = rt.svc
    return revoke_access(svc.allowlist, svc.audit_in, inv, args["user"], args.get("reason"))


@dataclass(frozen=True)
class Status:
    version: str
    reachable: bool
    xbooker_error: str | None
    tokens: dict
    pending_approvals: int
    database: str
    role: str | None
    warnings: list[str]


def warnings(svc: Services) -> list[str]:
    """Configuration that works but will not do what its owner expects."""
    out: list[str] = []
    s = svc.settings
    if s.audit_key is None:
        out.append(
            "XBOOKER_BOT_AUDIT_KEY is not set: the audit chain only detects accidental "
            "damage, not deliberate edits"
        )
    if s.require_approval and s.approvals_channel is None:
        out.append("commands need approval but XBOOKER_BOT_APPROVALS_CHANNEL is not set")
    admins = len(svc.allowlist.admins())
    # The requester is never an approver, so a quorum of N needs N + 1 admins.
    if admins < s.approvals_needed + 1:
        out.append(
            f"approvals need {s.approvals_needed} admin(s) other than the requester, "
            f"but only {admins} admin(s) exist"
        )
    return out


def status(rt: Runtime, inv: Invocation, args: dict) -> Status:
    try:
        rt.svc.xbooker.organization()
        reachable, problem = True, None
    except errors.XBookerError as exc:
        reachable, problem = False, exc.message
    pending = approvals_store.count_pending(rt.svc.store, rt.svc.team_id)
    return Status(
        version=__version__,
        reachable=reachable,
        xbooker_error=problem,
        tokens=rt.svc.xbooker.tokens.state(),
        pending_approvals=pending,
        database=str(rt.svc.settings.db_path),
        role=rt.svc.allowlist.role_of(inv.user_id),
        warnings=warnings(rt.svc),
    )


def approvals_list(rt: Runtime, inv: Invocation, args: dict):
    return rt.approvals.list_reply(args.get("page", 1))


def approvals_approve(rt: Runtime, inv: Invocation, args: dict):
    return rt.approvals.decide(inv, args["id"], "approve", args.get("reason"))


def approvals_reject(rt: Runtime, inv: Invocation, args: dict):
    return rt.approvals.decide(inv, args["id"], "reject", args.get("reason"))


def approvals_cancel(rt: Runtime, inv: Invocation, args: dict):
    return rt.approvals.cancel(inv, args["id"], args.get("reason"))


def approvals_resolve(rt: Runtime, inv: Invocation, args: dict):
    return rt.approvals.resolve(inv, args["id"], args["resolution"], args.get("reason"))


def audit_show(rt: Runtime, inv: Invocation, args: dict) -> audit.Page:
    return audit.page(rt.svc.store, args.get("count", 20), args.get("page", 1), args.get("last"))
