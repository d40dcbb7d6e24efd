"""``xbooker-bot backup FILE``: a consistent copy of the live database.

Copying the file with ``cp`` while ``serve`` writes can catch a page half-way or
leave out what is still in the ``-wal`` file. SQLite's online backup API copies
the database as one read transaction sees it: every committed transaction up to
that moment, none after, while writers carry on (in WAL mode a reader never
blocks them). The copy is written to a private file next to the target (created
0600 before SQLite opens it, as the database itself is), switched out of WAL mode
so that it is one self-contained file, flushed to disk, and only then renamed to
the name asked for: a failed or interrupted backup never leaves a half-written
file under that name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import quote

from bot.store.database import BUSY_TIMEOUT_SECONDS


class BackupError(Exception):
    """The backup cannot be made; the text says why and what to do."""


def copy(source: Path, target: Path, *, force: bool = False) -> int:
    """Copy the database at ``source`` to ``target`` (mode 0600); returns its size in
    bytes. An existing ``target`` is replaced only with ``force``."""
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise BackupError(f"{source} does not exist: check XBOOKER_BOT_DB")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose another name, or add --force to replace it")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give a file name")
    live = source.resolve()
    companions = {live.with_name(live.name + end) for end in ("-wal", "-shm", "-journal")}
    if target.resolve() == live or target.resolve() in companions:
        raise BackupError(
            "the backup would overwrite the database or one of its files: choose another name"
        )
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        _backup(source, partial)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
        _sync_folder(target.parent)  # the rename itself survives a power cut
    except OSError as exc:
        _remove(partial)
        raise BackupError(f"the backup could not be written to {target}: {exc.strerror}") from None
    except BaseException:
        _remove(partial)
        raise
    return target.stat().st_size


def _remove(partial: Path) -> None:
    """The unfinished copy and the journal SQLite may have left beside it."""
    for leftover in (partial, partial.with_name(partial.name + "-journal")):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup(source: Path, target: Path) -> None:
    # mode=rw: never create an empty database where the live one was expected.
    live = sqlite3.connect(
        f"file:{quote(str(source.absolute()))}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS
    )
    try:
        out = sqlite3.connect(target)
        try:
            live.backup(out)  # all pages in one step: one consistent snapshot
            out.execute("PRAGMA journal_mode = DELETE")
        finally:
            out.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the backup failed: {exc}") from None
    finally:
        live.close()
