"""A store that fails under the bot: one clear answer, nothing half-done, no second reply."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
import time

import pytest

from bot.store import Store, audit
from tests.world import ADMIN, OPERATOR, World


@pytest.fixture
def busy_world(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, busy_timeout=0.3)
    yield w
    w.close()


def hold_write_lock(world: World) -> sqlite3.Connection:
    raw = sqlite3.connect(world.settings.db_path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    return raw


def test_a_locked_database_refuses_writes_with_nothing_changed(busy_world):
    w = busy_world
    w.ask("org")
    raw = hold_write_lock(w)
    try:
        reply = w.ask("members add locked@x.example", user=OPERATOR)
        assert "database is busy" in reply["text"] and "nothing was changed" in reply["text"]
        assert w.sim.count("add member") == 0
        lookup = w.ask("org")
        assert "Harbour Lane Studios" in str(lookup) and "not in the audit log" in lookup["text"]
        request = w.ask(f"members remove {sorted(w.sim.members)[5]}", user=OPERATOR)
        assert "nothing was changed" in request["text"]
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    assert w.approvals.list_reply().text == "No approval requests are open."
    # No audit row could say it, so the metrics do: the two commands the lock failed.
    registry = w.engine.svc.metrics.registry
    assert registry.get_sample_value("xbooker_bot_store_faults_total", {"kind": "locked"}) == 2


def test_a_command_answered_in_the_ack_gets_no_second_reply(busy_world):
    w = busy_world
    raw = hold_write_lock(w)
    try:
        response, path = w.command("help")
        assert "what your bot role" in response.body
        w.executor.drain(5)  # the lazy listener tried to record it and could not
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    assert not [p for p, _ in w.slack.responses if p == path]


def test_a_write_x_booker_applied_but_the_bot_could_not_record(busy_world):
    w = busy_world
    w.ask("org")
    w.sim.latency = 1.0
    answers: list[str] = []
    adding = threading.Thread(
        target=lambda: answers.append(w.handle("members add late@x.example", OPERATOR).text)
    )
    adding.start()
    deadline = time.monotonic() + 10
    while w.sim.count("add member") == 0:  # the request is at X Booker, being answered
        assert time.monotonic() < deadline
        time.sleep(0.01)
    raw = hold_write_lock(w)
    try:
        adding.join(10)
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    w.sim.latency = 0
    assert "X Booker received the change" in answers[0] and "could not record it" in answers[0]
    assert any(m["email"] == "late@x.example" for m in w.sim.members.values())
    assert audit.rows(w.store, 1)[0]["outcome"] == "sending"  # the intent row is there


@pytest.fixture
def small_disk(tmp_path):
    """A real file system of 4 MiB (tmpfs), to fill up; skipped where mounting is not
    allowed (CI and these machines run as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here: " + done.stderr.decode()[:80])
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder) -> None:
    with open(folder / "filler", "wb") as out, contextlib.suppress(OSError):  # until ENOSPC
        while True:
            out.write(b"x" * 65536)
            out.flush()


def test_a_full_disk_refuses_with_a_clear_answer(sim_server, fake_slack, small_disk):
    w = World(sim_server, fake_slack, small_disk)
    try:
        w.ask("org")
        fill(small_disk)
        reply = w.ask("members add full@x.example", user=OPERATOR)
        assert "database is full" in reply["text"] and "nothing was changed" in reply["text"]
        assert w.sim.count("add member") == 0
        lookup = w.ask("org")
        assert "Harbour Lane Studios" in str(lookup) and "not in the audit log" in lookup["text"]
        (small_disk / "filler").unlink()
        assert "Added full@x.example" in w.ask("members add full@x.example", user=OPERATOR)["text"]
        assert audit.verify(w.store, None).ok
    finally:
        w.close()


def test_a_failed_commit_rolls_back(tmp_path):
    store = Store(tmp_path / "a.db")
    db = store.db()
    db.conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.conn.execute(
        "CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError), store.write() as tx:
        tx.conn.execute("INSERT INTO child (pid) VALUES (42)")  # fails only at COMMIT
    assert not db.conn.in_transaction
    with store.write() as tx:  # the connection is usable again
        tx.conn.execute("INSERT INTO parent (id) VALUES (1)")
    assert db.conn.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    store.close()


def test_admin_decisions_on_a_locked_database_change_nothing(busy_world):
    w = busy_world
    rid_text = w.ask('org update name="Locked Ltd"', user=OPERATOR)["text"]
    rid = int(rid_text.split("Request *#")[1].split("*")[0])
    raw = hold_write_lock(w)
    try:
        reply = w.handle(f"approvals approve {rid}", ADMIN).text
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    assert "nothing was changed" in reply
    assert w.approvals.load(rid).status == "pending"
    assert "done." in w.handle(f"approvals approve {rid}", ADMIN).text


def test_queued_writers_each_answer_within_the_busy_timeout(busy_world):
    w = busy_world
    w.ask("org")
    raw = hold_write_lock(w)
    started = time.monotonic()
    try:
        paths = [w.command(f"members add q{i}@x.example", user=OPERATOR)[1] for i in range(6)]
        answers = [w.wait_response(path, timeout=5) for path in paths]
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    assert time.monotonic() - started < 3  # not 6 x 0.3 s in turn, and never minutes
    assert all("nothing was changed" in a["text"] for a in answers)
