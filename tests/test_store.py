"""The store: file mode, WAL, migrations under a lock, and transactions that hold."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from bot.secret import Secret
from bot.store import Store, StoreError
from bot.store.schema import MIGRATIONS
from bot.store.tokens import GenerationConflict, RefreshTokenStore, TokenKey
from tests.helpers import run_threads


def test_file_created_private_with_wal(tmp_path):
    store = Store(tmp_path / "new.db")
    store.db().execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    for path in (tmp_path / "new.db", tmp_path / "new.db-wal"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    mode = store.db().conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert store.schema_version() == len(MIGRATIONS)
    store.close()


def test_concurrent_start_migrates_once(tmp_path):
    path = tmp_path / "race.db"
    results = run_threads(8, lambda: Store(path).close())
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    rows = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert rows == [(v,) for v in range(1, len(MIGRATIONS) + 1)]


def test_newer_schema_is_refused(tmp_path):
    store = Store(tmp_path / "x.db")
    store.db().execute("INSERT INTO schema_version VALUES (999, 0)")
    store.close()
    with pytest.raises(StoreError, match="upgrade xbooker-bot"):
        Store(tmp_path / "x.db")


def test_not_a_database(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(tmp_path / "junk.db")


def test_missing_folder(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope" / "x.db")


def test_write_rolls_back_on_error(store):
    with pytest.raises(RuntimeError), store.write() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
        raise RuntimeError("boom")
    assert store.query_one("SELECT * FROM meta WHERE key = 'a'") is None


def test_read_modify_write_under_contention(tmp_path):
    """16 threads increment one counter with BEGIN IMMEDIATE: no lost update, no 'locked'."""
    store = Store(tmp_path / "c.db")
    store.db().execute("INSERT INTO meta (key, value) VALUES ('n', '0')")
    failures: list[Exception] = []

    def bump() -> None:
        for _ in range(20):
            try:
                with store.write() as db:
                    n = int(db.execute("SELECT value FROM meta WHERE key='n'").fetchone()[0])
                    db.execute("UPDATE meta SET value = ? WHERE key = 'n'", (str(n + 1),))
            except Exception as exc:
                failures.append(exc)

    run_threads(16, bump)
    assert failures == []
    assert store.query_one("SELECT value FROM meta WHERE key='n'")["value"] == "320"
    store.close()


def test_refresh_token_compare_and_set(store):
    tokens = RefreshTokenStore(store, TokenKey("https://x", "o", "c"))
    first = tokens.save(Secret("token-one-123"), 0, 100.0)
    assert (first.generation, first.reissues) == (1, 0)
    with pytest.raises(GenerationConflict):
        tokens.save(Secret("token-two-456"), 0, 101.0)
    second = tokens.save(Secret("token-two-456"), 1, 102.0)
    assert (second.generation, second.reissues) == (2, 1)
    assert tokens.load().token.reveal() == "token-two-456"


def test_lease_excludes_other_holders_until_expiry(store):
    tokens = RefreshTokenStore(store, TokenKey("https://x", "o", "c"))
    assert tokens.acquire_lease("a", now=100.0, ttl=30)
    assert not tokens.acquire_lease("b", now=110.0, ttl=30)
    assert tokens.acquire_lease("b", now=131.0, ttl=30)  # a's lease lapsed
    tokens.release_lease("a")  # not a's any more: no effect
    assert not tokens.acquire_lease("a", now=132.0, ttl=30)
    tokens.release_lease("b")
    assert tokens.acquire_lease("a", now=133.0, ttl=30)
