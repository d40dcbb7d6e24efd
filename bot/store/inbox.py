"""The requests one person's App Home shows: those awaiting their decision and their own.

Both are bounded, indexed queries (``approvals_open`` and ``approvals_requester``),
so a home costs the same with ten open requests or ten thousand.
"""

from __future__ import annotations

from bot.store.approvals import Request, _with_decisions
from bot.store.database import Store


def awaiting(store: Store, team_id: str, user_id: str, limit: int) -> tuple[list[Request], int]:
    """Pending requests ``user_id`` has not decided and did not make (oldest first), and
    how many there are in all."""
    where = (
        "team_id = ? AND status = 'pending' AND requester != ? AND id NOT IN "
        "(SELECT request_id FROM approval_decisions WHERE user_id = ?)"
    )
    params = (team_id, user_id, user_id)
    db = store.db()
    total = db.conn.execute(
        f"SELECT COUNT(*) FROM approvals WHERE {where}",  # noqa: S608 - constants only
        params,
    ).fetchone()[0]
    rows = list(
        db.query(
            f"SELECT * FROM approvals WHERE {where} ORDER BY id LIMIT ?",  # noqa: S608
            (*params, limit),
        )
    )
    return _with_decisions(db, rows), total


def mine(store: Store, team_id: str, user_id: str, limit: int) -> list[Request]:
    """``user_id``'s latest requests, newest first, whatever their state."""
    db = store.db()
    rows = list(
        db.query(
            "SELECT * FROM approvals WHERE team_id = ? AND requester = ? ORDER BY id DESC LIMIT ?",
            (team_id, user_id, limit),
        )
    )
    return _with_decisions(db, rows)
