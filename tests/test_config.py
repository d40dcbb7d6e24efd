"""Configuration: defaults, ranges, `.env` precedence, and errors that never echo values."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings, read_environment

GOOD = {
    "XBOOKER_ORGANIZATION_ID": "org_1",
    "XBOOKER_CLIENT_ID": "client-1",
    "XBOOKER_CLIENT_SECRET": "s3cret-value-xyz",
}


def test_defaults():
    s = load_settings({})
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.xbooker_base_url == "https://x-booker.app"
    assert str(s.db_path) == "xbooker-bot.db"
    assert s.require_approval == ("members remove", "members role", "org update")
    assert (s.approval_ttl, s.approvals_needed, s.port, s.log_level) == (86400, 1, 3000, "INFO")
    assert s.credentials is None and s.audit_key is None and s.admins == ()


def test_full_configuration():
    s = load_settings(
        {
            **GOOD,
            "SLACK_BOT_TOKEN": "xoxb-1234-abcdef",
            "SLACK_SIGNING_SECRET": "signing-secret-1",
            "SLACK_APP_TOKEN": "xapp-test-abcdef",
            "SLACK_TEAM_ID": "T0123ABC",
            "XBOOKER_BASE_URL": "http://127.0.0.1:8099/",
            "SLACK_API_URL": "http://localhost:9000/api",
            "XBOOKER_BOT_ADMINS": "U012AB, W0CDE",
            "XBOOKER_BOT_APPROVALS_CHANNEL": "C0APPROVE",
            "XBOOKER_BOT_REQUIRE_APPROVAL": "members  remove, ORG update",
            "XBOOKER_BOT_APPROVAL_TTL": "60",
            "XBOOKER_BOT_APPROVALS_NEEDED": "5",
            "LOG_LEVEL": "debug",
            "PORT": "8080",
        }
    )
    assert s.xbooker_base_url == "http://127.0.0.1:8099"
    assert s.slack_api_url == "http://localhost:9000/api/"
    assert s.admins == ("U012AB", "W0CDE")
    assert s.require_approval == ("members remove", "org update")
    assert s.credentials.client_secret.reveal() == "s3cret-value-xyz"
    assert (s.approval_ttl, s.approvals_needed, s.log_level, s.port) == (60, 5, "DEBUG", 8080)


def test_require_approval_none():
    assert load_settings({"XBOOKER_BOT_REQUIRE_APPROVAL": "none"}).require_approval == ()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"XBOOKER_BASE_URL": "http://x-booker.app"}, "XBOOKER_BASE_URL"),
        ({"XBOOKER_BASE_URL": "ftp://x"}, "XBOOKER_BASE_URL"),
        ({"XBOOKER_BASE_URL": "https://u:p@x-booker.app"}, "XBOOKER_BASE_URL"),
        ({"SLACK_API_URL": "http://slack.com/api/"}, "SLACK_API_URL"),
        ({"SLACK_API_URL": "not a url"}, "SLACK_API_URL"),
        ({"XBOOKER_BOT_APPROVAL_TTL": "59"}, "XBOOKER_BOT_APPROVAL_TTL"),
        ({"XBOOKER_BOT_APPROVAL_TTL": "2592001"}, "XBOOKER_BOT_APPROVAL_TTL"),
        ({"XBOOKER_BOT_APPROVALS_NEEDED": "0"}, "XBOOKER_BOT_APPROVALS_NEEDED"),
        ({"XBOOKER_BOT_APPROVALS_NEEDED": "two"}, "XBOOKER_BOT_APPROVALS_NEEDED"),
        ({"XBOOKER_BOT_ADMINS": "@alice"}, "XBOOKER_BOT_ADMINS"),
        ({"XBOOKER_BOT_APPROVALS_CHANNEL": "#approvals"}, "XBOOKER_BOT_APPROVALS_CHANNEL"),
        ({"XBOOKER_BOT_REQUIRE_APPROVAL": "members remove,,"}, "XBOOKER_BOT_REQUIRE_APPROVAL"),
        ({"SLACK_TEAM_ID": "acme"}, "SLACK_TEAM_ID"),
        ({"SLACK_BOT_TOKEN": "xapp-wrong-kind"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"PORT": "70000"}, "PORT"),
        ({"XBOOKER_CLIENT_ID": "c"}, "XBOOKER_ORGANIZATION_ID"),
        ({**GOOD, "XBOOKER_CLIENT_SECRET": "has space"}, "XBOOKER_CLIENT_SECRET"),
        ({**GOOD, "XBOOKER_CLIENT_SECRET": "short7c"}, "XBOOKER_CLIENT_SECRET"),
        ({"XBOOKER_BOT_METRICS_PORT": "3000"}, "XBOOKER_BOT_METRICS_PORT"),
        ({"XBOOKER_BOT_METRICS_PORT": "8080", "PORT": "8080"}, "XBOOKER_BOT_METRICS_PORT"),
        ({"XBOOKER_BOT_REQUIRE_REASON": ",members remove"}, "XBOOKER_BOT_REQUIRE_REASON"),
        ({"XBOOKER_BOT_APPROVAL_REMINDERS": "maybe"}, "XBOOKER_BOT_APPROVAL_REMINDERS"),
        ({"XBOOKER_BOT_LOG_CHANNEL": "#log"}, "XBOOKER_BOT_LOG_CHANNEL"),
        ({"XBOOKER_BOT_USER_RATE": "-1"}, "XBOOKER_BOT_USER_RATE"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_bad_values_name_the_variable_and_never_echo(env, variable):
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    text = str(info.value)
    assert text.startswith(variable + ": ") and "\n" not in text
    for value in env.values():
        if len(value) > 3:
            assert value not in text


def test_empty_counts_as_unset():
    s = load_settings({"XBOOKER_BASE_URL": "", "PORT": "  ", "XBOOKER_BOT_ADMINS": ""})
    assert s.xbooker_base_url == "https://x-booker.app" and s.port == 3000


def test_dotenv_from_working_directory_real_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "PORT=4000\nLOG_LEVEL=DEBUG\nXBOOKER_CLIENT_SECRET='a${HOME}b'\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("XBOOKER_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("PYTHON_DOTENV_DISABLED", raising=False)
    env = read_environment()
    assert env["PORT"] == "5000" and env["LOG_LEVEL"] == "DEBUG"
    assert env["XBOOKER_CLIENT_SECRET"] == "a${HOME}b"  # no interpolation


def test_secrets_do_not_show_in_repr():
    s = load_settings({**GOOD, "SLACK_BOT_TOKEN": "xoxb-1234-abcdef"})
    text = repr(s)
    assert "s3cret-value-xyz" not in text and "xoxb-1234-abcdef" not in text
    assert "Secret(sha256:" in text
