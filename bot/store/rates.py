"""Per-user rate-limit events: one row per command that counted against a limit.

Rows are written inside the transaction of the command's own audit row, never in
one of their own. The table is one B-tree keyed (team, user, kind, at, ref), so a
count reads at most ``cap`` entries of one user (the check costs the same whatever
the number of users or the age of the file) and an insert touches one tree, which
matters inside the write transaction every command queues for. Rows that have
left the window are dropped by the insert that finds :data:`STALE` of them for its
user (the check counts them, reading a few index entries), so the table holds
about one window of events per active user and the delete runs for one command
in several, not for each.
"""

from __future__ import annotations

import sqlite3

from bot.store.database import Store

_WINDOW = "team_id = ? AND user_id = ? AND kind = ? AND at > ?"
_STALE = "team_id = ? AND user_id = ? AND kind = ? AND at <= ?"
STALE = 8  # rows out of the window that a user may leave before they are dropped


def recent(
    store: Store, team_id: str, user_id: str, kind: str, since: float, cap: int, refs: list[str]
) -> tuple[int, int, bool]:
    """Events of this user and kind after ``since`` (counting at most ``cap``), how many
    of ``refs`` (reservations of this process) are among them, and whether the user has
    :data:`STALE` events from before ``since`` to drop. One statement, so the counts see
    the same committed state: a reservation committed between two queries would
    otherwise be counted by neither."""
    marks = ", ".join("?" * len(refs)) or "NULL"
    window = (team_id, user_id, kind, since)
    row = (
        store.db()
        .conn.execute(
            f"SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM rate_events WHERE {_WINDOW} LIMIT ?)), "  # noqa: S608
            f"(SELECT COUNT(*) FROM rate_events WHERE {_WINDOW} AND ref IN ({marks})), "
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM rate_events WHERE {_STALE} LIMIT ?))",
            (*window, cap, *window, *refs, *window, STALE),
        )
        .fetchone()
    )
    return row[0], row[1], row[2] >= STALE


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
        "INSERT INTO rate_events (team_id, user_id, kind, at, ref) VALUES (?, ?, ?, ?, ?)",
        (team_id, user_id, kind, at, ref),
    )
