"""Every user action leaves an audit row saying what happened, refusals and no-ops
included; the views name targets and arguments; truncation is detected."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import time

import pytest

from bot.secret import Secret
from bot.store import Store, audit
from tests.helpers import FakeClock
from tests.world import ADMIN, ADMIN2, NOBODY, OPERATOR, VIEWER, World, click


def request_id(text: str) -> int:
    return int(text.split("Request *#")[1].split("*")[0])


def new_rows(world: World, since: int, wait_for: int = 1) -> list[dict]:
    """Audit rows after id ``since`` (waiting briefly: lazy listeners write them)."""
    deadline = time.monotonic() + 5
    while True:
        rows = [r for r in audit.rows(world.store) if r["id"] > since]
        if len(rows) >= wait_for or time.monotonic() > deadline:
            return rows
        time.sleep(0.01)


def newest(world: World) -> int:
    rows = audit.rows(world.store, 1)
    return rows[-1]["id"] if rows else 0


def one_refusal(world: World, since: int, action: str, reason: str) -> dict:
    rows = new_rows(world, since)
    assert [(r["action"], r["outcome"]) for r in rows] == [(action, "refused")], rows
    assert rows[0]["detail"]["reason"] == reason
    return rows[0]


def test_every_kind_of_user_action_leaves_a_row(world):
    sweep_clock = FakeClock(world.approvals.clock())
    world.approvals.clock = sweep_clock
    victim = sorted(world.sim.members.values(), key=lambda m: m["id"])[30]
    rid = request_id(world.handle(f"members remove {victim['email']}", user=OPERATOR).text)

    # 1. a decision by someone who is not a bot admin (the engine's role check)
    mark = newest(world)
    world.handle(f"approvals approve {rid}", user=OPERATOR)
    rows = new_rows(world, mark)
    assert [(r["action"], r["outcome"]) for r in rows] == [("approvals approve", "refused")]
    assert rows[0]["detail"]["command"] == "approvals approve"
    # 2. a decision on an unknown request
    mark = newest(world)
    world.handle("approvals approve 4242", user=ADMIN)
    one_refusal(world, mark, "approvals approve", "unknown request")
    # 3. a refused cancel (not the requester)
    mark = newest(world)
    world.handle(f"approvals cancel {rid}", user=ADMIN2)
    one_refusal(world, mark, "approvals cancel", "not the requester")
    # 4. resolve of a pending request by its requester (who must cancel instead)
    world.engine.svc.allowlist.grant(OPERATOR, "admin", ADMIN)
    mark = newest(world)
    world.handle(f"approvals resolve {rid} succeeded", user=OPERATOR)
    one_refusal(world, mark, "approvals resolve", "pending")
    world.engine.svc.allowlist.grant(OPERATOR, "operator", ADMIN)
    # 5. a click from another workspace
    mark = newest(world)
    _, path = click(world, rid, ADMIN2, team="T0OTHER")
    assert "another Slack workspace" in world.wait_response(path)["text"]
    rows = new_rows(world, mark)
    assert rows[-1]["outcome"] == "refused" and rows[-1]["detail"]["reason"] == "other workspace"
    # 6. a click with a forged nonce
    mark = newest(world)
    _, path = click(world, rid, ADMIN2, value=f"{rid}:{'1' * 32}")
    world.wait_response(path)
    one_refusal(world, mark, "approvals approve", "button not from this request's card")
    # 7. duplicate approval by the same admin (quorum of 2)
    world.approvals.svc.settings = dataclasses.replace(world.settings, approvals_needed=2)
    rid2 = request_id(world.handle('org update name="Quorum Ltd"', user=OPERATOR).text)
    world.handle(f"approvals approve {rid2}", user=ADMIN)
    mark = newest(world)
    world.handle(f"approvals approve {rid2}", user=ADMIN)
    one_refusal(world, mark, "approvals approve", "already decided by this admin")
    # 8. a late click after the request was decided, and a reject after approve
    world.handle(f"approvals approve {rid}", user=ADMIN2)
    assert world.approvals.load(rid).status == "succeeded"
    mark = newest(world)
    _, path = click(world, rid, ADMIN)
    assert "cannot be decided any more" in world.wait_response(path)["text"]
    one_refusal(world, mark, "approvals approve", "request is succeeded")
    mark = newest(world)
    world.handle(f"approvals reject {rid} too late", user=ADMIN)
    one_refusal(world, mark, "approvals reject", "request is succeeded")
    # 9. a cancel of a decided request, by its requester
    mark = newest(world)
    world.handle(f"approvals cancel {rid}", user=OPERATOR)
    one_refusal(world, mark, "approvals cancel", "request is succeeded")
    # 10. a decision on an expired request
    rid3 = request_id(world.handle('org update name="Late Ltd"', user=OPERATOR).text)
    sweep_clock.advance(world.settings.approval_ttl + 1)
    mark = newest(world)
    world.handle(f"approvals approve {rid3}", user=ADMIN)
    rows = new_rows(world, mark, 2)
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("approvals expire", "expired"),
        ("approvals approve", "refused"),
    ]
    # 11. an approval-gated command refused while being prepared
    mark = newest(world)
    world.handle(f"members add {victim['email'].replace('@', '.x@')} owner", user=OPERATOR)
    existing = sorted(world.sim.members.values(), key=lambda m: m["id"])[3]["email"]
    world.handle(f"members add {existing} owner", user=OPERATOR)
    world.handle("members remove nobody@nowhere.example", user=OPERATOR)
    rows = new_rows(world, mark, 4)
    refused = [(r["action"], r["outcome"], r["detail"].get("reason", "")) for r in rows[1:]]
    assert refused[0][:2] == ("members add", "refused") and "already a member" in refused[0][2]
    assert refused[1][:2] == ("members remove", "refused") and "no member has" in refused[1][2]
    # 12. invalid input, with the first words typed
    mark = newest(world)
    world.handle("membres lsit everything\nnow", user=VIEWER)
    row = new_rows(world, mark)[0]
    assert (row["action"], row["outcome"]) == ("(not a command)", "invalid")
    assert row["detail"]["typed"] == "membres lsit everything now"
    # 13. self-approval
    own = request_id(world.handle('org update name="Mine Ltd"', user=ADMIN).text)
    mark = newest(world)
    world.handle(f"approvals approve {own}", user=ADMIN)
    one_refusal(world, mark, "approvals approve", "requester")
    # 14. a user without a role, with the command they tried
    mark = newest(world)
    world.handle("members remove bob@x.example", user=NOBODY)
    row = new_rows(world, mark)[0]
    assert (row["action"], row["outcome"]) == ("members remove", "refused")
    assert row["detail"]["reason"] == "no bot role"


def test_audit_views_name_targets_and_arguments(world, tmp_path, capsys):
    victim = sorted(world.sim.members.values(), key=lambda m: m["id"])[12]
    rid = request_id(world.ask(f"members remove {victim['email']}", user=OPERATOR)["text"])
    world.ask(f"approvals approve {rid}", user=ADMIN2)
    world.sim.fail_next(3)
    world.ask("org", user=VIEWER)
    shown = world.ask("audit 10")["text"]
    assert f"request #{rid} · members remove · member={victim['email']}" in shown
    assert f"member_id={victim['id']}" in shown
    assert "HTTP 500 Internal server error" in shown

    world.store.close()
    env = dict(world.env)
    for fmt in ("table", "csv", "json"):
        out = subprocess.run(
            [sys.executable, "-m", "bot", "audit", "--format", fmt],
            env={**env, "PATH": "/usr/bin:/bin", "PYTHON_DOTENV_DISABLED": "1"},
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        ).stdout
        assert f"member={victim['email']}" in out and f"request #{rid}" in out, fmt


def _fill(store: Store, key: Secret | None, n: int) -> None:
    for i in range(n):
        with store.write() as db:
            audit.append(db, audit.Entry("U1", "cli", "test", f"row {i}"), key)


CUTS = {
    "newest rows and their sequence entry": (
        "DELETE FROM audit WHERE id >= 5",
        "UPDATE sqlite_sequence SET seq = 4 WHERE name = 'audit'",
    ),
    "every row, sequence emptied": ("DELETE FROM audit", "DELETE FROM sqlite_sequence"),
    "table re-created": (
        "DROP TABLE audit",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, "
        "team_id TEXT, actor TEXT NOT NULL, source TEXT NOT NULL, channel_id TEXT, "
        "action TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, "
        "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    ),
}


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("key", [None, Secret("audit-key-123456")], ids=["plain", "keyed"])
def test_cutting_rows_from_the_end_is_detected(tmp_path, key, cut):
    store = Store(tmp_path / "a.db")
    _fill(store, key, 6)
    for statement in CUTS[cut]:
        store.db().conn.execute(statement)
    verdict = audit.verify(store, key)
    assert not verdict.ok and "rows were removed" in verdict.reason


def test_a_forged_head_is_detected_with_a_key(tmp_path):
    key = Secret("audit-key-123456")
    store = Store(tmp_path / "a.db")
    _fill(store, key, 4)
    store.db().conn.execute("DELETE FROM audit WHERE id = 4")
    store.db().conn.execute("UPDATE sqlite_sequence SET seq = 3 WHERE name = 'audit'")
    last = store.db().conn.execute("SELECT hash FROM audit WHERE id = 3").fetchone()[0]
    store.db().conn.execute(
        "UPDATE audit_head SET last_id = 3, last_hash = ?, row_count = 3, mac = ?",
        (last, audit._seal(None, 3, last, 3)),  # resealed without the key
    )
    verdict = audit.verify(store, key)
    assert not verdict.ok and "head record was altered" in verdict.reason


def test_audit_head_is_printed_and_an_anchor_catches_what_the_database_cannot(tmp_path):
    db = tmp_path / "a.db"
    store = Store(db)
    _fill(store, None, 3)
    env = {"XBOOKER_BOT_DB": str(db), "PATH": "/usr/bin:/bin", "PYTHON_DOTENV_DISABLED": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot", "audit", *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    printed = run("head").stdout
    assert "last row 3, 3 row(s)" in printed
    anchor = printed.split("--anchor ")[1].split()[0]
    assert run("verify", "--anchor", anchor).returncode == 0
    # Everything removed, head and sequence included: only the kept anchor can tell.
    raw = sqlite3.connect(db)
    raw.executescript("DELETE FROM audit; DELETE FROM audit_head; DELETE FROM sqlite_sequence;")
    raw.close()
    assert run("verify").returncode == 0
    result = run("verify", "--anchor", anchor)
    assert result.returncode == 1 and "row 3 is missing" in result.stdout
    assert run("verify", "--anchor", "3:nothex").returncode == 2


def test_a_head_whose_seal_was_blanked_is_not_trusted(tmp_path):
    key = Secret("audit-key-123456")
    store = Store(tmp_path / "a.db")
    _fill(store, key, 8)
    conn = store.db().conn
    conn.execute("DELETE FROM audit WHERE id > 5")
    conn.execute("UPDATE sqlite_sequence SET seq = 5 WHERE name = 'audit'")
    last = conn.execute("SELECT hash FROM audit WHERE id = 5").fetchone()[0]
    conn.execute(
        "UPDATE audit_head SET last_id = 5, last_hash = ?, row_count = 5, mac = ''", (last,)
    )
    verdict = audit.verify(store, key)
    assert not verdict.ok and "not sealed" in verdict.reason


def test_emptying_log_head_and_sequence_of_a_used_database_is_detected(world):
    world.handle('org update name="Used Ltd"', user=OPERATOR)  # a request: rows were written
    conn = world.store.db().conn
    conn.execute("DELETE FROM audit")
    conn.execute("DELETE FROM audit_head")
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'audit'")
    verdict = audit.verify(world.store, None)
    assert not verdict.ok and "rows were removed" in verdict.reason


def test_exports_carry_no_control_or_direction_characters(world, tmp_path):
    hostile = "Eve\x1b]0;owned\x07\x1b[2J\u202e\u0085"
    with world.store.write() as db:
        world.engine.svc.audit_in(
            db,
            audit.Entry(
                hostile, "cli", "members show", "succeeded", detail={"args": {"x": hostile}}
            ),
        )
    env = {**world.env, "PATH": "/usr/bin:/bin", "PYTHON_DOTENV_DISABLED": "1"}
    for fmt in ("table", "csv", "json"):
        out = subprocess.run(
            [sys.executable, "-m", "bot", "audit", "--format", fmt],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        ).stdout
        assert not any(ch in out for ch in "\x1b\x07\u202e\u0085"), fmt


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_export_writes_each_row_before_reading_the_next(tmp_path, fmt):
    """Streaming, checked by behaviour: a row is written before the next is read."""
    import io
    import itertools

    from bot import export

    store = Store(tmp_path / "a.db")
    _fill(store, None, 5)
    out = io.StringIO()
    written: list[int] = []

    def rows():
        for row in audit.stream(store):
            written.append(len(out.getvalue()))
            yield row

    export.write(rows(), fmt, out)
    assert all(b > a for a, b in itertools.pairwise(written[1:]))
    assert "row 4" in out.getvalue()
    if fmt == "json":
        import json

        assert len(json.loads(out.getvalue())) == 5


def test_an_unsealed_head_is_never_sealed_by_appends_only_by_an_operator(tmp_path):
    key = Secret("audit-key-123456")
    store = Store(tmp_path / "a.db")
    _fill(store, key, 6)
    conn = store.db().conn
    conn.execute("DELETE FROM audit WHERE id > 4")  # cut, and blank the head to match
    last = conn.execute("SELECT hash FROM audit WHERE id = 4").fetchone()[0]
    conn.execute(
        "UPDATE audit_head SET last_id = 4, last_hash = ?, row_count = 4, mac = ''", (last,)
    )
    conn.execute("UPDATE sqlite_sequence SET seq = 4 WHERE name = 'audit'")
    _fill(store, key, 3)  # the bot goes on appending
    verdict = audit.verify(store, key)
    assert not verdict.ok and "not sealed" in verdict.reason
    sealed = audit.seal(store, key, audit.Entry("cli:ops", "cli", "audit seal", "sealed"))
    assert sealed.ok and audit.verify(store, key).ok
    assert audit.rows(store, 1)[0]["action"] == "audit seal"


def test_a_headless_log_with_rows_is_not_blessed_by_the_next_append(tmp_path):
    store = Store(tmp_path / "a.db")
    _fill(store, None, 4)
    store.db().conn.execute("DELETE FROM audit_head")
    _fill(store, None, 1)
    assert not audit.verify(store, None).ok
