"""What each command does, given parsed arguments: X Booker calls and local changes.

Functions here return plain results; turning them into replies is
:mod:`bot.core.render`'s job, and deciding whether they may run at all is the
engine's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import __version__
from bot.core.allowlist import Grant
from bot.core.context import Invocation, Services, UserError
from bot.core.params import MemberRef
from bot.store import audit
from bot.xbooker import errors
from bot.xbooker.client import XBookerClient
from bot.xbooker.models import Member, MemberPage, Organization


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


def org_show(svc: Services, inv: Invocation, args: dict) -> Organization:
    return svc.xbooker.organization()


def org_update(svc: Services, inv: Invocation, args: dict) -> Change:
    before = svc.xbooker.organization()
    return Change(before, svc.xbooker.update_organization(args["fields"]))


def members_list(svc: Services, inv: Invocation, args: dict) -> MemberPage:
    return svc.xbooker.list_members(
        page=args.get("page", 1), role=args.get("role"), query=args.get("search")
    )


def members_show(svc: Services, inv: Invocation, args: dict) -> Member:
    return resolve_member(svc.xbooker, args["member"])


def members_add(svc: Services, inv: Invocation, args: dict) -> Member:
    return svc.xbooker.add_member(args["email"], args.get("role", "member"), args.get("name"))


def members_role(svc: Services, inv: Invocation, args: dict) -> Change:
    before = resolve_member(svc.xbooker, args["member"])
    return Change(before, svc.xbooker.change_member_role(before.id, args["role"]))


def members_remove(svc: Services, inv: Invocation, args: dict) -> Member:
    target = resolve_member(svc.xbooker, args["member"])
    return svc.xbooker.remove_member(target.id)


def access_list(svc: Services, inv: Invocation, args: dict) -> list[Grant]:
    return svc.allowlist.grants()


def access_grant(svc: Services, inv: Invocation, args: dict) -> Change:
    user, role = args["user"], args["role"]
    entry = inv.entry("access grant", "succeeded", {"user": user, "role": role})
    hook = lambda db: svc.audit_in(db, entry)  # noqa: E731
    previous = svc.allowlist.grant(user, role, inv.actor, hook)
    return Change(previous, role)


def access_revoke(svc: Services, inv: Invocation, args: dict) -> Change:
    user = args["user"]
    entry = inv.entry("access revoke", "succeeded", {"user": user})
    hook = lambda db: svc.audit_in(db, entry)  # noqa: E731
    return Change(svc.allowlist.revoke(user, inv.actor, hook), None)


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


def status(svc: Services, inv: Invocation, args: dict) -> Status:
    try:
        svc.xbooker.organization()
        reachable, problem = True, None
    except errors.XBookerError as exc:
        reachable, problem = False, exc.message
    pending = svc.store.query_one("SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending'")
    return Status(
        version=__version__,
        reachable=reachable,
        xbooker_error=problem,
        tokens=svc.xbooker.tokens.state(),
        pending_approvals=pending["n"] if pending else 0,
        database=str(svc.settings.db_path),
        role=svc.allowlist.role_of(inv.user_id),
        warnings=warnings(svc),
    )


def approvals_list(svc: Services, inv: Invocation, args: dict):
    return svc.approvals.list_reply()


def approvals_approve(svc: Services, inv: Invocation, args: dict):
    return svc.approvals.approve(args["id"], inv, args.get("reason"))


def approvals_reject(svc: Services, inv: Invocation, args: dict):
    return svc.approvals.reject(args["id"], inv, args.get("reason"))


def approvals_cancel(svc: Services, inv: Invocation, args: dict):
    return svc.approvals.cancel(args["id"], inv, args.get("reason"))


def approvals_resolve(svc: Services, inv: Invocation, args: dict):
    return svc.approvals.resolve(args["id"], inv, args["resolution"])


def audit_show(svc: Services, inv: Invocation, args: dict) -> list[dict]:
    return audit.rows(svc.store, args.get("count", 20))
