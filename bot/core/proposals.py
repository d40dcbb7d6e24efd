"""How each approvable command is proposed and applied: resolve targets and read the
"from" values at request time, re-read them just before executing, then apply.

Targets are resolved once, when the request is made (an email becomes a member
id, checked against the member-id pattern then, not at execution), and the
request executes against that id. The "from" values are what approvers saw; if
they no longer hold at execution the request fails as changed since requested.
``apply`` returns what the command's own ``run`` returns, so the command's own
renderer shows the result whether it ran at once or after approval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.core import render
from bot.core.actions import Change, grant_access, resolve_member, revoke_access
from bot.core.context import Invocation, Services, UserError
from bot.core.params import MemberRef
from bot.core.replies import code, esc
from bot.xbooker import errors
from bot.xbooker.client import MEMBER_ID
from bot.xbooker.models import Member


@dataclass(frozen=True)
class Proposal:
    targets: dict
    lines: list[str]  # sanitised mrkdwn, one line per changed value
    before: dict | None  # the "from" values; None when X Booker refused the read
    read_error: str | None = None


@dataclass(frozen=True)
class Proposer:
    prepare: Callable[[Services, dict], Proposal]
    # The "from" values now (compared with the preview's) and the object they came from.
    current: Callable[[Services, dict, dict], tuple[dict, Any]]
    apply: Callable[[Services, Invocation, dict, dict, Any], Any]


def _member_ref(args: dict) -> MemberRef:
    ref = args["member"]
    return ref if isinstance(ref, MemberRef) else MemberRef(ref, "@" in ref)


def _checked(member: Member) -> Member:
    """A member id from X Booker is used in a URL later: refuse a bad one now."""
    if not MEMBER_ID.fullmatch(member.id):
        raise UserError(
            "X Booker returned a member id the bot cannot use safely "
            f"({len(member.id)} characters, outside letters, digits, '-' and '_')"
        )
    return member


def _member_target(svc: Services, args: dict, change: str) -> tuple[Member | None, Proposal]:
    """The member a change targets, or a proposal saying their state is unreadable (a
    member id is a target even then; an email is not)."""
    ref = _member_ref(args)
    try:
        member = _checked(resolve_member(svc.xbooker, ref))
    except errors.XBookerError as exc:
        if ref.is_email or isinstance(exc, errors.NotFoundError):
            raise
        line = f"{code(ref.value)}: {change} (current state unreadable)"
        return None, Proposal(
            {"member_id": ref.value, "email": ref.value}, [line], None, exc.message
        )
    return member, Proposal({"member_id": member.id, "email": member.email}, [], None)


def _member_now(svc: Services, args: dict, targets: dict) -> tuple[dict, Any]:
    member = svc.xbooker.member(targets["member_id"])
    return {"role": member.role}, member


# -- members role ---------------------------------------------------------------------


def _role_prepare(svc: Services, args: dict) -> Proposal:
    member, unreadable = _member_target(svc, args, f"X Booker role → {code(args['role'])}")
    if member is None:
        return unreadable
    line = f"{code(member.email)}: X Booker role {code(member.role)} → {code(args['role'])}"
    return Proposal(unreadable.targets, [line], {"role": member.role})


def _role_apply(svc: Services, inv: Invocation, args: dict, targets: dict, now: Any) -> Change:
    return Change(now, svc.xbooker.change_member_role(targets["member_id"], args["role"]))


# -- members remove ---------------------------------------------------------------------


def _remove_prepare(svc: Services, args: dict) -> Proposal:
    member, unreadable = _member_target(svc, args, "remove")
    if member is None:
        return unreadable
    lines = [
        f"remove {code(member.email)} from the organization",
        f"name: {code(member.name or '(no name)')}",
        f"X Booker role: {code(member.role)}",
    ]
    return Proposal(unreadable.targets, lines, {"role": member.role})


def _remove_apply(svc: Services, inv: Invocation, args: dict, targets: dict, now: Any) -> Member:
    return svc.xbooker.remove_member(targets["member_id"])


# -- members add -------------------------------------------------------------------------


def _exists(svc: Services, email: str) -> bool:
    try:
        resolve_member(svc.xbooker, MemberRef(email, True))
    except UserError:
        return False
    return True


def _add_prepare(svc: Services, args: dict) -> Proposal:
    lines = [
        f"add {code(args['email'])} to the organization",
        f"X Booker role: {code(args.get('role', 'member'))}",
    ]
    if args.get("name"):
        lines.append(f"name: {code(args['name'])}")
    try:
        before = {"exists": _exists(svc, args["email"])}
    except errors.XBookerError as exc:
        return Proposal({}, lines, None, exc.message)
    if before["exists"]:
        raise UserError(f"{args['email']} is already a member; use `members role` instead")
    return Proposal({}, lines, before)


def _add_now(svc: Services, args: dict, targets: dict) -> tuple[dict, Any]:
    return {"exists": _exists(svc, args["email"])}, None


def _add_apply(svc: Services, inv: Invocation, args: dict, targets: dict, now: Any) -> Member:
    return svc.xbooker.add_member(args["email"], args.get("role", "member"), args.get("name"))


# -- org update ---------------------------------------------------------------------------


def _org_prepare(svc: Services, args: dict) -> Proposal:
    fields = args["fields"]
    try:
        org = svc.xbooker.organization()
    except errors.XBookerError as exc:
        lines = [f"{k}: (current value unreadable) → {code(v)}" for k, v in fields.items()]
        return Proposal({}, lines, None, exc.message)
    before = {k: getattr(org, k) for k in fields}
    lines = [f"{k}: {code(before[k])} → {code(v)}" for k, v in fields.items()]
    return Proposal({}, lines, before)


def _org_now(svc: Services, args: dict, targets: dict) -> tuple[dict, Any]:
    org = svc.xbooker.organization()
    return {k: getattr(org, k) for k in args["fields"]}, org


def _org_apply(svc: Services, inv: Invocation, args: dict, targets: dict, now: Any) -> Change:
    return Change(now, svc.xbooker.update_organization(args["fields"]))


# -- access grant / revoke ------------------------------------------------------------------


def _access_prepare(svc: Services, args: dict) -> Proposal:
    role = svc.allowlist.role_of(args["user"])
    to = args.get("role", "none")
    line = f"{render.user(args['user'])}: bot role {esc(role or 'none')} → {esc(to)}"
    return Proposal({}, [line], {"role": role})


def _access_now(svc: Services, args: dict, targets: dict) -> tuple[dict, Any]:
    return {"role": svc.allowlist.role_of(args["user"])}, None


def _grant_apply(svc: Services, inv: Invocation, args: dict, targets: dict, now: Any) -> Change:
    user, role, reason = args["user"], args["role"], args.get("reason")
    return grant_access(svc.allowlist, svc.audit_in, inv, user, role, reason)


def _revoke_apply(svc: Services, inv: Invocation, args: dict, targets: dict, now: Any) -> Change:
    return revoke_access(svc.allowlist, svc.audit_in, inv, args["user"], args.get("reason"))


MEMBERS_ROLE = Proposer(_role_prepare, _member_now, _role_apply)
MEMBERS_REMOVE = Proposer(_remove_prepare, _member_now, _remove_apply)
MEMBERS_ADD = Proposer(_add_prepare, _add_now, _add_apply)
ORG_UPDATE = Proposer(_org_prepare, _org_now, _org_apply)
ACCESS_GRANT = Proposer(_access_prepare, _access_now, _grant_apply)
ACCESS_REVOKE = Proposer(_access_prepare, _access_now, _revoke_apply)
