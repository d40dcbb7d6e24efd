"""The append-only audit log with a tamper-evident chain.

Each row's hash covers its own fields and the previous row's hash, so editing,
inserting or deleting a row breaks the chain from that point on. With
``XBOOKER_BOT_AUDIT_KEY`` the hash is an HMAC under a key kept outside the
database, so someone who can write the file cannot re-forge the chain; without
a key it is a plain SHA-256 chain that only detects accidental damage.

Rows are appended inside the caller's transaction (the same one as the state
change they record), never on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlite_utils

from bot.secret import Secret
from bot.store.database import Store

GENESIS = "0" * 64
_FIELDS = ("id", "at", "team_id", "actor", "source", "channel_id", "action", "outcome", "detail")


@dataclass(frozen=True)
class Entry:
    """One thing that happened. ``detail`` must hold no secret: callers pass
    parsed arguments and X Booker's status and message, never tokens or URLs."""

    actor: str
    source: str  # slack | console | cli | system
    action: str  # the command, or an approval transition
    outcome: str  # allowed | refused | requested | succeeded | failed | ...
    team_id: str | None = None
    channel_id: str | None = None
    detail: dict = field(default_factory=dict)


def _digest(key: Secret | None, prev_hash: str, row: dict) -> str:
    canonical = json.dumps([prev_hash, *(row[f] for f in _FIELDS)], separators=(",", ":"))
    if key is None:
        return hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(key.reveal().encode(), canonical.encode(), hashlib.sha256).hexdigest()


def append(
    db: sqlite_utils.Database, entry: Entry, key: Secret | None, at: float | None = None
) -> int:
    """Append inside the caller's write transaction; returns the row id."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit rows are written in the transaction of the change they record")
    last = db.conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    seq = db.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    next_id = max(last[0] if last else 0, seq[0] if seq else 0) + 1
    prev_hash = last[1] if last else GENESIS
    row = {
        "id": next_id,
        "at": round(at if at is not None else time.time(), 3),
        "team_id": entry.team_id,
        "actor": entry.actor,
        "source": entry.source,
        "channel_id": entry.channel_id,
        "action": entry.action,
        "outcome": entry.outcome,
        "detail": json.dumps(entry.detail, sort_keys=True, separators=(",", ":")),
    }
    row["prev_hash"] = prev_hash
    row["hash"] = _digest(key, prev_hash, row)
    db.conn.execute(  # column names are this module's constants, never input
        f"INSERT INTO audit ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
        tuple(row.values()),
    )
    return next_id


def rows(store: Store, limit: int | None = None) -> list[dict]:
    """The newest ``limit`` rows (all if None), oldest first. Reads only the audit table."""
    sql = "SELECT * FROM audit ORDER BY id DESC"
    params: tuple = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (limit,)
    found = list(store.db().query(sql, params))
    found.reverse()
    for row in found:
        row["detail"] = json.loads(row["detail"])
    return found


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: int
    first_bad: int | None = None
    reason: str = ""


def _walk(store: Store) -> Iterator[dict]:
    yield from store.db().query("SELECT * FROM audit ORDER BY id")


def verify(store: Store, key: Secret | None) -> Verdict:
    """Check the whole chain; name the first row where it breaks."""
    prev_hash, expected_id, count = GENESIS, 1, 0
    for row in _walk(store):
        count += 1
        if row["id"] != expected_id:
            return Verdict(False, count, expected_id, f"row {expected_id} is missing")
        if row["prev_hash"] != prev_hash:
            return Verdict(False, count, row["id"], "does not follow the row before it")
        if not hmac.compare_digest(row["hash"], _digest(key, prev_hash, row)):
            why = "was altered" if key is None else "was altered, or the audit key differs"
            return Verdict(False, count, row["id"], why)
        prev_hash, expected_id = row["hash"], expected_id + 1
    seq = store.db().conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    if seq and seq[0] >= expected_id:
        return Verdict(False, count, expected_id, f"rows {expected_id} to {seq[0]} are missing")
    return Verdict(True, count)
