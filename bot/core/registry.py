"""The command registry: one declarative table that parsing, help, authorization,
approvals and rendering all read.

Each entry declares everything about its command: words, typed arguments (every
command that changes something takes a ``reason``), the bot role it needs, whether
it writes, the X Booker operation it performs, the function that runs it and the
renderer, its help, whether it needs team approval by default, how it is proposed
and applied when it does (its :class:`~bot.core.proposals.Proposer`), and which
arguments raise privileges (so that it needs approval whatever the settings say).
:func:`check` and :func:`check_reasons` run at start-up, so a gap in the table, or
a setting naming a command that does not exist, cannot be approved or has nothing
to give a reason for, stops the bot instead of failing on the first use.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import DEFAULT_REQUIRE_APPROVAL
from bot.core import actions, proposals, render
from bot.core import params as p
from bot.core.proposals import Proposer
from bot.core.roles import ROLES, at_least
from bot.xbooker.operations import OPERATIONS


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    params: tuple[p.Param, ...]
    role: str
    summary: str
    example: str
    run: Callable[..., Any] | None
    renderer: Callable[..., Any] | None
    operation: str | None = None  # the X Booker operation, if it calls one that writes or reads
    writes: bool = False  # changes X Booker or the bot's own state
    approval: bool = False  # needs team approval by default
    proposal: Proposer | None = None  # how it becomes a request; None: it cannot be approved
    # The privilege these arguments grant ("X Booker role owner"), if any: such a
    # command always needs approval.
    privileged: Callable[[dict], str | None] | None = None
    aliases: tuple[tuple[str, ...], ...] = ()

    @property
    def name(self) -> str:
        return " ".join(self.words)

    @property
    def usage(self) -> str:
        return " ".join([self.name, *(param.usage() for param in self.params)])

    @property
    def shareable(self) -> bool:
        """``--share`` posts the answer in the channel: only what any viewer may see and
        what comes from X Booker, never the allow-list, the audit log or bot internals."""
        return self.role == "viewer" and self.operation is not None and not self.writes


PRIVILEGED_X_BOOKER_ROLES = ("owner", "admin")


def _privileged_member(args: dict) -> str | None:
    role = args.get("role")
    return f"X Booker role {role}" if role in PRIVILEGED_X_BOOKER_ROLES else None


def _privileged_grant(args: dict) -> str | None:
    return "bot role admin" if args.get("role") == "admin" else None


def _cmd(
    words: str,
    params: list[p.Param],
    role: str,
    summary: str,
    example: str,
    run=None,
    renderer=None,
    **kw,
) -> Command:
    return Command(tuple(words.split()), tuple(params), role, summary, example, run, renderer, **kw)


COMMANDS: tuple[Command, ...] = (
    _cmd(
        "help",
        [p.topic()],
        "viewer",
        "what you can run, or one command's usage",
        "help members add",
    ),
    _cmd(
        "org show",
        [],
        "viewer",
        "show the organization",
        "org",
        actions.org_show,
        render.org_show,
        operation="show organization",
        aliases=(("org",),),
    ),
    _cmd(
        "org update",
        [p.org_fields(), p.reason_option()],
        "operator",
        "change the organization's name, email, phone, website, address or timezone",
        'org update name="Harbour Lane Ltd" timezone=Europe/London',
        actions.org_update,
        render.org_update,
        operation="update organization",
        writes=True,
        approval=True,
        proposal=proposals.ORG_UPDATE,
    ),
    _cmd(
        "members list",
        [p.role_filter(), p.page(), p.search()],
        "viewer",
        "list members, optionally by X Booker role or matching text",
        "members list role=admin",
        actions.members_list,
        render.members_list,
        operation="list members",
    ),
    _cmd(
        "members show",
        [p.member()],
        "viewer",
        "show one member",
        "members show bob@x.example",
        actions.members_show,
        render.members_show,
        operation="show member",
    ),
    _cmd(
        "members add",
        [p.email(), p.xb_role(required=False), p.full_name(), p.reason_option()],
        "operator",
        "add a member (X Booker role defaults to member)",
        'members add bob@x.example member name="Bob Smith"',
        actions.members_add,
        render.members_add,
        operation="add member",
        writes=True,
        proposal=proposals.MEMBERS_ADD,
        privileged=_privileged_member,
    ),
    _cmd(
        "members role",
        [p.member(), p.xb_role(), p.reason_option()],
        "operator",
        "change a member's X Booker role",
        "members role bob@x.example admin",
        actions.members_role,
        render.members_role,
        operation="change member role",
        writes=True,
        approval=True,
        proposal=proposals.MEMBERS_ROLE,
        privileged=_privileged_member,
    ),
    _cmd(
        "members remove",
        [p.member(), p.reason_option()],
        "operator",
        "remove a member",
        "members remove bob@x.example",
        actions.members_remove,
        render.members_remove,
        operation="remove member",
        writes=True,
        approval=True,
        proposal=proposals.MEMBERS_REMOVE,
    ),
    _cmd(
        "access list",
        [],
        "admin",
        "list who has which bot role",
        "access list",
        actions.access_list,
        render.access_list,
    ),
    _cmd(
        "access grant",
        [p.slack_user(), p.bot_role(), p.reason_option()],
        "admin",
        "give someone a bot role (viewer, operator or admin)",
        "access grant @alice operator",
        actions.access_grant,
        render.access_grant,
        writes=True,
        proposal=proposals.ACCESS_GRANT,
        privileged=_privileged_grant,
    ),
    _cmd(
        "access revoke",
        [p.slack_user(), p.reason_option()],
        "admin",
        "take someone's bot role away",
        "access revoke @alice",
        actions.access_revoke,
        render.access_revoke,
        writes=True,
        proposal=proposals.ACCESS_REVOKE,
    ),
    _cmd(
        "approvals list",
        [p.page()],
        "operator",
        "list open approval requests",
        "approvals",
        actions.approvals_list,
        render.as_is,
        aliases=(("approvals",),),
    ),
    _cmd(
        "approvals approve",
        [p.request_id(), p.reason()],
        "admin",
        "approve a request",
        "approvals approve 42",
        actions.approvals_approve,
        render.as_is,
        writes=True,
    ),
    _cmd(
        "approvals reject",
        [p.request_id(), p.reason()],
        "admin",
        "reject a request",
        "approvals reject 42 not now",
        actions.approvals_reject,
        render.as_is,
        writes=True,
    ),
    _cmd(
        "approvals cancel",
        [p.request_id(), p.reason()],
        "operator",
        "cancel your own request",
        "approvals cancel 42",
        actions.approvals_cancel,
        render.as_is,
        writes=True,
    ),
    _cmd(
        "approvals resolve",
        [p.request_id(), p.resolution(), p.reason_option()],
        "admin",
        "settle a request whose outcome is unknown",
        "approvals resolve 42 succeeded",
        actions.approvals_resolve,
        render.as_is,
        writes=True,
    ),
    _cmd(
        "audit",
        [p.count(), p.page(), p.last_row()],
        "admin",
        "show the latest audit log rows, a page at a time",
        "audit 20",
        actions.audit_show,
        render.audit_rows,
    ),
    _cmd(
        "status",
        [],
        "viewer",
        "version, X Booker and token health, warnings",
        "status",
        actions.status,
        render.status,
    ),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
BY_WORDS: dict[tuple[str, ...], Command] = {}
for _command in COMMANDS:
    for _words in (_command.words, *_command.aliases):
        BY_WORDS[_words] = _command


class RegistryError(Exception):
    """The table or a setting that names commands is inconsistent."""


def check(require_approval: tuple[str, ...]) -> None:
    """Refuse to start with an entry lacking a role or renderer, or an approval
    setting naming no command (or one that changes nothing)."""
    for command in COMMANDS:
        if command.role not in ROLES:
            raise RegistryError(f"command '{command.name}' has no valid role")
        if command.name != "help" and (command.run is None or command.renderer is None):
            raise RegistryError(f"command '{command.name}' has no renderer")
        if command.operation is not None and command.operation not in OPERATIONS:
            raise RegistryError(f"command '{command.name}' names unknown operation")
        if (command.approval or command.privileged) and command.proposal is None:
            raise RegistryError(f"command '{command.name}' may need approval but has no proposer")
        if command.writes and not any(q.name == "reason" for q in command.params):
            raise RegistryError(f"command '{command.name}' changes something but takes no reason")
    defaults = {c.name for c in COMMANDS if c.approval}
    if defaults != set(DEFAULT_REQUIRE_APPROVAL):
        raise RegistryError("the registry's approval defaults disagree with the documented default")
    for entry in require_approval:
        command = _named("XBOOKER_BOT_REQUIRE_APPROVAL", entry)
        if command.proposal is None:
            approvable = ", ".join(c.name for c in COMMANDS if c.proposal is not None)
            raise RegistryError(
                f"XBOOKER_BOT_REQUIRE_APPROVAL: '{entry}' cannot be approved (only commands "
                f"that change X Booker or the allow-list can: {approvable})"
            )


def _named(setting: str, entry: str) -> Command:
    """The command a setting's entry names, or the error saying it names none."""
    command = BY_WORDS.get(tuple(entry.split()))
    if command is None:
        near = suggest(entry.split())
        hint = f" (did you mean '{near.name}'?)" if near else ""
        raise RegistryError(f"{setting}: '{entry}' is not a command{hint}")
    return command


# Decided with a button on a card or App Home, which cannot carry a typed reason.
CLICKED = ("approvals approve", "approvals cancel")


def check_reasons(require_reason: tuple[str, ...]) -> None:
    """Refuse to start with an XBOOKER_BOT_REQUIRE_REASON entry that is not a command, or
    names one that changes nothing (a lookup has nothing to justify)."""
    for entry in require_reason:
        command = _named("XBOOKER_BOT_REQUIRE_REASON", entry)
        if command.name in CLICKED:
            raise RegistryError(
                f"XBOOKER_BOT_REQUIRE_REASON: '{entry}' is mostly done with a button, which "
                "carries no reason (a rejection always asks for one in a form)"
            )
        if not command.writes:
            writers = ", ".join(c.name for c in COMMANDS if c.writes and c.name not in CLICKED)
            raise RegistryError(
                f"XBOOKER_BOT_REQUIRE_REASON: '{entry}' changes nothing, so it cannot require "
                f"a reason (only commands that change X Booker, the allow-list or a request "
                f"can: {writers})"
            )


def lookup(words: list[str]) -> tuple[Command, int] | None:
    """The command the leading words name, and how many words it used."""
    for size in (2, 1):
        command = BY_WORDS.get(tuple(w.lower() for w in words[:size]))
        if command is not None and len(words) >= size:
            return command, size
    return None


def suggest(words: list[str], role: str | None = None) -> Command | None:
    """The closest command the caller may run, for "did you mean"."""
    allowed = [c for c in COMMANDS if role is None or at_least(role, c.role)]
    names = {" ".join(w): c for c in allowed for w in (c.words, *c.aliases)}
    for size in (2, 1):
        phrase = " ".join(w.lower() for w in words[:size])
        match = difflib.get_close_matches(phrase, list(names), n=1, cutoff=0.6)
        if match:
            return names[match[0]]
    if words:
        first = words[0].lower()
        for command in allowed:  # "members frobnicate": any members command
            if command.words[0] == first:
                return command
    return None


def visible(role: str | None) -> list[Command]:
    return [c for c in COMMANDS if at_least(role, c.role)]
