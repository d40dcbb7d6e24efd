"""One path for every command, whatever the front end:

decoded text → parse (registry) → authorize (allow-list) → approval gate →
execute (X Booker client) → render → reply, with an audit row for each.

The work is split in two so that Slack can be answered at once: :meth:`plan`
does only local reads (the grant and the rate-limit counts, the registry) and
decides whether the answer is already known (help, a usage error, a refusal);
:meth:`execute` does the writes and the network calls. The console and tests call
:meth:`handle`, which does both.

Both halves run inside the command's log scope (its correlation id and name on
every log line), and :meth:`execute` applies the per-user rate limits
(:mod:`bot.core.ratelimit`) to commands that would reach X Booker or open an
approval request, before anything is sent.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field

from bot import logs
from bot.config import ConfigError
from bot.core import ratelimit, registry, render
from bot.core.allowlist import AccessError
from bot.core.approvals import Approvals
from bot.core.context import Invocation, Runtime, Services, UserError
from bot.core.params import jsonable
from bot.core.parser import Parsed, ParseError, parse
from bot.core.ratelimit import Limiter, RateLimited
from bot.core.replies import Reply, chunks, code, esc, section
from bot.core.roles import at_least
from bot.core.text import one_line
from bot.store import rates
from bot.xbooker import errors
from bot.xbooker.client import InvalidArgument

log = logging.getLogger(__name__)
TYPED_WORDS_KEPT = 6  # of input that did not parse, how many words the audit row keeps


@dataclass
class Plan:
    inv: Invocation
    role: str | None
    parsed: Parsed | None = None
    reply: Reply | None = None  # known without work: help, usage, refusal
    outcome: str = "allowed"
    detail: dict = field(default_factory=dict)
    # The grant and rate-limit counts as read; set on every plan that gets to execute.
    standing: rates.Standing | None = None


def typed(text: str) -> str:
    """The first words of what was typed, one line, for the audit row of input that
    did not get as far as a command (bounded: it is the user's text, not ours)."""
    return one_line(" ".join(text.split()[:TYPED_WORDS_KEPT]))[:120]


class Engine:
    def __init__(self, services: Services, approvals: Approvals) -> None:
        self.svc = services
        self.runtime = Runtime(services, approvals)
        settings = services.settings
        registry.check(settings.require_approval)
        registry.check_reasons(settings.require_reason)
        if settings.require_approval and settings.approvals_channel is None:
            raise ConfigError(
                "XBOOKER_BOT_APPROVALS_CHANNEL",
                "is required while commands need approval (XBOOKER_BOT_REQUIRE_APPROVAL)",
            )
        self.limits = Limiter(services)
        metrics = services.metrics
        services.xbooker.observe(metrics)
        services.xbooker.tokens.on_reissue.append(metrics.reissued)
        metrics.watch_approvals(services.store, services.team_id, services.clock)

    @property
    def approvals(self) -> Approvals:
        return self.runtime.approvals

    # -- plan: local reads only -------------------------------------------------

    def plan(self, inv: Invocation) -> Plan:
        with logs.command_scope(inv.correlation, None):
            return self._planned(inv)

    def _planned(self, inv: Invocation) -> Plan:
        try:
            return self._plan(inv)
        except sqlite3.Error as exc:  # the grant could not be read: refuse, clearly
            log.error("the bot's database failed while planning: %s (ref %s)", exc, inv.correlation)
            self.svc.metrics.store_fault(exc)
            fault = render.store_fault(inv, exc, applied=False)
            return Plan(inv, None, reply=fault, outcome="failed", detail={"typed": typed(inv.text)})

    def _plan(self, inv: Invocation) -> Plan:
        if inv.team_id != self.svc.team_id:
            return Plan(
                inv,
                None,
                reply=Reply.note(":no_entry: This xbooker-bot serves another Slack workspace."),
                outcome="refused",
                detail={"reason": "other workspace", **self._attempted(inv.text)},
            )
        standing = self.limits.standing(inv)
        role = self.svc.allowlist.role_from(inv.user_id, standing.role)
        if role is None:
            return Plan(
                inv,
                None,
                reply=self._refusal("viewer", None, "/xbooker"),
                outcome="refused",
                detail={"reason": "no bot role", **self._attempted(inv.text)},
            )
        try:
            parsed = parse(inv.text, self.svc.settings.require_reason)
        except ParseError as exc:
            if exc.command is not None and not at_least(role, exc.command.role):
                # No usage lessons for commands the caller may not run.
                return Plan(
                    inv,
                    role,
                    reply=self._refusal(exc.command.role, role, exc.command.name),
                    outcome="refused",
                    detail={
                        "command": exc.command.name,
                        "typed": typed(inv.text),
                        "reason": f"needs bot role {exc.command.role}",
                    },
                )
            return Plan(
                inv,
                role,
                reply=self._usage(exc, role),
                outcome="invalid",
                detail={"error": str(exc), "typed": typed(inv.text)},
            )
        command = parsed.command
        detail = {"command": command.name, "args": jsonable(parsed.args)}
        if not at_least(role, command.role):
            return Plan(
                inv,
                role,
                parsed,
                self._refusal(command.role, role, command.name),
                "refused",
                {**detail, "reason": f"needs bot role {command.role}"},
            )
        if command.name == "help":
            return Plan(
                inv, role, parsed, self._help(role, parsed.args.get("topic")), "answered", detail
            )
        return Plan(inv, role, parsed, detail=detail, standing=standing)

    # -- execute: writes and network ------------------------------------------------

    def execute(self, plan: Plan) -> Reply:
        """Run the plan. A store that fails (locked past its busy timeout, a full disk, an
        I/O error) before anything reached X Booker gets one clear "nothing was changed"."""
        with logs.command_scope(plan.inv.correlation, plan.detail.get("command")):
            if plan.reply is not None:
                return self._answered(plan)
            try:
                return self._executed(plan)
            finally:
                elapsed = time.monotonic() - plan.inv.started
                self.svc.metrics.command_seconds.observe(elapsed)

    def _answered(self, plan: Plan) -> Reply:
        """A plan whose reply the ack gave: only its audit row is left to write."""
        inv, reply = plan.inv, plan.reply
        assert reply is not None
        try:
            action = plan.detail.get("command", "(not a command)")
            self._audit(inv, action, plan.outcome, plan.detail)
        except sqlite3.Error as exc:  # the answer stands; only its record is missing
            log.error(
                "could not audit a %s command: %s (ref %s)", plan.outcome, exc, inv.correlation
            )
        log.info("command by %s: %s (ref %s)", inv.user_id, plan.outcome, inv.correlation)
        return reply

    def _executed(self, plan: Plan) -> Reply:
        inv = plan.inv
        try:
            return self._limited(plan)
        except sqlite3.Error as exc:
            log.error("the bot's database failed: %s (ref %s)", exc, inv.correlation)
            self.svc.metrics.store_fault(exc)
            return render.store_fault(inv, exc, applied=False)

    def _limited(self, plan: Plan) -> Reply:
        """The rate limits, then the command: an approval request counts against
        XBOOKER_BOT_REQUEST_RATE, and anything that reaches X Booker (a request's
        preview does too) against XBOOKER_BOT_USER_RATE."""
        assert plan.parsed is not None
        command = plan.parsed.command
        gated = self._needs_approval(plan.parsed)
        kinds = ("request",) if gated else ()
        kinds += ("xbooker",) if command.operation is not None else ()
        assert plan.standing is not None
        try:
            with self.limits.hold(plan.inv, kinds, plan.standing):
                return self._run(plan, gated)
        except RateLimited as limited:
            inv = plan.inv
            self.svc.metrics.rate_limited.labels(limited.limit.kind).inc()
            log.info(
                "command %s by %s refused by a rate limit: retry in %d s (ref %s)",
                command.name,
                inv.user_id,
                limited.retry_after,
                inv.correlation,
            )
            refused = {**plan.detail, "reason": limited.reason, "retry_after": limited.retry_after}
            self._audit(inv, command.name, "refused", refused)
            return Reply.note(limited.text)

    def _run(self, plan: Plan, gated: bool) -> Reply:
        inv = plan.inv
        assert plan.parsed is not None
        command, args = plan.parsed.command, plan.parsed.args
        detail = plan.detail
        if gated:
            ratelimit.reaching()  # preparing a request reads X Booker
            return self.approvals.request(inv, command, args)
        sends_write = command.writes and command.operation is not None
        if sends_write:
            self._audit(inv, command.name, "sending", detail)
        try:
            ratelimit.reaching()
            result = command.run(self.runtime, inv, args)
        except errors.OutcomeUnknownError as exc:
            unknown = {**detail, "status": exc.status, "message": exc.message}
            log.warning(
                "command %s: outcome unknown: %s (ref %s)", command.name, exc, inv.correlation
            )
            return self._recorded(inv, command.name, "outcome unknown", unknown, sent=True) or (
                render.xbooker_error(inv, command.name, exc)
            )
        except errors.XBookerError as exc:
            failure = {**detail, "status": exc.status, "message": exc.message}
            log.warning(
                "command %s by %s failed: %s (ref %s)",
                command.name,
                inv.user_id,
                exc,
                inv.correlation,
            )
            self._audit(inv, command.name, "failed", failure)
            return render.xbooker_error(inv, command.name, exc)
        except (UserError, AccessError, InvalidArgument) as exc:
            self._audit(inv, command.name, "failed", {**detail, "message": str(exc)})
            return render.user_error(str(exc))
        except sqlite3.Error:
            raise  # nothing reached X Booker: execute() answers it
        except Exception:
            log.exception(
                "command %s failed inside the bot (ref %s)", command.name, inv.correlation
            )
            self._audit(inv, command.name, "failed", {**detail, "message": "internal error"})
            return render.internal_error(inv)
        reply = command.renderer(inv, args, result)
        if sends_write:
            fault = self._recorded(inv, command.name, "succeeded", detail, sent=True)
            if fault is not None:
                return fault
        elif not command.writes:
            try:
                self._audit(inv, command.name, "succeeded", detail)
            except sqlite3.Error as exc:  # the answer is still worth showing
                log.error("could not audit %s: %s (ref %s)", command.name, exc, inv.correlation)
                reply = reply.with_note(render.unrecorded(inv, exc))
        if plan.parsed.share:
            reply = reply.shared_by(render.user(inv.user_id))
        log.info("command %s by %s: succeeded (ref %s)", command.name, inv.user_id, inv.correlation)
        return reply

    def _recorded(
        self, inv: Invocation, action: str, outcome: str, detail: dict, *, sent: bool
    ) -> Reply | None:
        """Audit the outcome of something X Booker may have done; if the store fails now,
        the reply says that X Booker has it and the bot's record does not."""
        try:
            self._audit(inv, action, outcome, detail)
        except sqlite3.Error as exc:
            log.error("could not record %s %s: %s (ref %s)", action, outcome, exc, inv.correlation)
            self.svc.metrics.store_fault(exc)
            return render.store_fault(inv, exc, applied=sent)
        return None

    def handle(self, inv: Invocation) -> Reply:
        return self.execute(self.plan(inv))

    # -- approval gate -----------------------------------------------------------------

    def _needs_approval(self, parsed: Parsed) -> bool:
        """Listed in XBOOKER_BOT_REQUIRE_APPROVAL, or these arguments raise privileges."""
        command = parsed.command
        if command.name in self.svc.settings.require_approval:
            return True
        return command.privileged is not None and command.privileged(parsed.args) is not None

    @staticmethod
    def _attempted(text: str) -> dict:
        """For a user without a role: the command they tried, or what they typed."""
        try:
            return {"command": parse(text).command.name, "typed": typed(text)}
        except ParseError as exc:
            command = {"command": exc.command.name} if exc.command else {}
            return {**command, "typed": typed(text)}

    # -- replies built without work -------------------------------------------------------

    def _who_grants(self, needed: str) -> str:
        admins = self.svc.allowlist.admins()
        if not admins:
            return (
                "No bot admin is set up yet: the operator can add one with "
                "`xbooker-bot access grant`."
            )
        shown = ", ".join(render.user(a) for a in admins[:5])
        return f"A bot admin ({shown}) can grant it with `/xbooker access grant @you {needed}`."

    def _refusal(self, needed: str, role: str | None, command: str) -> Reply:
        have = f"you have bot role *{role}*" if role else "you have no bot role"
        text = (
            f":no_entry: `{esc(command)}` needs bot role *{needed}*; {have}. "
            f"{self._who_grants(needed)}"
        )
        return Reply.note(text)

    def _usage(self, exc: ParseError, role: str) -> Reply:
        command = exc.command
        if command is None:
            near = registry.suggest(exc.words, role)
            if near is not None:
                text = (
                    f":grey_question: {esc(exc)}. Did you mean `{near.name}`?\n"
                    f"Usage: {code('/xbooker ' + near.usage)}"
                )
            else:
                text = f":grey_question: {esc(exc)}. Try {code('/xbooker help')}."
            return Reply.note(text)
        text = (
            f":grey_question: {esc(exc)}.\nUsage: {code('/xbooker ' + command.usage)}\n"
            f"Example: {code('/xbooker ' + command.example)}"
        )
        return Reply.note(text)

    def _help(self, role: str, topic: str | None) -> Reply:
        if topic:
            found = registry.lookup(topic.split())
            if found is None or not at_least(role, found[0].role):
                near = registry.suggest(topic.split(), role)
                hint = f" Did you mean `{near.name}`?" if near else ""
                return Reply.note(f"No command {code(topic)} that you can run.{hint}")
            c = found[0]
            text = (
                f"*{esc(c.name)}*: {esc(c.summary)}\nUsage: {code('/xbooker ' + c.usage)}\n"
                f"Example: {code('/xbooker ' + c.example)}\nNeeds bot role: {c.role}"
            )
            return Reply.note(text)
        lines = [f"*xbooker-bot*: what your bot role ({role}) can run"]
        lines += [f"• {code(c.usage)}: {esc(c.summary)}" for c in registry.visible(role)]
        lines.append(
            "Add `--share` to `org`, `members list` or `members show` to post the answer in "
            "the channel."
        )
        text = "\n".join(lines)
        return Reply(text, [section(t) for t in chunks(lines)])

    def _audit(self, inv: Invocation, action: str, outcome: str, detail: dict) -> None:
        self.svc.audit(inv.entry(action, outcome, {**detail, "ref": inv.correlation}))
