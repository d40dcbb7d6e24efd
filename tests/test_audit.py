"""The audit log: what it records, its tamper-evident chain, export, and no secrets."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from bot.cli import main
from bot.secret import Secret
from bot.store import Store, audit
from tests.helpers import CREDS
from tests.world import ADMIN, OPERATOR, SIGNING_SECRET, VIEWER


def fill(store: Store, key: Secret | None, n: int = 5) -> None:
    for i in range(n):
        with store.write() as db:
            audit.append(
                db,
                audit.Entry("U1", "slack", f"action {i}", "succeeded", "T1", None, {"i": i}),
                key,
            )


@pytest.mark.parametrize("key", [None, Secret("audit-key-123456")])
def test_chain_detects_edited_inserted_and_deleted_rows(tmp_path, key):
    path = tmp_path / "a.db"
    store = Store(path)
    fill(store, key)
    assert audit.verify(store, key).ok
    raw = sqlite3.connect(path)

    raw.execute("UPDATE audit SET outcome = 'failed' WHERE id = 3")
    raw.commit()
    bad = audit.verify(store, key)
    assert (bad.ok, bad.first_bad) == (False, 3) and "altered" in bad.reason
    raw.execute("UPDATE audit SET outcome = 'succeeded' WHERE id = 3")
    raw.commit()
    assert audit.verify(store, key).ok

    row = raw.execute("SELECT * FROM audit WHERE id = 5").fetchone()
    raw.execute(
        "INSERT INTO audit VALUES (6, ?, 'T1', 'U9', 'slack', NULL, 'forged', 'ok', '{}', ?, ?)",
        (row[1] + 1, row[-1], "f" * 64),
    )
    raw.commit()
    assert audit.verify(store, key).first_bad == 6

    raw.execute("DELETE FROM audit WHERE id = 6")
    raw.execute("DELETE FROM audit WHERE id = 2")
    raw.commit()
    bad = audit.verify(store, key)
    assert bad.first_bad == 2 and "missing" in bad.reason


def test_deleting_the_newest_rows_is_detected(tmp_path):
    store = Store(tmp_path / "a.db")
    fill(store, None)
    store.db().conn.execute("DELETE FROM audit WHERE id >= 4")
    bad = audit.verify(store, None)
    assert not bad.ok and "rows 4 to 5 are missing" in bad.reason


def _forge(path, from_id: int) -> None:
    """Edit a row and recompute the plain hash chain and its head from there, as a
    careful forger would."""
    raw = sqlite3.connect(path)
    raw.execute("UPDATE audit SET actor = 'U0MALLORY' WHERE id = ?", (from_id,))
    names = [d[1] for d in raw.execute("PRAGMA table_info(audit)")]
    prev = raw.execute("SELECT hash FROM audit WHERE id = ?", (from_id - 1,)).fetchone()[0]
    for values in raw.execute(
        "SELECT * FROM audit WHERE id >= ? ORDER BY id", (from_id,)
    ).fetchall():
        row = dict(zip(names, values, strict=True))
        digest = audit._digest(None, prev, row)
        raw.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row["id"])
        )
        prev = digest
    last_id, count = raw.execute("SELECT MAX(id), COUNT(*) FROM audit").fetchone()
    raw.execute(
        "UPDATE audit_head SET last_hash = ?, mac = ?",
        (prev, audit._seal(None, last_id, prev, count)),
    )
    raw.commit()


def test_hmac_chain_cannot_be_recomputed_without_the_key(tmp_path):
    key = Secret("audit-key-123456")
    plain, keyed = Store(tmp_path / "plain.db"), Store(tmp_path / "keyed.db")
    fill(plain, None, 4)
    fill(keyed, key, 4)
    _forge(tmp_path / "plain.db", 3)
    _forge(tmp_path / "keyed.db", 3)
    assert audit.verify(plain, None).ok  # without a key: accidental damage only, as documented
    assert audit.verify(keyed, key).first_bad == 3


def test_commands_decisions_and_executions_are_audited_without_secrets(world):
    world.ask("org", user=VIEWER)
    world.ask("members add x", user=VIEWER)  # refused
    world.ask("members frob", user=OPERATOR)  # invalid
    rid = int(
        world.handle('org update name="Audit Ltd"', user=OPERATOR)
        .text.split("Request *#")[1]
        .split("*")[0]
    )
    world.handle(f"approvals approve {rid}", user=ADMIN)
    rows = audit.rows(world.store)
    outcomes = [(r["action"], r["outcome"]) for r in rows]
    for expected in [
        ("org show", "succeeded"),
        ("members add", "refused"),
        ("(not a command)", "invalid"),
        ("org update", "requested"),
        ("approvals approve", "recorded"),
        ("org update", "sending"),
        ("org update", "succeeded"),
    ]:
        assert expected in outcomes, expected
    assert {r["source"] for r in rows} >= {"slack", "console", "approval"}
    dump = json.dumps(rows)
    secrets = [
        CREDS.client_secret.reveal(),
        SIGNING_SECRET,
        "xoxb-test",
        "/response/",
        *world.sim._refresh,
        *world.sim._access,
    ]
    for secret in secrets:
        assert secret not in dump
    assert audit.verify(world.store, None).ok


def test_slack_audit_command(world):
    world.ask("org", user=VIEWER)
    text = world.handle("audit 5", user=ADMIN).text
    assert "org show: *succeeded*" in text
    assert "needs bot role *admin*" in world.handle("audit", user=OPERATOR).text


@pytest.fixture
def audit_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    monkeypatch.setenv("XBOOKER_BOT_DB", str(tmp_path / "a.db"))
    store = Store(tmp_path / "a.db")
    fill(store, None, 4)
    store.close()
    return tmp_path / "a.db"


def test_cli_export_formats_and_verify(audit_env, capsys):
    assert main(["audit", "--format", "json", "--limit", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data] == [3, 4] and data[0]["detail"] == {"i": 2}
    assert main(["audit", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("id,at,team_id,actor") and len(lines) == 5
    assert main(["audit"]) == 0
    assert "action 3" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    assert "4 row(s), hash" in capsys.readouterr().out
    raw = sqlite3.connect(audit_env)
    raw.execute("UPDATE audit SET detail = '{}' WHERE id = 2")
    raw.commit()
    assert main(["audit", "verify"]) == 1
    assert "NOT intact at row 2: was altered" in capsys.readouterr().out


def test_export_never_reads_the_token_table(audit_env):
    store = Store(audit_env)

    def authorizer(action, table, *_):
        if table == "refresh_tokens":
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    store.db().conn.set_authorizer(authorizer)
    assert len(audit.rows(store)) == 4 and audit.verify(store, None).ok
    with pytest.raises(sqlite3.DatabaseError):
        store.db().conn.execute("SELECT * FROM refresh_tokens")


def test_cli_and_console_are_marked(world, tmp_path):
    env = {**os.environ, **world.env, "SLACK_TEAM_ID": "T0TEAM", "PYTHON_DOTENV_DISABLED": "1"}
    subprocess.run(
        [sys.executable, "-m", "bot", "access", "grant", "U0NEW", "viewer"],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    subprocess.run(
        [sys.executable, "-m", "bot", "console", "--as", ADMIN],
        input="org\n",
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    rows = audit.rows(world.store)
    assert any(r["source"] == "cli" and r["actor"].startswith("cli:") for r in rows)
    assert any(r["source"] == "console" and r["action"] == "org show" for r in rows)
