"""`xbooker-bot backup FILE`: a consistent, private copy taken while commands write, whose
audit chain verifies and which holds every row committed before it began."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from bot.cli import main
from bot.store import Store, audit
from tests.world import ADMIN, World

AUDIT_KEY = "backup-test-audit-key-123"


pytestmark = pytest.mark.usefixtures("cli_log_handler")


def rows(path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def world(sim_server, fake_slack, tmp_path, monkeypatch):
    world = World(
        sim_server,
        fake_slack,
        tmp_path,
        XBOOKER_BOT_AUDIT_KEY=AUDIT_KEY,
        XBOOKER_BOT_USER_RATE="0",
        XBOOKER_BOT_REQUEST_RATE="0",
    )
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "PYTHON_DOTENV_DISABLED": "1",
        "XBOOKER_BOT_DB": str(world.settings.db_path),
        "XBOOKER_BOT_AUDIT_KEY": AUDIT_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    yield world
    world.close()


def test_backup_during_32_commands_verifies_and_holds_every_committed_row(
    world, sim, tmp_path, capsys
):
    live = world.settings.db_path
    members = sorted(m["id"] for m in sim.members.values() if m["role"] == "member")
    sim.latency = 0.3  # commands still in flight while the copy is taken
    texts = [f"access grant U0BACKUP{i:02d} viewer" for i in range(16)]
    texts += ["org"] * 8 + [f"members remove {m}" for m in members[:8]]
    paths = [world.command(text, user=ADMIN)[1] for text in texts]  # 32 lazy commands
    committed = {
        "audit": rows(live, "SELECT id, hash FROM audit"),
        "grants": rows(live, "SELECT user_id, role FROM grants"),
        "approvals": rows(live, "SELECT id, status FROM approvals WHERE status = 'pending'"),
    }
    target = tmp_path / "copy.db"
    assert main(["backup", str(target)]) == 0
    out = capsys.readouterr().out
    assert "chain intact" in out and "HMAC" in out
    for path in paths:
        world.wait_response(path)

    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert not (tmp_path / "copy.db-wal").exists()  # one self-contained file
    copied = {
        "audit": rows(target, "SELECT id, hash FROM audit"),
        "grants": rows(target, "SELECT user_id, role FROM grants"),
        "approvals": rows(target, "SELECT id, status FROM approvals"),
    }
    assert len(copied["audit"]) < 32  # taken while commands were still running
    assert set(committed["audit"]) <= set(copied["audit"])
    assert set(committed["grants"]) <= set(copied["grants"])
    assert {i for i, _ in committed["approvals"]} <= {i for i, _ in copied["approvals"]}
    # The copy is one moment of the live log: a prefix of it, row for row.
    final = rows(live, "SELECT id, hash FROM audit")
    assert copied["audit"] == final[: len(copied["audit"])]
    assert len(final) == 32  # one row a command
    # ...and consistent: every grant and request in it has its audit row in it.
    store = Store(target, readonly=True)
    try:
        assert audit.verify(store, world.settings.audit_key).ok
        logged = [r for r in audit.rows(store) if r["actor"] == ADMIN]
        granted = {r["detail"]["args"]["user"] for r in logged if r["action"] == "access grant"}
        assert {u for u, _ in copied["grants"] if u.startswith("U0BACKUP")} == granted
        requested = {r["detail"]["request"] for r in logged if r["outcome"] == "requested"}
        assert {i for i, _ in copied["approvals"]} == requested
    finally:
        store.close()


def test_backup_refuses_to_overwrite_unless_forced(world, tmp_path, capsys):
    world.handle("org", user=ADMIN)
    target = tmp_path / "copy.db"
    target.write_text("precious")
    assert main(["backup", str(target)]) == 1
    assert "exists" in capsys.readouterr().err and target.read_text() == "precious"
    os.chmod(target, 0o644)
    assert main(["backup", "--force", str(target)]) == 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_backup_of_a_missing_database_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    monkeypatch.setenv("XBOOKER_BOT_DB", str(tmp_path / "nowhere.db"))
    assert main(["backup", str(tmp_path / "copy.db")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_restored_backup_serves_with_its_rows(world, sim_server, fake_slack, tmp_path):
    world.handle("access grant U0KEPT01 operator", user=ADMIN)
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    world.handle("access grant U0LOST01 operator", user=ADMIN)  # after the backup
    world.close()
    for suffix in ("", "-wal", "-shm"):  # restore: the copy replaces all three files
        (tmp_path / f"bot.db{suffix}").unlink(missing_ok=True)
    os.replace(tmp_path / "copy.db", tmp_path / "bot.db")
    restored = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_AUDIT_KEY=AUDIT_KEY)
    try:
        roles = {g.user_id: g.role for g in restored.engine.svc.allowlist.grants()}
        assert roles.get("U0KEPT01") == "operator" and "U0LOST01" not in roles
        assert audit.verify(restored.store, restored.settings.audit_key).ok
    finally:
        restored.close()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_backup_never_overwrites_the_database_s_own_files(world, tmp_path, capsys, suffix):
    live = world.settings.db_path
    target = live.with_name(live.name + suffix)
    target.touch()
    before = target.read_bytes()
    assert main(["backup", "--force", str(target)]) != 0
    assert "one of its files" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_backup_to_a_folder_or_an_unwritable_place_is_one_clear_line(world, tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["backup", "--force", str(folder)]) != 0
    assert "is a folder" in capsys.readouterr().err
    # A place no one can create files in, whoever runs the tests (root included).
    assert main(["backup", "/proc/xbooker-bot-backup.db"]) != 0
    err = capsys.readouterr().err
    assert "could not be written" in err and "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*.partial*")]
