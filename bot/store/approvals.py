"""Approval requests in SQLite: the rows, and the one compare-and-set every transition uses.

The state machine itself lives in :mod:`bot.core.approvals`; this module only
knows how a request is stored. Transitions are ``UPDATE ... WHERE status = ?``
run inside the caller's ``BEGIN IMMEDIATE`` transaction, next to the audit row
that records them, so a transition and its record land together or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils

from bot.store.database import Store

OPEN = ("pending", "approved", "executing")
FINAL = ("succeeded", "failed", "rejected", "cancelled", "expired")


@dataclass(frozen=True)
class Request:
    id: int
    team_id: str
    requester: str
    command: str
    args: dict
    targets: dict
    lines: list[str]  # what will change, one sanitised mrkdwn line each
    before: dict | None  # the "from" values; None when X Booker refused the read
    read_error: str | None
    channel_id: str | None
    message_ts: str | None
    nonce: str | None  # binds the card's buttons to this request (None: made before nonces)
    status: str
    needed: int
    created_at: float
    expires_at: float
    outcome: dict | None
    claimed_by: str | None
    claimed_at: float | None
    reference: str | None
    approvers: tuple[str, ...]
    rejecter: tuple[str, str | None] | None


def _request(row: dict, decisions: list[tuple[str, str, str | None]]) -> Request:
    arguments, preview = json.loads(row["arguments"]), json.loads(row["preview"])
    rejected = [(user, why) for user, decision, why in decisions if decision == "reject"]
    return Request(
        id=row["id"],
        team_id=row["team_id"],
        requester=row["requester"],
        command=row["command"],
        args=arguments["args"],
        targets=json.loads(row["targets"]),
        lines=preview["lines"],
        before=preview["before"],
        read_error=preview.get("read_error"),
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        nonce=row["nonce"],
        status=row["status"],
        needed=row["approvals_needed"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        outcome=json.loads(row["outcome"]) if row["outcome"] else None,
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
        reference=row["reference"],
        approvers=tuple(user for user, decision, _ in decisions if decision == "approve"),
        rejecter=rejected[0] if rejected else None,
    )


def insert(db: sqlite_utils.Database, **values: object) -> int:
    """A new pending request; ``arguments``, ``targets`` and ``preview`` are stored as JSON."""
    row = {
        **values,
        "status": "pending",
        "arguments": json.dumps(values["arguments"]),
        "targets": json.dumps(values["targets"]),
        "preview": json.dumps(values["preview"]),
    }
    columns = ", ".join(row)  # the keyword names of this module's one caller, never input
    marks = ", ".join("?" * len(row))
    sql = f"INSERT INTO approvals ({columns}) VALUES ({marks})"  # noqa: S608
    return db.conn.execute(sql, tuple(row.values())).lastrowid


def set_message(db: sqlite_utils.Database, rid: int, channel: str, ts: str) -> None:
    db.conn.execute(
        "UPDATE approvals SET channel_id = ?, message_ts = ? WHERE id = ?", (channel, ts, rid)
    )


_DECISIONS = (
    "SELECT request_id, user_id, decision, reason FROM approval_decisions "
    "WHERE request_id IN ({}) ORDER BY decided_at, rowid"
)


def _with_decisions(db: sqlite_utils.Database, rows: list[dict]) -> list[Request]:
    """Requests for ``rows``, their decisions read in one query for all of them."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    by_id: dict[int, list] = {rid: [] for rid in ids}
    sql = _DECISIONS.format(", ".join("?" * len(ids)))
    for rid, user, decision, why in db.conn.execute(sql, ids):
        by_id[rid].append((user, decision, why))
    return [_request(row, by_id[row["id"]]) for row in rows]


def load(store: Store, rid: int, db: sqlite_utils.Database | None = None) -> Request | None:
    db = db or store.db()
    rows = list(db.query("SELECT * FROM approvals WHERE id = ?", (rid,)))
    found = _with_decisions(db, rows)
    return found[0] if found else None


def open_page(store: Store, team_id: str, offset: int, limit: int) -> tuple[list[Request], int]:
    """One page of open requests (oldest first) and how many are open in all: two
    indexed queries whatever the number of open requests."""
    db = store.db()
    marks = ", ".join("?" * len(OPEN))
    where = f"team_id = ? AND status IN ({marks})"
    total = db.conn.execute(
        f"SELECT COUNT(*) FROM approvals WHERE {where}",  # noqa: S608 - constants only
        (team_id, *OPEN),
    ).fetchone()[0]
    rows = list(
        db.query(
            f"SELECT * FROM approvals WHERE {where} ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608
            (team_id, *OPEN, limit, offset),
        )
    )
    return _with_decisions(db, rows), total


def _ids(store: Store, where: str, params: tuple) -> list[int]:
    sql = f"SELECT id FROM approvals WHERE {where} ORDER BY id"  # noqa: S608 - this module's
    return [row[0] for row in store.db().conn.execute(sql, params)]


def due(store: Store, team_id: str, now: float) -> list[int]:
    """Pending requests whose time is up."""
    return _ids(store, "team_id = ? AND status = 'pending' AND expires_at <= ?", (team_id, now))


def unclaimed(store: Store, team_id: str) -> list[int]:
    """Requests approved but never claimed for execution."""
    return _ids(store, "team_id = ? AND status = 'approved'", (team_id,))


def executing_unflagged(store: Store, team_id: str) -> list[int]:
    """Requests being executed (or left so) that nobody has flagged yet."""
    return _ids(store, "team_id = ? AND status = 'executing' AND outcome IS NULL", (team_id,))


def decided_by(db: sqlite_utils.Database, rid: int, user: str) -> str | None:
    row = db.conn.execute(
        "SELECT decision FROM approval_decisions WHERE request_id = ? AND user_id = ?", (rid, user)
    ).fetchone()
    return row[0] if row else None


def add_decision(
    db: sqlite_utils.Database, rid: int, user: str, decision: str, reason: str | None, at: float
) -> None:
    db.conn.execute(
        "INSERT INTO approval_decisions (request_id, user_id, decision, reason, decided_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (rid, user, decision, reason, at),
    )


def approvers(db: sqlite_utils.Database, rid: int) -> list[str]:
    return [
        row[0]
        for row in db.conn.execute(
            "SELECT user_id FROM approval_decisions WHERE request_id = ? AND decision = 'approve'",
            (rid,),
        )
    ]


def move(
    db: sqlite_utils.Database,
    rid: int,
    frm: str,
    to: str,
    at: float,
    *,
    outcome: dict | None = None,
    claimed_by: str | None = None,
) -> bool:
    """The one compare-and-set every transition goes through; False if another won."""
    sets, params = ["status = ?"], [to]
    if to in FINAL:
        sets.append("settled_at = ?")
        params.append(at)
    if outcome is not None:
        sets.append("outcome = ?")
        params.append(json.dumps(outcome))
    if claimed_by is not None:
        sets += ["claimed_by = ?", "claimed_at = ?"]
        params += [claimed_by, at]
    cursor = db.conn.execute(
        f"UPDATE approvals SET {', '.join(sets)} WHERE id = ? AND status = ?",  # noqa: S608
        (*params, rid, frm),
    )
    return cursor.rowcount == 1


def flag_unknown(db: sqlite_utils.Database, rid: int, why: str) -> bool:
    """Mark an execution whose result no one will record; the first flag wins."""
    return bool(
        db.conn.execute(
            "UPDATE approvals SET outcome = ? WHERE id = ? AND status = 'executing' AND "
            "outcome IS NULL",
            (json.dumps({"unknown": why}), rid),
        ).rowcount
    )


def count_pending(store: Store, team_id: str) -> int:
    return (
        store.db()
        .conn.execute(
            "SELECT COUNT(*) FROM approvals WHERE team_id = ? AND status = 'pending'", (team_id,)
        )
        .fetchone()[0]
    )


# -- reminders --------------------------------------------------------------------------
# Both queries read a range of the (status, expires_at) index: the requests that expire
# within the window, never every open request. INDEXED BY keeps SQLite from preferring
# (team_id, status, id), which would walk all pending requests.
_REMINDERS = (
    "SELECT id FROM approvals INDEXED BY approvals_status "
    "WHERE status = 'pending' AND expires_at > ? AND expires_at <= ? AND team_id = ? "
    "AND message_ts IS NOT NULL AND {} ORDER BY expires_at, id"
)


def due_half_reminders(store: Store, team_id: str, now: float, window: float) -> list[int]:
    """Pending requests with a card, half whose lifetime has passed, not reminded yet.
    ``window``: half the longest lifetime a pending request may have (the range read)."""
    sql = _REMINDERS.format("reminded_half_at IS NULL AND (created_at + expires_at) / 2 <= ?")
    return [row[0] for row in store.db().conn.execute(sql, (now, now + window, team_id, now))]


def due_hour_reminders(store: Store, team_id: str, now: float, before: float) -> list[int]:
    """Pending requests with a card that expire within ``before`` seconds, not reminded of
    that yet, and whose lifetime is at least three times ``before``: shorter, the last
    reminder would come within half an hour of the half-way one, which is enough."""
    sql = _REMINDERS.format("reminded_hour_at IS NULL AND expires_at - created_at >= ?")
    params = (now, now + before, team_id, 3 * before)
    return [row[0] for row in store.db().conn.execute(sql, params)]


def claim_half_reminder(db: sqlite_utils.Database, rid: int, at: float) -> bool:
    """Take the half-way reminder of a request that is still pending: whoever's update
    lands sends it, whatever the number of processes or restarts."""
    return bool(
        db.conn.execute(
            "UPDATE approvals SET reminded_half_at = ? WHERE id = ? AND status = 'pending' "
            "AND reminded_half_at IS NULL",
            (at, rid),
        ).rowcount
    )


def claim_hour_reminder(db: sqlite_utils.Database, rid: int, at: float) -> bool:
    """Take the last-hour reminder; a half-way one not sent yet is then never sent (one
    reminder is enough, and this one is the more urgent)."""
    return bool(
        db.conn.execute(
            "UPDATE approvals SET reminded_hour_at = ?, "
            "reminded_half_at = COALESCE(reminded_half_at, ?) "
            "WHERE id = ? AND status = 'pending' AND reminded_hour_at IS NULL",
            (at, at, rid),
        ).rowcount
    )


def longest_pending_ttl(store: Store, team_id: str) -> float:
    """The longest lifetime among pending requests (0 if none): read once per process,
    so that requests made under a longer XBOOKER_BOT_APPROVAL_TTL are still reminded."""
    row = (
        store.db()
        .conn.execute(
            "SELECT MAX(expires_at - created_at) FROM approvals WHERE team_id = ? "
            "AND status = 'pending'",
            (team_id,),
        )
        .fetchone()
    )
    return float(row[0] or 0)
