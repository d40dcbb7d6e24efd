"""Team approvals: the state machine that turns a risky command into a request that
other admins decide on, and executes it at most once.

    pending -> approved -> executing -> succeeded | failed | (outcome unknown)
    pending -> rejected | cancelled | expired

Every transition is a compare-and-set (:func:`bot.store.approvals.move`) in a
``BEGIN IMMEDIATE`` transaction that also writes its audit row. The decision
that reaches the quorum also claims the request for execution in the same
transaction (approved -> executing), so no crash can leave an approved request
that nobody will run; the X Booker call then happens outside any transaction,
and its outcome is recorded in a second one. Whatever goes wrong after the claim
flags the request "outcome unknown" at once, and the sweeper flags what a dead
thread or process left; ``approvals resolve`` settles any request that is not
final and not being executed. Every user action ends in an audit row, refusals
included: a refusal is raised as :class:`Refused` and recorded in one place.

The sweeper also reminds approvers: a thread reply on the card of a request still
pending half-way through its lifetime, and another an hour before it expires. Each
reminder is claimed with a compare-and-set on the request's row before it is
posted, so several processes or a restart never send one twice (and a post that
fails is logged, not retried). Whoever must know that a request changed (App Home)
subscribes with :meth:`Approvals.subscribe`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

import sqlite_utils

from bot.core import cards, registry, render
from bot.core.allowlist import AccessError
from bot.core.context import Invocation, Services, UserError
from bot.core.params import jsonable
from bot.core.replies import Reply, esc
from bot.core.roles import at_least
from bot.store import approvals as store
from bot.store import audit, holders
from bot.store.approvals import Request
from bot.xbooker import errors
from bot.xbooker.client import InvalidArgument

log = logging.getLogger(__name__)
# A claim this old, by a process that may still be running elsewhere, is an
# interrupted execution: longer than any execution takes (reads retry three times
# within their timeouts; writes are never retried).
STALE_CLAIM = 120.0
PAGE_SIZE = 20
# The last reminder comes this long before a request expires (if its lifetime is over
# twice as long; otherwise the half-way reminder is the only one).
LAST_REMINDER = 3600.0
REMINDERS_PER_SWEEP = 50


class Notifier(Protocol):
    """Where approval requests are shown: Slack in production, text in the demo."""

    def post(self, channel: str, reply: Reply) -> str | None: ...
    def update(self, channel: str, ts: str, reply: Reply) -> None: ...
    def direct(self, user_id: str, reply: Reply) -> None: ...
    def reply_in_thread(self, channel: str, ts: str, reply: Reply) -> str | None: ...


class Unposted:
    """For the console without Slack: requests are approved by typing."""

    def post(self, channel: str, reply: Reply) -> str | None:
        return None

    def update(self, channel: str, ts: str, reply: Reply) -> None:
        return None

    def direct(self, user_id: str, reply: Reply) -> None:
        return None

    def reply_in_thread(self, channel: str, ts: str, reply: Reply) -> str | None:
        return None


class Refused(Exception):
    """A user action that cannot go ahead: ``reason`` is for the audit log, ``text``
    (escaped mrkdwn) for the user."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text


class Approvals:
    def __init__(
        self,
        svc: Services,
        notifier: Notifier,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.svc = svc
        self.notifier = notifier
        self.clock = clock
        self.holder = holders.name()
        # Requests a thread of this process is claiming or executing right now, with how
        # many threads: a losing decider must not unmark the winner's execution.
        self._live: Counter[int] = Counter()
        self._live_lock = threading.Lock()
        self._subscribers: list[Callable[[int], None]] = []
        # Half the longest lifetime a pending request may have: how far ahead of now the
        # half-way reminders are looked for (set at the first sweep, see _remind).
        self._half_window: float | None = None

    def subscribe(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(request_id)`` after each change of a request has committed
        (requested, every decision, execution and its outcome, cancel, expiry, resolve,
        outcome unknown). It runs on the thread that made the change, before that
        thread tells anyone else, so it should be quick (hand slow work to a thread);
        whatever it raises is logged and swallowed."""
        self._subscribers.append(callback)

    def _changed(self, rid: int) -> None:
        """Tell the subscribers; only ever called once the change's transaction committed."""
        for callback in list(self._subscribers):
            try:
                callback(rid)
            except Exception:  # a subscriber must not turn a recorded change into an error
                log.exception("a subscriber to approval request changes failed (#%d)", rid)

    # -- making a request ------------------------------------------------------------------

    def request(self, inv: Invocation, command: registry.Command, args: dict) -> Reply:
        name = command.name
        detail = {"command": name, "args": jsonable(args), "ref": inv.correlation}
        settings = self.svc.settings
        try:
            if settings.approvals_channel is None:
                raise Refused(
                    "no approvals channel",
                    f":lock: `{esc(name)}` needs team approval, but XBOOKER_BOT_APPROVALS_CHANNEL "
                    "is not set, so no one can approve it. Nothing was changed.",
                )
            assert command.proposal is not None  # registry.check: approvable commands only
            try:
                proposal = command.proposal.prepare(self.svc, args)
            except (UserError, AccessError) as exc:
                raise Refused(str(exc), f":warning: {esc(exc)}. Nothing was requested.") from None
            too_long = cards.too_long(proposal.lines, proposal.read_error, args.get("reason"))
            if too_long:
                raise Refused(
                    "preview too long",
                    f":warning: This change cannot be shown whole on an approval card: "
                    f"{too_long}. Shorten the values and ask again. Nothing was requested.",
                )
        except Refused as refusal:
            self.svc.audit(inv.entry(name, "refused", {**detail, "reason": refusal.reason}))
            return Reply.note(refusal.text)
        except errors.XBookerError as exc:
            failure = {**detail, "status": exc.status, "message": exc.message}
            self.svc.audit(inv.entry(name, "failed", failure))
            return render.xbooker_error(inv, name, exc)
        now = self.clock()
        with self.svc.store.write() as db:
            rid = store.insert(
                db,
                team_id=inv.team_id,
                requester=inv.user_id,
                command=name,
                operation=command.operation or name,
                arguments={"text": inv.text, "args": jsonable(args)},
                targets=proposal.targets,
                preview={
                    "lines": proposal.lines,
                    "before": proposal.before,
                    "read_error": proposal.read_error,
                },
                channel_id=settings.approvals_channel,
                approvals_needed=settings.approvals_needed,
                created_at=now,
                expires_at=now + settings.approval_ttl,
                origin_channel=inv.channel_id,
                reference=inv.correlation,
                nonce=secrets.token_hex(16),
            )
            requested = {**detail, "request": rid, "targets": proposal.targets}
            self.svc.audit_in(db, inv.entry(name, "requested", requested))
        self._changed(rid)
        request = self._load(rid)
        ts = self.notifier.post(settings.approvals_channel, self.card(request))
        if ts:
            try:
                with self.svc.store.write() as db:
                    store.set_message(db, rid, settings.approvals_channel, ts)
            except sqlite3.Error as exc:  # the request exists: its card's nonce still binds
                log.error("could not store the card of request #%d: %s", rid, exc)
        return cards.created(request, settings.approvals_channel if ts else None)

    # -- decisions: check, record, act ---------------------------------------------------------

    def decide(self, inv: Invocation, rid: int, verb: str, reason: str | None = None) -> Reply:
        """Approve or reject, typed or clicked: the one path for both."""
        action = f"approvals {verb}"
        try:
            request = self._check_decision(inv, rid, verb)
            with self._claiming(rid) as claimed:
                request, won, counted = self._record_decision(inv, request, verb, reason)
                claimed(won and request.status == "executing")
        except Refused as refusal:
            return self._refuse(inv, action, rid, refusal)
        self._changed(rid)
        return self._act(request, won, counted)

    def _check_decision(self, inv: Invocation, rid: int, verb: str) -> Request:
        """Everything that can be checked before the transaction: the request exists, the
        click came from its card, it is still open and the decider is not the requester."""
        request = self._known(inv, rid)
        if request.status == "pending" and request.expires_at <= self.clock():
            expired = self._expire(rid)  # before the sweeper does; only one of them wins
            request = self._load(rid)
            if expired:  # the sweeper will not see it again: tell and update as it would
                self._finish(request)
        if request.status != "pending":
            raise Refused(f"request is {self._state(request)}", self._why_not(request))
        if inv.user_id == request.requester:
            raise Refused(
                "requester",
                f":no_entry: You asked for request #{rid}, so you cannot {verb} it: another "
                "bot admin must (two-person rule). You can `cancel` it.",
            )
        return request

    def _record_decision(
        self, inv: Invocation, request: Request, verb: str, reason: str | None
    ) -> tuple[Request, bool, int]:
        """In one transaction: the decider's role (so a revoke that committed first wins),
        the decision, the transition it causes, and for the last approval the claim.
        Returns the request, whether this decision moved it, and the approvals that count."""
        rid, now = request.id, self.clock()
        won = False
        with self.svc.store.write() as db:
            role = self.svc.allowlist.role_of(inv.user_id, db)
            if not at_least(role, "admin"):
                raise Refused(
                    "not a bot admin",
                    f":no_entry: Deciding on requests needs bot role *admin*; you have "
                    f"{'bot role *' + role + '*' if role else 'no bot role'}.",
                )
            current = store.load(self.svc.store, rid, db)
            assert current is not None
            if current.status != "pending":
                raise Refused(f"request is {current.status}", self._why_not(current))
            if store.decided_by(db, rid, inv.user_id):
                raise Refused(
                    "already decided by this admin",
                    f"You already approved request #{rid}; it needs another bot admin.",
                )
            store.add_decision(db, rid, inv.user_id, verb, reason, now)
            # Approvals count only while their approvers are still bot admins.
            approvals = sum(
                at_least(self.svc.allowlist.role_of(user, db), "admin")
                for user in store.approvers(db, rid)
            )
            detail = {
                "request": rid,
                "command": request.command,
                "args": request.args,
                "reason": reason,
                "approvals": approvals,
                "needed": request.needed,
            }
            self.svc.audit_in(db, inv.entry(f"approvals {verb}", "recorded", detail))
            if verb == "reject":
                won = store.move(db, rid, "pending", "rejected", now)
            elif approvals >= request.needed:
                won = store.move(db, rid, "pending", "approved", now)
                if won:
                    self._claim_in(db, current, inv)
        return self._load(rid), won, approvals

    def _claim_in(self, db: sqlite_utils.Database, request: Request, inv: Invocation) -> None:
        """approved -> executing (or cancelled, if the requester lost the role), in the
        approving transaction."""
        rid, now = request.id, self.clock()
        command = registry.BY_NAME[request.command]
        if not at_least(self.svc.allowlist.role_of(request.requester, db), command.role):
            why = f"the requester no longer has bot role {command.role}"
            store.move(db, rid, "approved", "cancelled", now, outcome={"reason": why})
            self.svc.audit_in(db, self._entry("approvals execute", "cancelled", rid, why))
            return
        store.move(db, rid, "approved", "executing", now, claimed_by=self.holder)
        sending = {
            "request": rid,
            "command": request.command,
            "args": request.args,
            "targets": request.targets,
            "approved_by": inv.user_id,
        }
        self.svc.audit_in(
            db,
            audit.Entry(
                request.requester,
                "approval",
                request.command,
                "sending",
                self.svc.team_id,
                request.channel_id,
                sending,
            ),
        )

    def _act(self, request: Request, won: bool, counted: int) -> Reply:
        """After the decision's commit: tell people, and run the request if it was claimed."""
        rid = request.id
        if request.status == "pending":
            self._refresh_card(request)
            left = request.needed - counted
            return Reply.note(f"Approval of request #{rid} recorded; it needs {left} more.")
        if request.status == "executing" and won:
            return self._execute(request)
        self._finish(request)
        if request.status == "rejected":
            return Reply.note(f"Request #{rid} rejected.")
        return Reply.note(f"Request #{rid}: {self.outcome_text(request)}")

    # -- cancel and resolve ----------------------------------------------------------------------

    def cancel(self, inv: Invocation, rid: int, reason: str | None = None) -> Reply:
        try:
            request = self._known(inv, rid)
            if request.requester != inv.user_id:
                raise Refused(
                    "not the requester",
                    f":no_entry: Only {render.user(request.requester)}, who asked for "
                    f"request #{rid}, can cancel it; an admin can reject it.",
                )
            with self.svc.store.write() as db:
                outcome = {"by": inv.user_id, "reason": reason}
                if not store.move(db, rid, "pending", "cancelled", self.clock(), outcome=outcome):
                    current = store.load(self.svc.store, rid, db)
                    assert current is not None
                    raise Refused(f"request is {current.status}", self._why_not(current))
                detail = {"request": rid, "command": request.command, "reason": reason}
                self.svc.audit_in(db, inv.entry("approvals cancel", "cancelled", detail))
        except Refused as refusal:
            return self._refuse(inv, "approvals cancel", rid, refusal)
        self._changed(rid)
        self._finish(self._load(rid))
        return Reply.note(f"Request #{rid} cancelled.")

    def resolve(
        self, inv: Invocation, rid: int, resolution: str, reason: str | None = None
    ) -> Reply:
        """Settle any request that is not final and not being executed right now."""
        try:
            request = self._known(inv, rid)
            if request.status in store.FINAL:
                raise Refused(f"request is {request.status}", self._why_not(request))
            if request.status == "executing" and not self.unknown(request):
                raise Refused(
                    "being executed",
                    f"Request #{rid} is being executed right now; wait for its outcome.",
                )
            if request.status == "pending":  # decisions have their own rules (reasons…)
                other = "cancel" if inv.user_id == request.requester else "reject"
                raise Refused(
                    "pending",
                    f"Request #{rid} is waiting for a decision: {other} it instead "
                    f"(`/xbooker approvals {other} {rid} <reason>`).",
                )
            if request.status == "approved" and resolution == "succeeded":
                raise Refused(
                    "nothing was sent",
                    f"Nothing was sent to X Booker for request #{rid}, so it cannot have "
                    "succeeded: resolve it as `failed` to close it.",
                )
            outcome = {"resolved_by": inv.user_id, **({"reason": reason} if reason else {})}
            with self.svc.store.write() as db:
                if not at_least(self.svc.allowlist.role_of(inv.user_id, db), "admin"):
                    raise Refused("not a bot admin", "Resolving requests needs bot role *admin*.")
                if not store.move(
                    db, rid, request.status, resolution, self.clock(), outcome=outcome
                ):
                    raise Refused(
                        "changed meanwhile", f"Request #{rid} changed meanwhile; look again."
                    )
                detail = {"request": rid, "command": request.command, "was": self._state(request)}
                if reason:
                    detail["reason"] = reason
                self.svc.audit_in(db, inv.entry("approvals resolve", resolution, detail))
        except Refused as refusal:
            return self._refuse(inv, "approvals resolve", rid, refusal)
        self._changed(rid)
        self._finish(self._load(rid))
        return Reply.note(f"Request #{rid} recorded as {resolution}.")

    # -- execution -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _claiming(self, rid: int) -> Iterator[Callable[[bool], None]]:
        """Count ``rid`` as running here from before its claim commits, so that the sweeper
        never takes a claim this thread is about to execute for an abandoned one; the
        caller says whether it claimed, and :meth:`_execute` lets go when done."""
        kept = False

        def claimed(yes: bool) -> None:
            nonlocal kept
            kept = yes

        with self._live_lock:
            self._live[rid] += 1
        try:
            yield claimed
        finally:
            if not kept:
                self._let_go(rid)

    def _let_go(self, rid: int) -> None:
        with self._live_lock:
            self._live[rid] -= 1
            if self._live[rid] <= 0:
                del self._live[rid]

    def _execute(self, request: Request) -> Reply:
        """Run a request this process has claimed (and counts as live); any failure flags
        it, none wedges it."""
        rid = request.id
        self._refresh_card(request)
        try:
            status, outcome = self._run(request)
            what = {
                "command": request.command,
                "args": request.args,
                "targets": request.targets,
                **outcome,
            }
            with self.svc.store.write() as db:
                if not store.move(db, rid, "executing", status, self.clock(), outcome=outcome):
                    # Settled meanwhile (by another process that took the claim for dead):
                    # X Booker's real answer is still recorded.
                    status = f"{status} after it was settled"
                self.svc.audit_in(db, self._entry(request.command, status, rid, None, what))
            self._changed(rid)
        except errors.OutcomeUnknownError as exc:
            self._flag(rid, exc.message)
        except Exception as exc:
            log.exception("executing request #%d failed inside the bot", rid)
            self._flag(rid, f"the bot failed while executing ({type(exc).__name__})")
        finally:
            self._let_go(rid)
        request = self._load(rid)
        self._finish(request)
        return Reply.note(f"Request #{rid}: {self.outcome_text(request)}")

    def _run(self, request: Request) -> tuple[str, dict]:
        """Re-read, then apply; the command's own renderer words the result."""
        command = registry.BY_NAME[request.command]
        assert command.proposal is not None and command.renderer is not None
        proposer = command.proposal
        inv = Invocation(
            request.team_id,
            request.requester,
            f"{request.command} (request #{request.id})",
            source="approval",
            channel_id=request.channel_id,
            correlation=request.reference or secrets.token_hex(4),
        )
        now = None
        try:
            if request.before is not None:
                seen, now = proposer.current(self.svc, request.args, request.targets)
                if seen != request.before:
                    changed = {"changed": True, "before": request.before, "now": seen}
                    return "failed", {**changed, "message": "changed since requested"}
            result = proposer.apply(self.svc, inv, request.args, request.targets, now)
        except errors.OutcomeUnknownError:
            raise
        except errors.XBookerError as exc:
            return "failed", {"status": exc.status, "message": exc.message}
        except (UserError, AccessError, InvalidArgument) as exc:
            return "failed", {"message": str(exc)}
        return "succeeded", {"result": command.renderer(inv, request.args, result).text}

    def _flag(self, rid: int, why: str) -> bool:
        """Mark a claimed request "outcome unknown"; if even that cannot be written (the
        database is locked or full), the sweeper flags it once this thread is gone."""
        try:
            with self.svc.store.write() as db:
                flagged = store.flag_unknown(db, rid, why)
                if flagged:
                    entry = self._entry("approvals interrupted", "outcome unknown", rid, why)
                    self.svc.audit_in(db, entry)
            if flagged:
                self._changed(rid)
            return flagged
        except Exception:
            log.exception("could not flag request #%d as outcome unknown; the sweeper will", rid)
            return False

    # -- expiry and interrupted executions ----------------------------------------------------

    def sweep(self) -> int:
        """Expire due requests, run requests approved but never claimed, and flag
        executions nobody is running any more; returns how many requests changed."""
        now, team = self.clock(), self.svc.team_id
        changed = [rid for rid in store.due(self.svc.store, team, now) if self._expire(rid)]
        for rid in store.unclaimed(self.svc.store, team):
            self._claim_orphan(rid)
        executing = store.executing_unflagged(self.svc.store, team)
        for rid in executing:
            request = self._load(rid)
            if self._abandoned(request) and self._flag(rid, "the bot stopped while executing"):
                changed.append(rid)
        for rid in changed:
            self._finish(self._load(rid))
        if self.svc.settings.approval_reminders:
            self._remind(now)
        return len(changed)

    # -- reminders -----------------------------------------------------------------------

    def _remind(self, now: float) -> None:
        """Post the reminders now due: the last-hour ones first, so that a request found
        late in its life gets that one only (its claim takes the half-way one too)."""
        team = self.svc.team_id
        if self._half_window is None:
            longest = store.longest_pending_ttl(self.svc.store, team)
            self._half_window = max(self.svc.settings.approval_ttl, longest) / 2
        due = [
            (rid, cards.HOUR, store.claim_hour_reminder)
            for rid in store.due_hour_reminders(self.svc.store, team, now, LAST_REMINDER)
        ]
        due += [
            (rid, cards.HALF, store.claim_half_reminder)
            for rid in store.due_half_reminders(self.svc.store, team, now, self._half_window)
        ]
        # A burst (the first sweep after downtime) is spread over sweeps: posting is
        # Slack-paced, and expiries and orphaned executions must not wait behind it.
        for rid, kind, claim in due[:REMINDERS_PER_SWEEP]:
            self._send_reminder(rid, kind, claim)

    def _send_reminder(
        self, rid: int, kind: str, claim: Callable[[sqlite_utils.Database, int, float], bool]
    ) -> None:
        """Claim the reminder, then post it in the card's thread. Claimed first, so it is
        sent at most once; a post Slack refuses is logged by the notifier and not retried."""
        with self.svc.store.write() as db:
            if not claim(db, rid, self.clock()):
                return  # another process, or a decision, got there first
        request = self._load(rid)
        if request.status != "pending":
            return  # decided between the claim and now: nothing to remind anyone of
        assert request.channel_id and request.message_ts  # the queries ask for a card
        eligible = [  # bot admins now (a revoked one is not), who have not decided it
            admin
            for admin in self.svc.allowlist.admins()
            if admin != request.requester and admin not in request.approvers
        ]
        reply = cards.reminder(request, eligible, kind)
        if self.notifier.reply_in_thread(request.channel_id, request.message_ts, reply) is None:
            log.warning("the %s reminder of request #%d was not posted", kind, rid)

    def _claim_orphan(self, rid: int) -> None:
        """An approved request nobody claimed (left by an older version): claim and run it."""
        request = self._load(rid)
        system = Invocation(request.team_id, "system", "", source="system")
        with self._claiming(rid) as claimed:
            with self.svc.store.write() as db:
                if store.load(self.svc.store, rid, db).status != "approved":
                    return
                self._claim_in(db, request, system)
            self._changed(rid)
            request = self._load(rid)
            claimed(request.status == "executing")
        if request.status == "executing":
            self._execute(request)
        else:
            self._finish(request)

    def _abandoned(self, request: Request) -> bool:
        """Executing, but no thread or process is running it any more."""
        if request.claimed_by == self.holder:
            with self._live_lock:
                return request.id not in self._live
        stale = (request.claimed_at or 0) < self.clock() - STALE_CLAIM
        return stale or holders.gone(request.claimed_by)

    def _expire(self, rid: int) -> bool:
        with self.svc.store.write() as db:
            moved = store.move(db, rid, "pending", "expired", self.clock())
            if moved:
                self.svc.audit_in(db, self._entry("approvals expire", "expired", rid))
        if moved:
            self._changed(rid)
        return moved

    def unknown(self, request: Request) -> bool:
        """Executing, but no one will record the outcome."""
        if request.status != "executing":
            return False
        if request.outcome and "unknown" in request.outcome:
            return True
        return self._abandoned(request)

    # -- reading -----------------------------------------------------------------------------

    def _load(self, rid: int) -> Request:
        request = store.load(self.svc.store, rid)
        assert request is not None  # only called for ids that exist
        return request

    def load(self, rid: int) -> Request | None:
        return store.load(self.svc.store, rid)

    def _known(self, inv: Invocation, rid: int) -> Request:
        """The request, if it is this workspace's and (for a click) the card is its own:
        the nonce in the button, and the channel and message it was posted as. A card
        whose nonce is not its request's is left over from a replaced database: it
        loses its buttons."""
        request = store.load(self.svc.store, rid)
        click = inv.click
        ours = request is not None and request.team_id == self.svc.team_id
        if click is not None and not (
            ours and request.nonce and secrets.compare_digest(click.nonce, request.nonce)
        ):
            # Only a well-formed button of ours (a nonce of another request) marks its
            # card stale; junk values change no message.
            if click.nonce and click.channel_id and click.message_ts:
                self.notifier.update(click.channel_id, click.message_ts, cards.stale_card())
            raise Refused(
                "button not from this request's card",
                ":no_entry: This button does not belong to the current request "
                f"#{rid} (its card is from a replaced or restored database). Nothing was decided.",
            )
        if not ours:
            raise Refused("unknown request", f"There is no request #{rid}.")
        assert request is not None
        # The ts is stored just after posting: a click in between matches on the nonce.
        if (
            click is not None
            and click.surface == "card"
            and (
                click.channel_id != request.channel_id
                or (request.message_ts is not None and click.message_ts != request.message_ts)
            )
        ):
            raise Refused(
                "button clicked outside the request's card",
                f":no_entry: This is not request #{rid}'s own card. Nothing was decided.",
            )
        return request

    def list_reply(self, page: int = 1) -> Reply:
        requests, total = store.open_page(
            self.svc.store, self.svc.team_id, (page - 1) * PAGE_SIZE, PAGE_SIZE
        )
        shown = [(r, self.unknown(r)) for r in requests]
        return cards.open_list(shown, total, page, PAGE_SIZE)

    # -- messages ------------------------------------------------------------------------------

    def card(self, r: Request) -> Reply:
        return cards.card(r, self.unknown(r))

    def outcome_text(self, r: Request) -> str:
        return cards.outcome_text(r, self.unknown(r))

    def _state(self, r: Request) -> str:
        return cards.state(r, self.unknown(r))

    def _refresh_card(self, r: Request) -> None:
        if r.channel_id and r.message_ts:
            self.notifier.update(r.channel_id, r.message_ts, self.card(r))

    def _finish(self, r: Request) -> None:
        """Update the channel message (buttons removed) and tell the requester."""
        self._refresh_card(r)
        if r.status in store.FINAL or self.unknown(r):
            self.notifier.direct(r.requester, cards.outcome_message(r, self.unknown(r)))

    def _why_not(self, r: Request) -> str:
        if r.status == "pending":
            return f"Request #{r.id} is still pending."
        return f"Request #{r.id} cannot be decided any more: {self.outcome_text(r)}"

    def _refuse(self, inv: Invocation, action: str, rid: int, refusal: Refused) -> Reply:
        """The one place a refused approval action is recorded and answered."""
        detail = {"request": rid, "reason": refusal.reason, "ref": inv.correlation}
        request = store.load(self.svc.store, rid)
        if request is not None and request.team_id == self.svc.team_id:
            detail["command"] = request.command
        if inv.click is not None:
            detail["via"] = "button"
        self.svc.audit(inv.entry(action, "refused", detail))
        return Reply.note(refusal.text)

    def _entry(
        self, action: str, outcome: str, rid: int, why: str | None = None, extra: dict | None = None
    ) -> audit.Entry:
        """An audit entry of the bot's own doing (execution, expiry), not a user's."""
        detail = {"request": rid, **({"message": why} if why else {}), **(extra or {})}
        return audit.Entry("system", "system", action, outcome, self.svc.team_id, None, detail)


def sweep_forever(approvals: Approvals, interval: float = 30.0) -> None:
    """Sweep every ``interval`` seconds on a daemon thread for the life of the process;
    the first sweep runs at once, so a restart flags what the previous process left."""
    while True:
        try:
            approvals.sweep()
        except Exception:
            log.exception("approval sweep failed; trying again in %.0f s", interval)
        time.sleep(interval)
