"""`xbooker-bot doctor` against the simulator: the report, the exit code, no secrets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.cli import main
from tests.helpers import CREDS

SECRET = CREDS.client_secret.reveal()


@pytest.fixture
def env(sim_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = {
        "XBOOKER_BASE_URL": sim_server.url,
        "XBOOKER_ORGANIZATION_ID": CREDS.organization_id,
        "XBOOKER_CLIENT_ID": CREDS.client_id,
        "XBOOKER_CLIENT_SECRET": SECRET,
        "XBOOKER_BOT_DB": str(tmp_path / "doctor.db"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_doctor_good_credentials(sim, env, capsys):
    assert main(["doctor"]) == 0
    out, err = capsys.readouterr()
    assert "issuing one now" in out and "invalidates the refresh token" in out
    assert "Harbour Lane Studios" in out and "all checks passed" in out
    assert f"database: {env['XBOOKER_BOT_DB']}" in err
    assert main(["doctor"]) == 0
    out, _ = capsys.readouterr()
    assert "refresh token: stored (generation 1)" in out and "issuing" not in out
    assert sim.count("refresh") == 1
    assert SECRET not in out + err


def test_doctor_bad_secret(sim, env, monkeypatch, capsys):
    monkeypatch.setenv("XBOOKER_CLIENT_SECRET", "not-the-secret-1")
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "X Booker said (HTTP 400): Invalid client secret" in out
    assert "XBOOKER_CLIENT_SECRET" in out
    assert "not-the-secret-1" not in out + err


def test_doctor_expired_app(sim, env, capsys):
    sim.expire_app()
    assert main(["doctor"]) == 1
    out, _ = capsys.readouterr()
    assert "Your refresh token is expired, please issue another refresh token first." in out


def test_doctor_missing_configuration(env, monkeypatch, capsys):
    monkeypatch.delenv("XBOOKER_CLIENT_SECRET")
    assert main(["doctor"]) == 2
    _, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].startswith("configuration error: XBOOKER_CLIENT_SECRET")


def test_doctor_as_a_process(sim_server, env):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "all checks passed" in result.stdout
    assert SECRET not in result.stdout + result.stderr
