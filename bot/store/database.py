"""The one owner of the SQLite file: connections, transactions and migrations.

Bolt runs listeners on pool threads and gunicorn may run ``serve`` next to a CLI
command, so every thread gets its own connection, the file is in WAL mode, and
every read-modify-write opens with ``BEGIN IMMEDIATE``: a deferred transaction
that later upgrades to a write fails at once under WAL, ignoring the busy
timeout. Callers never hold a transaction across an HTTP call; the helpers here
make the short, explicit transaction the easy thing to write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from bot.store.schema import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 15.0


def fault_kind(exc: Exception) -> str:
    """What a failed database operation ran into: ``locked`` (another process held it
    past the busy timeout), ``full`` (no space left) or ``error`` (I/O, schema)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "locked"
    return "full" if "full" in text else "error"


class StoreError(Exception):
    """The database cannot be opened or is not one of ours."""


class Store:
    """Thread-safe access to one SQLite file (one connection per thread)."""

    def __init__(
        self,
        path: Path | str,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        *,
        readonly: bool = False,
    ) -> None:
        """``readonly``: open an existing file as it is, without creating, migrating or
        changing it (to check a backup)."""
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.readonly = readonly
        self._local = threading.local()
        # Weak: a thread that ends (a metrics server's per-scrape thread, say) drops its
        # connection with its thread-local, and nothing here keeps it open.
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        self._shared: _Connection | None = None
        self._shared_lock = threading.Lock()
        # Writers of this process queue here rather than on SQLite's lock, whose busy
        # handler sleeps 1-100 ms between tries: threads take turns at once.
        self._writer = threading.Lock()
        if readonly:
            if not self.path.is_file():
                raise StoreError(f"{self.path} does not exist")
            return
        self._create_private()
        self._migrate()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _create_private(self) -> None:
        """Create the file 0600 before SQLite does; its -wal and -shm copy the mode."""
        if not self.path.parent.exists():
            raise StoreError(f"the folder {self.path.parent} does not exist")
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            mode = self.path.stat().st_mode & 0o777
            if mode & 0o077:
                log.warning(
                    "database %s is readable by other users (mode %o); it holds the "
                    "refresh token: chmod 600 it",
                    self.path,
                    mode,
                )
            return
        except OSError as exc:
            raise StoreError(f"cannot create {self.path}: {exc.strerror}") from None
        os.close(fd)

    @contextmanager
    def shared_reader(self) -> Iterator[sqlite3.Connection]:
        """One connection shared under a lock, for reads from threads that live for one
        request (a metrics server runs each scrape on a new thread): a connection per
        such thread would be opened on every scrape, and SQLite keeps the descriptor of
        a closed one while others hold locks on the file."""
        with self._shared_lock:
            if self._shared is None:
                self._shared = self._connect()
                with self._all_lock:
                    self._all.add(self._shared)
            yield self._shared

    def db(self) -> sqlite_utils.Database:
        """This thread's connection, opened on first use."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self._connect())
            self._local.db = db
            with self._all_lock:
                self._all.add(db.conn)
        return db

    def _connect(self) -> _Connection:
        # check_same_thread=False so that close() can run from the main thread at
        # shutdown, and the shared reader from any thread, one at a time.
        conn = sqlite3.connect(
            f"file:{quote(str(self.path.absolute()))}?mode={'ro' if self.readonly else 'rw'}",
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=True,
            factory=_Connection,
        )
        conn.execute("PRAGMA foreign_keys = ON")
        if not self.readonly:
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error,
        a failed ``COMMIT`` included (else the thread's connection would stay inside it).
        What :meth:`on_commit` registered during it runs after the commit, and only then."""
        db = self.db()
        if db.conn.in_transaction:
            raise RuntimeError("nested write transaction")
        # Waiting here counts against the same busy timeout as waiting on SQLite's lock,
        # so that a database held by another process answers "busy" in bounded time
        # instead of each queued thread waiting out the timeout in turn.
        if not self._writer.acquire(timeout=self.busy_timeout):
            raise sqlite3.OperationalError("database is locked (writers of this process queued)")
        committed: list[Callable[[], None]] = []
        self._local.committed = committed
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.conn.in_transaction:
                    db.conn.rollback()
                raise
        finally:
            self._local.committed = None
            self._writer.release()
        for observe in committed:
            try:
                observe()
            except Exception:  # an observer must not turn a committed change into an error
                log.exception("an observer of a committed write failed")

    def on_commit(self, observe: Callable[[], None]) -> None:
        """Run ``observe`` once this thread's write transaction has committed (never if it
        rolls back): how counters see only what really happened, at no extra write."""
        pending = getattr(self._local, "committed", None)
        if pending is None:
            raise RuntimeError("on_commit outside a write transaction")
        pending.append(observe)

    def query_one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        rows = list(self.db().query(sql, params))
        return rows[0] if rows else None

    def _migrate(self) -> None:
        try:
            db = self.db()
            mode = self._switch_to_wal(db.conn)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from None
        if mode.lower() != "wal":
            log.warning("database %s could not switch to WAL (mode %s)", self.path, mode)
        with self.write():
            db.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            version = self._version(db)
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this "
                    f"xbooker-bot knows ({len(MIGRATIONS)}): upgrade xbooker-bot"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    db.conn.execute(statement)
                db.conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (number, time.time()),
                )
                log.info("database %s migrated to schema version %d", self.path, number)

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """Switching a new file to WAL takes an exclusive lock, and SQLite answers "locked"
        at once (its busy handler is not called) while another process opening the same
        new file holds one: try again within the busy timeout, as for any other lock."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @staticmethod
    def _version(db: sqlite_utils.Database) -> int:
        row = db.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return row[0] or 0

    def schema_version(self) -> int:
        return self._version(self.db())

    def close(self) -> None:
        """Close every thread's connection (used by tests and at shutdown)."""
        with self._all_lock:
            for conn in list(self._all):
                with contextlib.suppress(sqlite3.Error):  # already closed
                    conn.close()
            self._all.clear()
        self._local = threading.local()
        self._shared = None


class _Connection(sqlite3.Connection):
    """A connection that can be referred to weakly (the C type cannot)."""


def _statements(script: str) -> list[str]:
    """Split a migration into statements; ``executescript`` would COMMIT our lock away."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
