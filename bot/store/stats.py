"""Counts read at scrape time (``/metrics``): each one indexed query whose cost does not
grow with the audit log, the decisions or the closed requests, on the store's shared
reader (a scrape may run on a thread of its own, which must not open a connection).

Open requests are counted from the ``approvals_open`` index (team, status, id), so a
count reads only the index entries of the open states; the next expiry is the first
entry of ``approvals_status`` (status, expires_at).
"""

from __future__ import annotations

from bot.store.database import Store

OPEN = ("pending", "approved", "executing")


def open_approvals(store: Store, team_id: str) -> dict[str, int]:
    """Requests of ``team_id`` in each open state (every state present, 0 if none)."""
    counts = dict.fromkeys(OPEN, 0)
    with store.shared_reader() as conn:
        for status in OPEN:
            # One index range per state: "IN" with GROUP BY would also read only the
            # index, but this keeps each a plain range count, whatever the planner prefers.
            row = conn.execute(
                "SELECT COUNT(*) FROM approvals WHERE team_id = ? AND status = ?",
                (team_id, status),
            ).fetchone()
            counts[status] = row[0]
    return counts


def next_expiry(store: Store, team_id: str) -> float | None:
    """When the pending request of ``team_id`` that expires first does; None if none."""
    with store.shared_reader() as conn:
        row = conn.execute(
            "SELECT expires_at FROM approvals WHERE status = 'pending' AND team_id = ? "
            "ORDER BY expires_at LIMIT 1",
            (team_id,),
        ).fetchone()
    return None if row is None else row[0]
