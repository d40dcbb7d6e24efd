"""`xbooker-bot doctor` against the simulator: the report, the exit code, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.cli import main
from bot.store import Store
from tests.helpers import CREDS, free_port

SECRET = CREDS.client_secret.reveal()


pytestmark = pytest.mark.usefixtures("cli_log_handler")


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


def test_doctor_never_replaces_a_stored_token_x_booker_refuses(sim, env, capsys):
    """Doctor run from another host (X Booker binds a refresh token to where it was
    obtained) must not re-issue: that would cut off the running bot's token."""
    assert main(["doctor"]) == 0  # stores generation 1
    sim.issue_refresh_out_of_band()  # the stored token is now refused
    capsys.readouterr()
    refreshes = sim.count("refresh")
    assert main(["doctor"]) == 1
    out, _ = capsys.readouterr()
    assert "refused the stored refresh token" in out and "was not replaced" in out
    assert "all checks passed" not in out
    assert sim.count("refresh") == refreshes
    assert "refresh token: stored (generation 1)" in out


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


# -- the Slack side -----------------------------------------------------------------------


@pytest.fixture
def slack_env(env, fake_slack, monkeypatch):
    values = {
        "SLACK_BOT_TOKEN": "xoxb-doctor-0000-token",
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_TEAM_ID": "T0TEAM",
        "XBOOKER_BOT_APPROVALS_CHANNEL": "C0APPROVALS",
        "XBOOKER_BOT_LOG_CHANNEL": "G0BOTLOG",
        "XBOOKER_BOT_ADMINS": "UADMIN1,UADMIN2",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**env, **values}


def doctor(capsys) -> tuple[int, list[str]]:
    code = main(["doctor"])
    out, err = capsys.readouterr()
    assert "xoxb-doctor" not in out + err and SECRET not in out + err
    return code, out.splitlines()


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("error:", "warning:"))]


def test_doctor_checks_the_slack_side(sim, slack_env, fake_slack, capsys):
    code, lines = doctor(capsys)
    assert code == 0, lines
    assert "slack: token ok (bot @xbooker in workspace T0TEAM)" in lines
    assert "XBOOKER_BOT_APPROVALS_CHANNEL: #c0approvals (C0APPROVALS), the bot is a member" in lines
    assert "XBOOKER_BOT_LOG_CHANNEL: #g0botlog (G0BOTLOG), the bot is a member" in lines
    assert (
        "admin UADMIN1 (@uadmin1): active" in lines and "admin UADMIN2 (@uadmin2): active" in lines
    )
    assert problems(lines) == ["warning: no refresh token stored for this delegated app; issuing "
                               "one now. This invalidates the refresh token of any other process "
                               "using the same delegated app."]  # fmt: skip
    assert {m for m, _ in fake_slack.calls} == {"auth.test", "conversations.info", "users.info"}


def test_doctor_reports_a_token_slack_does_not_accept(sim, slack_env, fake_slack, capsys):
    fake_slack.token_error = "invalid_auth"
    code, lines = doctor(capsys)
    assert code == 1
    (line,) = [line for line in problems(lines) if "SLACK_BOT_TOKEN" in line]
    assert line.startswith("error: SLACK_BOT_TOKEN is not accepted by Slack (invalid_auth): ")
    assert "OAuth & Permissions" in line
    assert "Harbour Lane Studios" in "\n".join(lines)  # the X Booker side is still checked


def test_doctor_reports_each_channel_and_admin_problem(sim, slack_env, fake_slack, capsys):
    fake_slack.channels["C0APPROVALS"] = {"is_member": False}  # public: posts via chat:write.public
    fake_slack.channels["G0BOTLOG"] = {"is_member": False}  # private: cannot post at all
    fake_slack.users["UADMIN1"] = {"deleted": True}
    fake_slack.users["UADMIN2"] = None  # unknown
    code, lines = doctor(capsys)
    assert code == 1
    found = problems(lines)[1:]  # after the refresh-token warning
    assert found == [
        "warning: the bot is not a member of XBOOKER_BOT_APPROVALS_CHANNEL #c0approvals "
        "(C0APPROVALS): it can post there only through the chat:write.public scope; invite the "
        "bot: /invite @xbooker in #c0approvals (C0APPROVALS)",
        "error: the bot is not a member of XBOOKER_BOT_LOG_CHANNEL #g0botlog (G0BOTLOG), a "
        "private channel, so it cannot post there: invite the bot: /invite @xbooker in "
        "#g0botlog (G0BOTLOG)",
        "error: XBOOKER_BOT_ADMINS lists UADMIN1 (@uadmin1), whose Slack account is "
        "deactivated: remove it, and make sure another admin is configured or granted",
        "error: XBOOKER_BOT_ADMINS lists UADMIN2, which Slack does not know in this workspace "
        "(user_not_found): correct or remove the ID",
    ]
    assert lines[-1] == "doctor: 3 error(s): fix the lines marked error above"


def test_doctor_reports_missing_archived_channels_and_another_team(
    sim, slack_env, fake_slack, monkeypatch, capsys
):
    fake_slack.channels["C0APPROVALS"] = None
    fake_slack.channels["G0BOTLOG"] = {"is_archived": True, "name": "bot-log"}
    monkeypatch.setenv("SLACK_TEAM_ID", "T0OTHER")
    code, lines = doctor(capsys)
    assert code == 1
    text = "\n".join(problems(lines))
    assert (
        "error: SLACK_BOT_TOKEN belongs to workspace T0TEAM, but SLACK_TEAM_ID is T0OTHER" in text
    )
    assert (
        "error: XBOOKER_BOT_APPROVALS_CHANNEL C0APPROVALS was not found (channel_not_found)" in text
    )
    assert "error: XBOOKER_BOT_LOG_CHANNEL #bot-log (G0BOTLOG) is archived: unarchive it" in text


def test_doctor_says_which_scopes_it_could_not_check_with(sim, slack_env, fake_slack, capsys):
    fake_slack.errors = {
        "conversations.info": ["missing_scope"] * 2,
        "users.info": ["missing_scope"],
    }
    code, lines = doctor(capsys)
    assert code == 0
    text = "\n".join(problems(lines))
    assert text.count("lacks the channels:read") == 2 and text.count("lacks the users:read") == 1


def test_doctor_reports_an_unreachable_slack(sim, slack_env, monkeypatch, capsys):
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{free_port()}/api/")
    code, lines = doctor(capsys)
    assert code == 1
    assert any(
        line.startswith("error: Slack could not be reached at http://127.0.0.1") for line in lines
    )


def test_doctor_without_a_slack_token_says_it_did_not_check(sim, env, capsys):
    code, lines = doctor(capsys)
    assert code == 0
    assert "slack: SLACK_BOT_TOKEN is not set, so the Slack side was not checked" in lines


def test_doctor_warns_when_the_client_secret_changed(sim, env, monkeypatch, capsys):
    assert doctor(capsys)[0] == 0  # issues and stores a token with the configured secret
    code, lines = doctor(capsys)
    assert code == 0 and problems(lines) == []
    monkeypatch.setenv("XBOOKER_CLIENT_SECRET", "a-rotated-secret-456")
    code, lines = doctor(capsys)
    assert code == 0  # the stored token still works: a warning, not an error
    (line,) = problems(lines)
    assert line.startswith(
        "warning: the client secret in XBOOKER_CLIENT_SECRET is not the one that obtained the "
        "stored refresh token: "
    )
    assert "a-rotated-secret-456" not in "\n".join(lines)
    stored = Store(env["XBOOKER_BOT_DB"]).query_one("SELECT * FROM refresh_tokens")
    assert SECRET not in json.dumps(stored)
    assert stored["secret_fingerprint"].startswith("scrypt1:")  # slow to guess from a copy


def test_doctor_does_not_blame_settings_for_slack_being_busy(sim, slack_env, fake_slack, capsys):
    """A rate limit says nothing about the ID: no advice to remove a real admin."""
    fake_slack.errors["users.info"] = ["ratelimited", "ratelimited"]
    fake_slack.errors["conversations.info"] = ["fatal_error"]
    code, lines = doctor(capsys)
    assert code == 1
    text = "\n".join(lines)
    assert "Slack does not know" not in text and "correct or remove" not in text
    assert "check the channel ID" not in text
    assert text.count("Slack could not answer") >= 2
