"""The append-only audit log with a tamper-evident chain.

Each row's hash covers its own fields and the previous row's hash, so editing,
inserting or deleting a row breaks the chain from that point on. With
``XBOOKER_BOT_AUDIT_KEY`` the hash is an HMAC under a key kept outside the
database, so someone who can write the file cannot re-forge the chain; without
a key it is a plain SHA-256 chain that only detects accidental damage.

A chain alone cannot show that its newest rows were cut off, or that the whole
table was emptied: what is left still verifies. So each append also updates a
*head* record (last id, last hash, row count) sealed with the same key, in the
same transaction. ``verify`` checks the chain against the head; ``head`` prints
it so an operator can keep a copy outside the database (the strongest anchor).

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


def _mac(key: Secret | None, canonical: str) -> str:
    if key is None:
        return hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(key.reveal().encode(), canonical.encode(), hashlib.sha256).hexdigest()


def _digest(key: Secret | None, prev_hash: str, row: dict) -> str:
    return _mac(key, json.dumps([prev_hash, *(row[f] for f in _FIELDS)], separators=(",", ":")))


@dataclass(frozen=True)
class Head:
    """The newest row's id and hash and the number of rows, sealed under the key."""

    last_id: int
    last_hash: str
    rows: int
    mac: str

    def __str__(self) -> str:
        return f"audit head: last row {self.last_id}, {self.rows} row(s), hash {self.last_hash}"


def _seal(key: Secret | None, last_id: int, last_hash: str, count: int) -> str:
    return _mac(key, f"audit-head:{last_id}:{last_hash}:{count}")


def head(store: Store) -> Head | None:
    row = (
        store.db()
        .conn.execute("SELECT last_id, last_hash, row_count, mac FROM audit_head WHERE id = 1")
        .fetchone()
    )
    return Head(*row) if row else None


def append(
    db: sqlite_utils.Database, entry: Entry, key: Secret | None, at: float | None = None
) -> int:
    """Append inside the caller's write transaction; returns the row id.

    The head is read first and names the previous row, so an append is three
    statements. A head found unsealed (blanked, or left by a database from before
    heads) is never sealed here: that would bless whatever was done to the log.
    Only ``seal`` does, on an operator's word."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit rows are written in the transaction of the change they record")
    found = db.conn.execute(
        "SELECT last_id, last_hash, row_count, mac FROM audit_head WHERE id = 1"
    ).fetchone()
    if found is not None:
        last_id, prev_hash, count, sealed = found[0], found[1], found[2] + 1, bool(found[3])
    else:
        last = db.conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        seq = db.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        last_id = max(last[0] if last else 0, seq[0] if seq else 0)
        prev_hash = last[1] if last else GENESIS
        count = db.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] + 1
        sealed = last_id == 0  # a new log; a headless one with rows is not ours to bless
    next_id = last_id + 1
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
    _write_head(db, key, next_id, row["hash"], count, sealed)
    return next_id


def _write_head(
    db: sqlite_utils.Database,
    key: Secret | None,
    last_id: int,
    last_hash: str,
    count: int,
    sealed: bool,
) -> None:
    mac = _seal(key, last_id, last_hash, count) if sealed else ""
    db.conn.execute(
        "INSERT INTO audit_head (id, last_id, last_hash, row_count, mac) VALUES (1, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, "
        "last_hash = excluded.last_hash, row_count = excluded.row_count, mac = excluded.mac",
        (last_id, last_hash, count, mac),
    )


def seal(store: Store, key: Secret | None, entry: Entry) -> Verdict:
    """Seal the head over the log as it is now, if its chain is intact, and record who
    did so: for a database from before heads were kept, or after an operator has
    checked a log that ``verify`` flags only for its head."""
    verdict = _verify_chain(store, key)
    if not verdict.ok:
        return verdict
    with store.write() as db:
        last = db.conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        count = db.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        last_id, last_hash = last if last is not None else (0, GENESIS)
        _write_head(db, key, last_id, last_hash, count, True)
        append(db, entry, key)
    return _verify_head(store, key, count + 1)


@dataclass(frozen=True)
class Page:
    """Rows of one page of the log, newest page first, each page oldest row first."""

    rows: list[dict]
    number: int
    pages: int
    size: int
    last: int  # the row pages are counted down from


def page(store: Store, size: int, number: int = 1, last: int | None = None) -> Page:
    """Page ``number`` of the log in pages of ``size`` rows, counted down from row ``last``
    (default: the newest), page 1 the newest. Pages are ranges of row ids, so any page
    costs one indexed range read however long the log; a fixed ``last`` keeps the pages
    where they were while new rows arrive (turning a page writes one)."""
    newest = store.db().conn.execute("SELECT MAX(id) FROM audit").fetchone()[0] or 0
    last = newest if last is None else min(last, newest)
    top = last - (number - 1) * size
    found = store.db().query(
        "SELECT * FROM audit WHERE id > ? AND id <= ? ORDER BY id", (top - size, top)
    )
    rows = [{**row, "detail": json.loads(row["detail"])} for row in found]
    return Page(rows, number, max(1, -(-last // size)), size, last)


def rows(store: Store, limit: int | None = None) -> list[dict]:
    """The newest ``limit`` rows (all if None), oldest first. Reads only the audit table."""
    return list(stream(store, limit))


def stream(store: Store, limit: int | None = None) -> Iterator[dict]:
    """Like :func:`rows`, one row at a time from SQLite's cursor, so that an export of
    millions of rows holds one row in memory, not all of them."""
    if limit is None:
        sql, params = "SELECT * FROM audit ORDER BY id", ()
    else:
        sql = "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id"
        params = (limit,)
    for row in store.db().query(sql, params):
        row["detail"] = json.loads(row["detail"])
        yield row


def describe(detail: dict) -> str:
    """What a row was about, for every view of the log: the request, the command and its
    arguments and targets, and X Booker's status and message. Plain text; each view
    escapes it for where it is shown."""
    parts: list[str] = []
    if "request" in detail:
        parts.append(f"request #{detail['request']}")
    if detail.get("command"):
        parts.append(str(detail["command"]))
    for key in ("args", "targets"):
        values = detail.get(key)
        if isinstance(values, dict):
            parts += [f"{k}={_flat(v)}" for k, v in values.items() if v not in (None, "", {})]
    if detail.get("typed") and not detail.get("command"):
        parts.append(f"typed {detail['typed']!r}")
    for key in ("reason", "error", "was"):
        if detail.get(key):
            parts.append(f"{key}: {detail[key]}")
    if detail.get("status") is not None or detail.get("message"):
        status = f"HTTP {detail['status']} " if detail.get("status") is not None else ""
        parts.append(f"{status}{detail.get('message', '')}".strip())
    return " · ".join(parts)


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: int
    first_bad: int | None = None
    reason: str = ""


def _walk(store: Store) -> Iterator[dict]:
    yield from store.db().query("SELECT * FROM audit ORDER BY id")


def verify(store: Store, key: Secret | None, anchor: tuple[int, str] | None = None) -> Verdict:
    """Check the whole chain, then that it ends where the sealed head says, then (given
    a head kept outside the database) that the log still holds that row unchanged."""
    verdict = _verify_chain(store, key)
    if verdict.ok:
        verdict = _verify_head(store, key, verdict.rows)
    if verdict.ok and anchor is not None:
        row = (
            store.db().conn.execute("SELECT hash FROM audit WHERE id = ?", (anchor[0],)).fetchone()
        )
        if row is None or not hmac.compare_digest(row[0], anchor[1]):
            why = "is missing" if row is None else "differs from the kept head"
            return Verdict(False, verdict.rows, anchor[0], f"row {anchor[0]} {why}")
    return verdict


def _verify_head(store: Store, key: Secret | None, count: int) -> Verdict:
    found = head(store)
    conn = store.db().conn
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    if found is None:
        if last is not None:
            return Verdict(False, count, None, "the head record is missing (it was deleted)")
        # An empty log with no head is a new database, unless the bot has visibly been
        # used: every approval request and every grant it made wrote audit rows.
        used = conn.execute(
            "SELECT (SELECT COUNT(*) FROM approvals) + (SELECT COUNT(*) FROM grants)"
        ).fetchone()[0]
        if used:
            return Verdict(
                False,
                0,
                1,
                f"the log is empty but the database holds {used} request(s) and grant(s) "
                "made through the bot: rows were removed",
            )
        return Verdict(True, 0)
    if not found.mac:
        return Verdict(
            False,
            count,
            None,
            "the head record is not sealed: its seal was removed, or the database is from "
            "before heads were kept (check the log, then run 'xbooker-bot audit seal')",
        )
    if not hmac.compare_digest(found.mac, _seal(key, found.last_id, found.last_hash, found.rows)):
        why = "the head record was altered" + ("" if key is None else ", or the audit key differs")
        return Verdict(False, count, None, why)
    if last is None or found.rows != count or (found.last_id, found.last_hash) != tuple(last):
        return Verdict(
            False,
            count,
            (last[0] + 1) if last else 1,
            f"the log ends at row {last[0] if last else 0} with {count} row(s), but its head "
            f"says row {found.last_id} with {found.rows}: rows were removed",
        )
    return Verdict(True, count)


def _verify_chain(store: Store, key: Secret | None) -> Verdict:
    """Walk the chain; name the first row where it breaks."""
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
