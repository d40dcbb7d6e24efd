"""How far the log channel has got, kept in the ``meta`` table of the bot's database.

Two marks: the id of the last audit row the channel has dealt with, and the UTC day
whose audit head it has posted. Both live in the database, not in memory, so a
restart carries on where the previous process stopped (nothing lost, nothing said
twice), and both move only by compare-and-set, so that of several processes sharing
the file exactly one takes each row or day.
"""

from __future__ import annotations

import json

from bot.store.database import Store

POSTED = "log_channel_posted"  # the id of the last audit row dealt with
HEAD_DAY = "log_channel_head_day"  # the UTC day (YYYY-MM-DD) whose head was posted


def get(store: Store, key: str) -> str | None:
    row = store.db().conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def claim(store: Store, key: str, expected: str | None, value: str) -> bool:
    """Set ``key`` to ``value`` if it still holds ``expected`` (None: if it is unset);
    False when another process moved it first."""
    with store.write() as db:
        if expected is None:
            sql = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
            return db.conn.execute(sql, (key, value)).rowcount == 1
        sql = "UPDATE meta SET value = ? WHERE key = ? AND value = ?"
        return db.conn.execute(sql, (value, key, expected)).rowcount == 1


def posted(store: Store) -> int:
    """The last audit row dealt with. A channel set up on a database that already has a
    log starts at its end: the history is in ``audit``, not worth a flood of messages."""
    found = get(store, POSTED)
    if found is None:
        end = store.db().conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit").fetchone()[0]
        claim(store, POSTED, None, str(end))
        found = get(store, POSTED)
        assert found is not None
    return int(found)


def advance(store: Store, frm: int, to: int) -> bool:
    """Move the row mark from ``frm`` to ``to`` (back, too: to give a row back)."""
    return claim(store, POSTED, str(frm), str(to))


def rows_after(store: Store, after: int, limit: int) -> list[dict]:
    """Up to ``limit`` audit rows after id ``after``, oldest first (by primary key)."""
    rows = list(
        store.db().query("SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
    )
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows
