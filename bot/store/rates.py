"""Per-user rate-limit events: one row per command that counted against a limit.

Rows are written inside the transaction of the command's own audit row, never in
one of their own, and read when a command is planned, with the user's grant
(:func:`standing`). The table is one B-tree keyed (team, user, kind, at, ref), so a
count reads at most ``cap`` entries of one user (the check costs the same whatever
the number of users or the age of the file) and an insert touches one tree, which
matters inside the write transaction every command queues for. Rows that have
left the window are dropped by the insert that finds :data:`STALE` of them for its
user (the check counts them, reading a few index entries), so the table holds
about one window of events per active user and the delete runs for one command
in several, not for each.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from bot.store.database import Store

_WINDOW = "team_id = ? AND user_id = ? AND kind = ? AND at > ?"
_STALE = "team_id = ? AND user_id = ? AND kind = ? AND at <= ?"
STALE = 8  # rows out of the window that a user may leave before they are dropped


@dataclass(frozen=True)
class Standing:
    """What a command's plan reads about its user, in one statement: their stored grant,
    and per limited kind the events in the window but those the caller counts itself
    (``apart``: ref -> time), counted up to the limit, and whether enough events have
    left the window to be worth dropping."""

    role: str | None
    others: dict[str, int]
    stale: frozenset[str]
    apart: dict[str, dict[str, float]]


def standing(
    store: Store,
    team_id: str,
    user_id: str,
    at: float,
    limits: dict[str, tuple[float, int]],
    apart: dict[str, dict[str, float]],
) -> Standing:
    """``limits``: kind -> (window in seconds, limit). ``apart``: per kind, the events
    (ref -> time) the caller keeps count of itself, left out of the counts. One
    statement, because on a busy server a read's cost is mostly its own (it starts a
    read transaction and hands the interpreter lock away while it waits), not what it
    reads: the grant and the counts cost one."""
    # The statement is built from this module's constants and the configured kinds,
    # never from input, and is the same text for every command of a process (the refs
    # left out are one JSON parameter).
    parts = ["(SELECT role FROM grants WHERE team_id = ? AND user_id = ?)"]
    params: list[object] = [team_id, user_id]
    for kind, (window, cap) in limits.items():
        scope = (team_id, user_id, kind, at - window)
        parts.append(
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM rate_events WHERE {_WINDOW} "  # noqa: S608
            "AND ref NOT IN (SELECT value FROM json_each(?)) LIMIT ?))"
        )
        params += [*scope, json.dumps(list(apart.get(kind, {}))), cap]
        parts.append(
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM rate_events WHERE {_STALE} LIMIT ?))"  # noqa: S608
        )
        params += [*scope, STALE]
    row = store.db().conn.execute("SELECT " + ", ".join(parts), params).fetchone()
    counts = row[1:]
    return Standing(
        row[0],
        {kind: counts[2 * i] for i, kind in enumerate(limits)},
        frozenset(kind for i, kind in enumerate(limits) if counts[2 * i + 1] >= STALE),
        apart,
    )


def times(store: Store, team_id: str, user_id: str, kind: str, since: float) -> dict[str, float]:
    """Every event of this user and kind after ``since``: ref -> time (for a refusal's
    "try again in")."""
    rows = store.db().conn.execute(
        f"SELECT ref, at FROM rate_events WHERE {_WINDOW}",  # noqa: S608
        (team_id, user_id, kind, since),
    )
    return dict(rows.fetchall())


def record(
    conn: sqlite3.Connection,
    team_id: str,
    user_id: str,
    kind: str,
    at: float,
    ref: str,
    expired_before: float | None,
) -> None:
    """Add one event inside the caller's write transaction; with ``expired_before``, also
    drop this user's events of this kind from before then."""
    if expired_before is not None:
        conn.execute(
            f"DELETE FROM rate_events WHERE {_STALE}",  # noqa: S608
            (team_id, user_id, kind, expired_before),
        )
    conn.execute(
        # Ignored when a second audit row of the same transaction carries the same event.
        "INSERT OR IGNORE INTO rate_events (team_id, user_id, kind, at, ref) "
        "VALUES (?, ?, ?, ?, ?)",
        (team_id, user_id, kind, at, ref),
    )
