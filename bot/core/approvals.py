"""Team approvals: a risky command becomes a request that other admins decide on.

Every state change is one compare-and-set ``UPDATE ... WHERE status = ?`` in a
``BEGIN IMMEDIATE`` transaction that also writes its audit row, so concurrent
or repeated clicks, retries and restarts land a decision once and execute an
operation at most once:

    pending -> approved -> executing -> succeeded | failed
    pending -> rejected | cancelled | expired

Execution is claim (approved -> executing, commit), call X Booker, record
(executing -> succeeded | failed, commit): no transaction is open across the
call. A request whose process died while executing is never re-run; it shows
"outcome unknown" until an admin settles it with ``approvals resolve``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import sqlite_utils

from bot.core import registry, render
from bot.core.allowlist import AccessError
from bot.core.context import Invocation, Services, UserError
from bot.core.params import jsonable
from bot.core.parser import Parsed
from bot.core.proposals import KINDS
from bot.core.replies import Reply, chunks, code, context, esc, header, section
from bot.core.roles import at_least
from bot.store import audit
from bot.xbooker import errors

log = logging.getLogger(__name__)
APPROVE, REJECT = "approval_approve", "approval_reject"
# A claim older than this, by another process, is an interrupted execution: longer
# than any execution takes (reads retry three times within their timeouts; writes never).
STALE_CLAIM = 120.0


class Notifier(Protocol):
    """Where approval requests are shown: Slack in production, text in the demo."""

    def post(self, channel: str, reply: Reply) -> str | None: ...
    def update(self, channel: str, ts: str, reply: Reply) -> None: ...
    def direct(self, user_id: str, reply: Reply) -> None: ...


class Unposted:
    """For the console without Slack: requests are approved by typing."""

    def post(self, channel: str, reply: Reply) -> str | None:
        return None

    def update(self, channel: str, ts: str, reply: Reply) -> None:
        return None

    def direct(self, user_id: str, reply: Reply) -> None:
        return None


@dataclass(frozen=True)
class Request:
    id: int
    team_id: str
    requester: str
    command: str
    text: str
    args: dict
    targets: dict
    lines: list[str]
    before: dict | None
    read_error: str | None
    channel_id: str | None
    message_ts: str | None
    status: str
    needed: int
    expires_at: float
    outcome: dict | None
    claimed_by: str | None
    claimed_at: float | None
    approvers: tuple[str, ...]
    rejecter: tuple[str, str | None] | None

    @classmethod
    def from_row(cls, row: dict, decisions: list[dict]) -> Request:
        arguments, preview = json.loads(row["arguments"]), json.loads(row["preview"])
        rejected = [(d["user_id"], d["reason"]) for d in decisions if d["decision"] == "reject"]
        return cls(
            id=row["id"],
            team_id=row["team_id"],
            requester=row["requester"],
            command=row["command"],
            text=arguments["text"],
            args=arguments["args"],
            targets=json.loads(row["targets"]),
            lines=preview["lines"],
            before=preview["before"],
            read_error=preview.get("read_error"),
            channel_id=row["channel_id"],
            message_ts=row["message_ts"],
            status=row["status"],
            needed=row["approvals_needed"],
            expires_at=row["expires_at"],
            outcome=json.loads(row["outcome"]) if row["outcome"] else None,
            claimed_by=row["claimed_by"],
            claimed_at=row["claimed_at"],
            approvers=tuple(d["user_id"] for d in decisions if d["decision"] == "approve"),
            rejecter=rejected[0] if rejected else None,
        )


def when(ts: float) -> str:
    """A Slack date token (shown in each reader's time zone) with a UTC fallback."""
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{iso}>"


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
        # Identifies this process's claims: a claim by another boot is an interrupted one.
        self.boot = uuid.uuid4().hex
        svc.approvals = self

    # -- making a request ------------------------------------------------------------------

    def request(self, inv: Invocation, parsed: Parsed) -> Reply:
        name, args = parsed.command.name, parsed.args
        settings = self.svc.settings
        detail = {"command": name, "args": jsonable(args), "ref": inv.correlation}
        if settings.approvals_channel is None:
            self.svc.audit(inv.entry(name, "refused", {**detail, "reason": "no approvals channel"}))
            return Reply.note(
                f":lock: `{esc(name)}` needs team approval, but XBOOKER_BOT_APPROVALS_CHANNEL "
                "is not set, so no one can approve it. Nothing was changed."
            )
        try:
            proposal = KINDS[name].prepare(self.svc, args)
        except errors.XBookerError as exc:
            self.svc.audit(
                inv.entry(name, "failed", {**detail, "status": exc.status, "message": exc.message})
            )
            return render.xbooker_error(inv, name, exc)
        except (UserError, AccessError) as exc:
            return render.user_error(str(exc))
        now = self.clock()
        arguments = {"text": inv.text, "args": jsonable(args)}
        preview = {
            "lines": proposal.lines,
            "before": proposal.before,
            "read_error": proposal.read_error,
        }
        with self.svc.store.write() as db:
            rid = db.conn.execute(
                "INSERT INTO approvals (team_id, requester, command, operation, arguments, "
                "targets, preview, channel_id, status, approvals_needed, created_at, expires_at, "
                "origin_channel, reference) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                (
                    inv.team_id,
                    inv.user_id,
                    name,
                    parsed.command.operation or name,
                    json.dumps(arguments),
                    json.dumps(proposal.targets),
                    json.dumps(preview),
                    settings.approvals_channel,
                    settings.approvals_needed,
                    now,
                    now + settings.approval_ttl,
                    inv.channel_id,
                    inv.correlation,
                ),
            ).lastrowid
            self.svc.audit_in(
                db,
                inv.entry(name, "requested", {**detail, "request": rid, "preview": proposal.lines}),
            )
        request = self.load(rid)
        assert request is not None
        ts = self.notifier.post(settings.approvals_channel, self.card(request))
        if ts:
            with self.svc.store.write() as db:
                db.conn.execute("UPDATE approvals SET message_ts = ? WHERE id = ?", (ts, rid))
        where = f"<#{settings.approvals_channel}>"
        posted = (
            f"It is posted in {where}."
            if ts
            else f"It could not be posted in {where}; a bot admin can approve it with "
            f"`/xbooker approvals approve {rid}`."
        )
        others = "a bot admin" if request.needed == 1 else f"{request.needed} bot admins"
        text = (
            f":hourglass_flowing_sand: Request *#{rid}* created: `{esc(name)}` needs approval "
            f"by {others} other than you. {posted} It expires {when(request.expires_at)}."
        )
        return Reply(
            text, [section(text), section("*What will change:*\n" + "\n".join(proposal.lines))]
        )

    # -- decisions -------------------------------------------------------------------------

    def approve(self, rid: int, inv: Invocation, reason: str | None = None) -> Reply:
        return self._decide(rid, inv, "approve", reason)

    def reject(self, rid: int, inv: Invocation, reason: str | None = None) -> Reply:
        return self._decide(rid, inv, "reject", reason)

    def _decide(self, rid: int, inv: Invocation, decision: str, reason: str | None) -> Reply:
        actor = inv.user_id
        action = f"approvals {decision}"
        role = self.svc.allowlist.role_of(actor)
        if role != "admin":
            self.svc.audit(
                inv.entry(action, "refused", {"request": rid, "reason": "not a bot admin"})
            )
            return Reply.note(
                f":no_entry: Deciding on requests needs bot role *admin*; you have "
                f"{'bot role *' + role + '*' if role else 'no bot role'}."
            )
        request = self.load(rid)
        if request is None or request.team_id != self.svc.team_id:
            return Reply.note(f"There is no request #{rid}.")
        if request.status == "pending" and request.expires_at <= self.clock():
            expired = self._expire(rid)  # before the sweeper does; only one of them wins
            request = self.load(rid)
            assert request is not None
            if expired:
                self._finish(request)
        if request.status != "pending":
            return self._why_not(request)
        if actor == request.requester:
            self.svc.audit(inv.entry(action, "refused", {"request": rid, "reason": "requester"}))
            return Reply.note(
                f":no_entry: You asked for request #{rid}, so you cannot {decision} it: another "
                "bot admin must (two-person rule). You can `cancel` it."
            )
        won = False
        with self.svc.store.write() as db:
            status = db.conn.execute(
                "SELECT status FROM approvals WHERE id = ?", (rid,)
            ).fetchone()[0]
            if status != "pending":
                pass  # decided while we looked; answered below from the fresh state
            elif db.conn.execute(
                "SELECT 1 FROM approval_decisions WHERE request_id = ? AND user_id = ?",
                (rid, actor),
            ).fetchone():
                return Reply.note(
                    f"You already approved request #{rid}; it needs another bot admin."
                )
            else:
                db.conn.execute(
                    "INSERT INTO approval_decisions (request_id, user_id, decision, reason, "
                    "decided_at) VALUES (?, ?, ?, ?, ?)",
                    (rid, actor, decision, reason, self.clock()),
                )
                approvals = db.conn.execute(
                    "SELECT COUNT(*) FROM approval_decisions WHERE request_id = ? AND "
                    "decision = 'approve'",
                    (rid,),
                ).fetchone()[0]
                target = "rejected" if decision == "reject" else None
                if decision == "approve" and approvals >= request.needed:
                    target = "approved"
                if target:
                    won = self._move(db, rid, "pending", target, settled=target == "rejected")
                self.svc.audit_in(
                    db,
                    inv.entry(
                        action,
                        "recorded",
                        {
                            "request": rid,
                            "reason": reason,
                            "approvals": approvals,
                            "needed": request.needed,
                        },
                    ),
                )
        request = self.load(rid)
        assert request is not None
        if request.status == "pending":
            self._refresh_card(request)
            left = request.needed - len(request.approvers)
            return Reply.note(f"Approval of request #{rid} recorded; it needs {left} more.")
        if not won:
            return self._why_not(request)
        if request.status == "rejected":
            self._finish(request)
            return Reply.note(f"Request #{rid} rejected.")
        return self._execute(request, inv.source)

    def cancel(self, rid: int, inv: Invocation, reason: str | None = None) -> Reply:
        request = self.load(rid)
        if request is None or request.team_id != self.svc.team_id:
            return Reply.note(f"There is no request #{rid}.")
        if request.requester != inv.user_id:
            return Reply.note(
                f":no_entry: Only {render.user(request.requester)}, who asked for "
                f"request #{rid}, can cancel it; an admin can reject it."
            )
        with self.svc.store.write() as db:
            moved = self._move(
                db,
                rid,
                "pending",
                "cancelled",
                settled=True,
                outcome={"by": inv.user_id, "reason": reason},
            )
            if moved:
                self.svc.audit_in(
                    db,
                    inv.entry("approvals cancel", "cancelled", {"request": rid, "reason": reason}),
                )
        request = self.load(rid)
        assert request is not None
        if not moved:
            return self._why_not(request)
        self._finish(request)
        return Reply.note(f"Request #{rid} cancelled.")

    def resolve(self, rid: int, inv: Invocation, resolution: str) -> Reply:
        request = self.load(rid)
        if request is None or request.team_id != self.svc.team_id:
            return Reply.note(f"There is no request #{rid}.")
        if not self.unknown(request):
            return Reply.note(
                f"Request #{rid} is {self._state(request)}: only a request whose "
                "outcome is unknown can be resolved."
            )
        with self.svc.store.write() as db:
            moved = self._move(
                db, rid, "executing", resolution, settled=True, outcome={"resolved_by": inv.user_id}
            )
            if moved:
                self.svc.audit_in(db, inv.entry("approvals resolve", resolution, {"request": rid}))
        request = self.load(rid)
        assert request is not None
        if not moved:
            return self._why_not(request)
        self._finish(request)
        return Reply.note(f"Request #{rid} recorded as {resolution}.")

    # -- execution -------------------------------------------------------------------------

    def _execute(self, request: Request, source: str) -> Reply:
        rid = request.id
        command = registry.BY_WORDS[tuple(request.command.split())]
        requester_role = self.svc.allowlist.role_of(request.requester)
        if not at_least(requester_role, command.role):
            with self.svc.store.write() as db:
                if self._move(
                    db,
                    rid,
                    "approved",
                    "cancelled",
                    settled=True,
                    outcome={"reason": "the requester no longer has bot role " + command.role},
                ):
                    self.svc.audit_in(
                        db,
                        self._entry(
                            "system",
                            source,
                            request.command,
                            "cancelled",
                            {"request": rid, "reason": "requester lost bot role"},
                        ),
                    )
            return self._finished_reply(rid)
        with self.svc.store.write() as db:
            claimed = self._move(db, rid, "approved", "executing", claimed_by=self.boot)
            if claimed:
                self.svc.audit_in(
                    db,
                    self._entry(
                        request.requester,
                        "approval",
                        request.command,
                        "sending",
                        {"request": rid, "args": request.args, "targets": request.targets},
                        request.channel_id,
                    ),
                )
        if not claimed:
            return self._why_not(self.load(rid))
        self._refresh_card(self.load(rid))
        kind = KINDS[request.command]
        outcome: dict
        try:
            if request.before is not None:
                now = kind.current(self.svc, request.args, request.targets)
                if now != request.before:
                    return self._record(
                        rid, "failed", {"changed": True, "before": request.before, "now": now}
                    )
            outcome = {
                "result": kind.apply(self.svc, request.args, request.targets, request.requester)
            }
        except errors.OutcomeUnknownError as exc:
            self._mark_unknown(rid, exc.message, request.command, source="approval")
            return self._finished_reply(rid)
        except errors.XBookerError as exc:
            return self._record(rid, "failed", {"status": exc.status, "message": exc.message})
        except (UserError, AccessError) as exc:
            return self._record(rid, "failed", {"message": str(exc)})
        return self._record(rid, "succeeded", outcome)

    def _record(self, rid: int, status: str, outcome: dict) -> Reply:
        with self.svc.store.write() as db:
            if self._move(db, rid, "executing", status, settled=True, outcome=outcome):
                self.svc.audit_in(
                    db,
                    self._entry(
                        "system", "approval", f"request #{rid}", status, {"request": rid, **outcome}
                    ),
                )
        return self._finished_reply(rid)

    def _finished_reply(self, rid: int) -> Reply:
        request = self.load(rid)
        assert request is not None
        self._finish(request)
        return Reply.note(f"Request #{rid}: {self.outcome_text(request)}")

    # -- expiry and interrupted executions ----------------------------------------------------

    def sweep(self) -> int:
        """Expire due requests and flag executions a previous process left; returns how many."""
        now = self.clock()
        due = self.svc.store.db().query(
            "SELECT id FROM approvals WHERE team_id = ? AND status = 'pending' AND expires_at <= ?",
            (self.svc.team_id, now),
        )
        changed = [row["id"] for row in list(due) if self._expire(row["id"])]
        orphans = self.svc.store.db().query(
            "SELECT id FROM approvals WHERE team_id = ? AND status = 'executing' AND "
            "outcome IS NULL AND claimed_by IS NOT ? AND claimed_at < ?",
            (self.svc.team_id, self.boot, now - STALE_CLAIM),
        )
        changed += [
            row["id"]
            for row in list(orphans)
            if self._mark_unknown(row["id"], "the bot stopped while executing")
        ]
        for rid in changed:
            request = self.load(rid)
            if request is not None:
                self._finish(request)
        return len(changed)

    def _expire(self, rid: int) -> bool:
        with self.svc.store.write() as db:
            moved = self._move(db, rid, "pending", "expired", settled=True)
            if moved:
                entry = self._entry(
                    "system", "system", "approvals expire", "expired", {"request": rid}
                )
                self.svc.audit_in(db, entry)
        return moved

    def _mark_unknown(
        self, rid: int, why: str, action: str = "approvals interrupted", source: str = "system"
    ) -> bool:
        """Flag an execution whose result no one will record; the first flag wins."""
        with self.svc.store.write() as db:
            marked = db.conn.execute(
                "UPDATE approvals SET outcome = ? WHERE id = ? AND status = 'executing' AND "
                "outcome IS NULL",
                (json.dumps({"unknown": why}), rid),
            ).rowcount
            if marked:
                entry = self._entry(
                    "system", source, action, "outcome unknown", {"request": rid, "message": why}
                )
                self.svc.audit_in(db, entry)
        return bool(marked)

    def unknown(self, request: Request) -> bool:
        """Executing, but no one will record the outcome: the call's result was ambiguous,
        or the process that claimed it is gone (another process's claim gone stale)."""
        if request.status != "executing":
            return False
        if request.outcome and "unknown" in request.outcome:
            return True
        stale = (request.claimed_at or 0) < self.clock() - STALE_CLAIM
        return request.claimed_by != self.boot and stale

    # -- reading -----------------------------------------------------------------------------

    def load(self, rid: int) -> Request | None:
        row = self.svc.store.query_one("SELECT * FROM approvals WHERE id = ?", (rid,))
        if row is None:
            return None
        decisions = list(
            self.svc.store.db().query(
                "SELECT * FROM approval_decisions WHERE request_id = ? ORDER BY decided_at", (rid,)
            )
        )
        return Request.from_row(row, decisions)

    def open_requests(self) -> list[Request]:
        self.sweep()
        rows = self.svc.store.db().query(
            "SELECT id FROM approvals WHERE team_id = ? AND status IN ('pending', 'approved', "
            "'executing') ORDER BY id",
            (self.svc.team_id,),
        )
        return [r for r in (self.load(row["id"]) for row in list(rows)) if r is not None]

    def list_reply(self) -> Reply:
        requests = self.open_requests()
        if not requests:
            return Reply.note("No approval requests are open.")
        lines = [
            f"• *#{r.id}* {code(r.text)} by {render.user(r.requester)}: {self._state(r)}"
            + (f", expires {when(r.expires_at)}" if r.status == "pending" else "")
            for r in requests
        ]
        return Reply(
            "\n".join(lines),
            [header("Open approval requests"), *[section(t) for t in chunks(lines)]],
        )

    # -- messages ------------------------------------------------------------------------------

    def _state(self, r: Request) -> str:
        if self.unknown(r):
            return "outcome unknown"
        if r.status == "pending":
            return f"pending ({len(r.approvers)} of {r.needed} approvals)"
        return r.status

    def outcome_text(self, r: Request) -> str:
        by = ", ".join(render.user(u) for u in r.approvers)
        outcome = r.outcome or {}
        if self.unknown(r):
            return (
                f":grey_question: Outcome unknown ({esc(outcome.get('unknown', 'interrupted'))})."
                f" Check X Booker, then a bot admin runs "
                f"`/xbooker approvals resolve {r.id} succeeded|failed`."
            )
        if r.status in ("approved", "executing"):
            return f":gear: Approved by {by}; executing…"
        if r.status == "succeeded":
            resolved = outcome.get("resolved_by")
            if resolved:
                return f":white_check_mark: Recorded as succeeded by {render.user(resolved)}."
            return f":white_check_mark: Approved by {by}; done. {outcome.get('result', '')}"
        if r.status == "failed":
            if outcome.get("resolved_by"):
                return f":x: Recorded as failed by {render.user(outcome['resolved_by'])}."
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
            who = outcome.get("by")
            why = outcome.get("reason")
            text = (
                f":heavy_multiplication_x: Cancelled by {render.user(who)}"
                if who
                else (":heavy_multiplication_x: Cancelled")
            )
            return text + (f": {esc(why)}" if why else "")
        if r.status == "expired":
            return f":hourglass: Expired without enough approvals at {when(r.expires_at)}."
        return esc(r.status)

    def card(self, r: Request) -> Reply:
        """The channel message: who asked, what will change, and the buttons or outcome."""
        ask = f"{render.user(r.requester)} asks to run {code('/xbooker ' + r.text)}"
        change = "*What will change:*\n" + "\n".join(r.lines)
        if r.read_error:
            change += (
                f"\n:warning: X Booker refused to show the current state: {code(r.read_error)}"
            )
        blocks = [header(f"Approval request #{r.id}"), section(ask), section(change)]
        if r.status == "pending":
            needed = f"{r.needed} approval(s) from bot admins other than the requester"
            blocks.append(
                context(
                    f"Needs {needed} · {len(r.approvers)} so far · expires {when(r.expires_at)}"
                )
            )
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"approval-{r.id}",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": APPROVE,
                            "style": "primary",
                            "text": {"type": "plain_text", "text": "Approve"},
                            "value": str(r.id),
                        },
                        {
                            "type": "button",
                            "action_id": REJECT,
                            "style": "danger",
                            "text": {"type": "plain_text", "text": "Reject"},
                            "value": str(r.id),
                        },
                    ],
                }
            )
        else:
            blocks.append(section(self.outcome_text(r)))
        text = f"Approval request #{r.id}: {code(r.text)} by {render.user(r.requester)}"
        return Reply(text, blocks)

    def _refresh_card(self, r: Request | None) -> None:
        if r is not None and r.channel_id and r.message_ts:
            self.notifier.update(r.channel_id, r.message_ts, self.card(r))

    def _finish(self, r: Request) -> None:
        """Update the channel message (buttons removed) and tell the requester."""
        self._refresh_card(r)
        if r.status in ("succeeded", "failed", "rejected", "cancelled", "expired") or self.unknown(
            r
        ):
            text = f"Your request #{r.id} ({code(r.text)}): {self.outcome_text(r)}"
            self.notifier.direct(r.requester, Reply.note(text))

    def _why_not(self, r: Request | None) -> Reply:
        if r is None:
            return Reply.note("There is no such request.")
        return Reply.note(
            f"Request #{r.id} cannot be decided any more: "
            f"{self.outcome_text(r) if r.status != 'pending' else 'still pending'}"
        )

    # -- storage helpers -------------------------------------------------------------------------

    def _move(
        self,
        db: sqlite_utils.Database,
        rid: int,
        frm: str,
        to: str,
        *,
        settled: bool = False,
        outcome: dict | None = None,
        claimed_by: str | None = None,
    ) -> bool:
        """The one compare-and-set every transition goes through."""
        sets, params = ["status = ?"], [to]
        if settled:
            sets.append("settled_at = ?")
            params.append(self.clock())
        if outcome is not None:
            sets.append("outcome = ?")
            params.append(json.dumps(outcome))
        if claimed_by is not None:
            sets += ["claimed_by = ?", "claimed_at = ?"]
            params += [claimed_by, self.clock()]
        cursor = db.conn.execute(
            f"UPDATE approvals SET {', '.join(sets)} WHERE id = ? AND status = ?",  # noqa: S608
            (*params, rid, frm),
        )
        return cursor.rowcount == 1

    def _entry(
        self,
        actor: str,
        source: str,
        action: str,
        outcome: str,
        detail: dict,
        channel: str | None = None,
    ) -> audit.Entry:
        """An audit entry of the bot's own doing (execution, expiry), not a user's command."""
        return audit.Entry(actor, source, action, outcome, self.svc.team_id, channel, detail)


def sweep_forever(approvals: Approvals, interval: float = 30.0) -> None:
    """Expire due requests (and update their messages) every ``interval`` seconds, on a
    daemon thread for the life of the process; the first sweep runs at once, so a
    restart flags executions the previous process left."""
    while True:
        try:
            approvals.sweep()
        except Exception:
            log.exception("approval sweep failed; trying again in %.0f s", interval)
        time.sleep(interval)
