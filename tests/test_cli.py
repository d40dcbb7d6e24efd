"""The command line: demo, console, access, and start-up failures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.cli import main
from bot.store import Store, audit


def run(args: list[str], env: dict | None = None, stdin: str = "", cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHON_DOTENV_DISABLED": "1", **(env or {})},
        cwd=cwd,
    )


def test_demo_runs_on_embedded_defaults(tmp_path):
    env = {"XBOOKER_BOT_DB": str(tmp_path / "must-not-exist.db")}
    result = run(["demo"], env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "Organization: Harbour Lane Studios",
        "Added ada@harbourlane.example",
        "needs bot role *operator*",
        "X Booker said: `Member already exists`",
        "Did you mean `members list`?",
        "Demo finished",
    ):
        assert expected in out, expected
    assert not (tmp_path / "must-not-exist.db").exists()


def test_console_simulate_reads_lines(tmp_path):
    result = run(
        ["console", "--simulate", "--as", "U0ME"],
        stdin="/xbooker org\nmembers list role=owner\nquit\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Organization: Harbour Lane Studios" in result.stdout
    assert "Members: page 1 of 1 (2 in all)" in result.stdout


def test_console_needs_a_workspace(tmp_path):
    env = {
        "XBOOKER_ORGANIZATION_ID": "o",
        "XBOOKER_CLIENT_ID": "c",
        "XBOOKER_CLIENT_SECRET": "secret-value-1",
        "XBOOKER_BOT_DB": str(tmp_path / "c.db"),
        "SLACK_TEAM_ID": "",
    }
    result = run(["console", "--as", "U0ME"], env, cwd=tmp_path)
    assert result.returncode == 1 and "the workspace is unknown" in result.stderr


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    monkeypatch.setenv("XBOOKER_BOT_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("SLACK_TEAM_ID", "T0TEAM")
    monkeypatch.setenv("XBOOKER_BOT_ADMINS", "U0CONFIG")
    return tmp_path / "cli.db"


def test_access_cli_grants_revokes_and_audits(cli_env, capsys):
    assert main(["access", "grant", "U0ALICE", "admin"]) == 0
    assert main(["access", "grant", "U0BOB", "viewer"]) == 0
    assert main(["access", "list"]) == 0
    out = capsys.readouterr().out
    assert "U0ALICE\tadmin" in out and "U0CONFIG\tadmin\tXBOOKER_BOT_ADMINS" in out
    assert main(["access", "revoke", "U0BOB"]) == 0
    assert main(["access", "revoke", "U0CONFIG"]) == 1
    assert "XBOOKER_BOT_ADMINS" in capsys.readouterr().err
    assert main(["access", "grant", "bob", "admin"]) == 1
    assert main(["access", "grant", "U0BOB", "boss"]) == 1
    store = Store(cli_env)
    rows = audit.rows(store)
    assert [r["action"] for r in rows] == ["access grant", "access grant", "access revoke"]
    assert all(r["source"] == "cli" and r["actor"].startswith("cli:") for r in rows)
    store.close()


def test_last_admin_cannot_be_revoked(cli_env, monkeypatch, capsys):
    monkeypatch.delenv("XBOOKER_BOT_ADMINS")
    assert main(["access", "grant", "U0ALICE", "admin"]) == 0
    assert main(["access", "revoke", "U0ALICE"]) == 1
    assert main(["access", "grant", "U0ALICE", "viewer"]) == 1
    assert "would leave no bot admin" in capsys.readouterr().err


def test_require_approval_must_name_commands(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("XBOOKER_BOT_REQUIRE_APPROVAL", "members remov")
    monkeypatch.setenv("XBOOKER_ORGANIZATION_ID", "o")
    monkeypatch.setenv("XBOOKER_CLIENT_ID", "c")
    monkeypatch.setenv("XBOOKER_CLIENT_SECRET", "secret-value-1")
    assert main(["console", "--as", "U0CONFIG"]) == 2
    err = capsys.readouterr().err
    assert "'members remov' is not a command (did you mean 'members remove'?)" in err


def test_simulator_command_serves_with_knobs(tmp_path):
    import httpx

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "simulator",
            "--port",
            "0",
            "--fail-next",
            "1",
            "--scopes",
            "organization:read",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHON_DOTENV_DISABLED": "1", "XBOOKER_CLIENT_SECRET": ""},
    )
    try:
        url = proc.stdout.readline().split()[-1]
        lines = [proc.stdout.readline() for _ in range(4)]
        assert "XBOOKER_CLIENT_SECRET=demo-secret-not-for-production" in "".join(lines)
        assert httpx.get(f"{url}/auth/v1/tokens/refresh").status_code == 500
        assert httpx.get(f"{url}/auth/v1/tokens/refresh").status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
