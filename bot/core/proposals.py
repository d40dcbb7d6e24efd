"""What an approval request will change: resolve targets and read the "from"
values at request time, re-read them just before executing, and apply.

One entry per command that can need approval. Targets are resolved once, when
the request is made (an email becomes a member id), and the request executes
against that id; the "from" values are what approvers saw, and if they no
longer hold at execution time the request fails as changed since requested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core import render
from bot.core.actions import resolve_member
from bot.core.context import Services, UserError
from bot.core.params import MemberRef
from bot.core.replies import code, esc
from bot.store import audit
from bot.xbooker import errors


@dataclass(frozen=True)
class Proposal:
    targets: dict
    lines: list[str]  # escaped mrkdwn, one per change
    before: dict | None  # the "from" values; None when X Booker refused the read
    read_error: str | None = None


def _member_ref(args: dict) -> MemberRef:
    ref = args["member"]
    return ref if isinstance(ref, MemberRef) else MemberRef(ref, "@" in ref)


# -- members role ---------------------------------------------------------------------


def _unreadable(ref: MemberRef, change: str, exc: errors.XBookerError) -> Proposal:
    """A member id is a target even when X Booker refuses the read; an email is not."""
    if ref.is_email or isinstance(exc, errors.NotFoundError):
        raise exc
    line = f"{code(ref.value)}: {change} (current state unreadable)"
    return Proposal({"member_id": ref.value, "email": ref.value}, [line], None, exc.message)


def _role_prepare(svc: Services, args: dict) -> Proposal:
    ref = _member_ref(args)
    try:
        member = resolve_member(svc.xbooker, ref)
    except errors.XBookerError as exc:
        return _unreadable(ref, f"X Booker role → {esc(args['role'])}", exc)
    line = f"{esc(member.email)}: X Booker role {esc(member.role)} → {esc(args['role'])}"
    return Proposal({"member_id": member.id, "email": member.email}, [line], {"role": member.role})


def _role_current(svc: Services, args: dict, targets: dict) -> dict:
    return {"role": svc.xbooker.member(targets["member_id"]).role}


def _role_apply(svc: Services, args: dict, targets: dict, by: str) -> str:
    after = svc.xbooker.change_member_role(targets["member_id"], args["role"])
    return f"{esc(after.email)} now has X Booker role {esc(after.role)}."


# -- members remove ---------------------------------------------------------------------


def _remove_prepare(svc: Services, args: dict) -> Proposal:
    ref = _member_ref(args)
    try:
        member = resolve_member(svc.xbooker, ref)
    except errors.XBookerError as exc:
        return _unreadable(ref, "remove", exc)
    name = esc(member.name) or "no name"
    line = f"remove {esc(member.email)} ({name}, X Booker role {esc(member.role)})"
    return Proposal({"member_id": member.id, "email": member.email}, [line], {"role": member.role})


def _remove_apply(svc: Services, args: dict, targets: dict, by: str) -> str:
    removed = svc.xbooker.remove_member(targets["member_id"])
    return f"Removed {esc(removed.email)} from the organization."


# -- members add -------------------------------------------------------------------------


def _exists(svc: Services, email: str) -> bool:
    try:
        resolve_member(svc.xbooker, MemberRef(email, True))
    except UserError:
        return False
    return True


def _add_prepare(svc: Services, args: dict) -> Proposal:
    role = args.get("role", "member")
    name = f" ({esc(args['name'])})" if args.get("name") else ""
    line = f"add {esc(args['email'])}{name} with X Booker role {esc(role)}"
    try:
        before = {"exists": _exists(svc, args["email"])}
    except errors.XBookerError as exc:
        return Proposal({}, [line], None, exc.message)
    if before["exists"]:
        raise UserError(f"{args['email']} is already a member; use `members role` instead")
    return Proposal({}, [line], before)


def _add_current(svc: Services, args: dict, targets: dict) -> dict:
    return {"exists": _exists(svc, args["email"])}


def _add_apply(svc: Services, args: dict, targets: dict, by: str) -> str:
    member = svc.xbooker.add_member(args["email"], args.get("role", "member"), args.get("name"))
    return f"Added {esc(member.email)} as {esc(member.role)} (status: {esc(member.status)})."


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


def _org_current(svc: Services, args: dict, targets: dict) -> dict:
    org = svc.xbooker.organization()
    return {k: getattr(org, k) for k in args["fields"]}


def _org_apply(svc: Services, args: dict, targets: dict, by: str) -> str:
    org = svc.xbooker.update_organization(args["fields"])
    return "Organization updated: " + ", ".join(
        f"{k} {code(getattr(org, k))}" for k in args["fields"]
    )


# -- access grant / revoke ------------------------------------------------------------------


def _access_prepare(svc: Services, args: dict) -> Proposal:
    role = svc.allowlist.role_of(args["user"])
    to = args.get("role", "no bot role")
    line = f"{render.user(args['user'])}: bot role {role or 'none'} → {to}"
    return Proposal({}, [line], {"role": role})


def _access_current(svc: Services, args: dict, targets: dict) -> dict:
    return {"role": svc.allowlist.role_of(args["user"])}


def _grant_apply(svc: Services, args: dict, targets: dict, by: str) -> str:
    user, role = args["user"], args["role"]
    entry = audit.Entry(
        by, "approval", "access grant", "succeeded", svc.team_id, None, {"user": user, "role": role}
    )
    svc.allowlist.grant(user, role, by, lambda db: svc.audit_in(db, entry))
    return f"{render.user(user)} now has bot role {role}."


def _revoke_apply(svc: Services, args: dict, targets: dict, by: str) -> str:
    user = args["user"]
    entry = audit.Entry(
        by, "approval", "access revoke", "succeeded", svc.team_id, None, {"user": user}
    )
    svc.allowlist.revoke(user, by, lambda db: svc.audit_in(db, entry))
    return f"{render.user(user)} no longer has a bot role."


@dataclass(frozen=True)
class Kind:
    prepare: Callable[[Services, dict], Proposal]
    current: Callable[[Services, dict, dict], dict]
    apply: Callable[[Services, dict, dict, str], str]


KINDS: dict[str, Kind] = {
    "members role": Kind(_role_prepare, _role_current, _role_apply),
    "members remove": Kind(_remove_prepare, _role_current, _remove_apply),
    "members add": Kind(_add_prepare, _add_current, _add_apply),
    "org update": Kind(_org_prepare, _org_current, _org_apply),
    "access grant": Kind(_access_prepare, _access_current, _grant_apply),
    "access revoke": Kind(_access_prepare, _access_current, _revoke_apply),
}
