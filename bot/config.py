"""Settings from the environment and ``.env``, validated once at start-up.

Every variable of the interface contract (README, Configuration) is read here and
nowhere else. A bad value stops start-up with one line that names the variable
and what it expects, and never echoes the value: it may be a secret pasted into
the wrong variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values, find_dotenv

from bot.secret import Secret

DEFAULT_REQUIRE_APPROVAL = ("members remove", "members role", "org update")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,20}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")
_CREDENTIAL = re.compile(r"^[\x21-\x7e]{1,512}$")


class ConfigError(Exception):
    """A setting is missing or malformed; ``str()`` is the one line to print."""

    def __init__(self, variable: str, expects: str) -> None:
        super().__init__(f"{variable}: {expects}")
        self.variable = variable


@dataclass(frozen=True)
class XBookerCredentials:
    """The delegated app's three values; together they key the stored refresh token."""

    organization_id: str
    client_id: str
    client_secret: Secret = field(repr=True)


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_team_id: str | None = None
    xbooker_base_url: str = "https://x-booker.app"
    credentials: XBookerCredentials | None = None
    db_path: Path = Path("xbooker-bot.db")
    admins: tuple[str, ...] = ()
    approvals_channel: str | None = None
    require_approval: tuple[str, ...] = DEFAULT_REQUIRE_APPROVAL
    approval_ttl: int = 86400
    approvals_needed: int = 1
    audit_key: Secret | None = None
    require_reason: tuple[str, ...] = ()
    approval_reminders: bool = True
    log_channel: str | None = None
    user_rate: int = 30  # commands reaching X Booker per user per minute; 0 = no limit
    request_rate: int = 20  # approval requests per user per hour; 0 = no limit
    metrics_port: int | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    port: int = 3000


def read_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The real environment over ``.env`` from the working directory; empty = unset.

    ``usecwd=True`` because python-dotenv otherwise searches upward from this
    file's folder, which inside a virtual environment is not where the operator
    keeps the file; ``interpolate=False`` because ``${X}`` inside a secret is text.
    """
    if environ is None:
        environ = os.environ
        if os.environ.get("PYTHON_DOTENV_DISABLED", "").lower() in ("1", "true", "yes"):
            dotenv: dict[str, str | None] = {}
        else:
            path = find_dotenv(usecwd=True)
            dotenv = dotenv_values(path, interpolate=False) if path else {}
    else:
        dotenv = {}
    merged = {k: v for k, v in dotenv.items() if v is not None}
    merged.update(environ)
    return {k: v.strip() for k, v in merged.items() if v is not None and v.strip() != ""}


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(variable: str, value: str, trailing_slash: bool) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigError(variable, "expects an absolute URL such as https://host/") from None
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise ConfigError(variable, "expects an absolute URL such as https://host/")
    if parts.username or parts.password:
        raise ConfigError(variable, "expects a URL without credentials in it")
    if parts.scheme != "https" and not _is_loopback(host):
        raise ConfigError(variable, "expects an https:// URL (http:// only on loopback)")
    value = value.rstrip("/")
    return value + "/" if trailing_slash else value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise ConfigError(name, f"expects a whole number from {low} to {high}")
    return int(raw)


def _secret(env: Mapping[str, str], name: str, prefix: str | None = None) -> Secret | None:
    raw = env.get(name)
    if raw is None:
        return None
    if prefix and not raw.startswith(prefix):
        raise ConfigError(name, f"expects a token starting with {prefix}")
    if not _CREDENTIAL.fullmatch(raw) or len(raw) < 8:
        raise ConfigError(name, "expects a single printable value of at least 8 characters")
    return Secret(raw)


def _credentials(env: Mapping[str, str]) -> XBookerCredentials | None:
    names = ("XBOOKER_ORGANIZATION_ID", "XBOOKER_CLIENT_ID", "XBOOKER_CLIENT_SECRET")
    present = [n for n in names if n in env]
    if not present:
        return None
    for name in names:
        if name not in env:
            raise ConfigError(name, "is required with the other XBOOKER_* credentials")
        if not _CREDENTIAL.fullmatch(env[name]):
            raise ConfigError(name, "expects a single printable value without spaces")
    if len(env["XBOOKER_CLIENT_SECRET"]) < 8:  # as every other secret: and logs scrub it
        raise ConfigError("XBOOKER_CLIENT_SECRET", "expects at least 8 characters")
    return XBookerCredentials(
        organization_id=env["XBOOKER_ORGANIZATION_ID"],
        client_id=env["XBOOKER_CLIENT_ID"],
        client_secret=Secret(env["XBOOKER_CLIENT_SECRET"]),
    )


def _commands(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list of command names; whether each is a command that may be listed there is
    the registry's to say (``registry.check``), since only it knows the commands."""
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip().lower() == "none":
        return ()
    entries = tuple(" ".join(part.split()).lower() for part in raw.split(","))
    if any(not e for e in entries):
        raise ConfigError(
            name, "expects comma-separated commands such as 'members remove,org update', or 'none'"
        )
    return tuple(dict.fromkeys(entries))


def _channel(env: Mapping[str, str], name: str) -> str | None:
    channel = env.get(name)
    if channel is not None and not _CHANNEL_ID.fullmatch(channel):
        raise ConfigError(name, "expects a channel ID (C… or G…), not a channel name")
    return channel


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("on", "off"):
        raise ConfigError(name, "expects on or off")
    return raw.lower() == "on"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate every variable; raises :class:`ConfigError` on the first bad one."""
    env = read_environment(environ)

    admins: tuple[str, ...] = ()
    if "XBOOKER_BOT_ADMINS" in env:
        admins = tuple(a.strip() for a in env["XBOOKER_BOT_ADMINS"].split(",") if a.strip())
        if not all(_USER_ID.fullmatch(a) for a in admins):
            raise ConfigError(
                "XBOOKER_BOT_ADMINS", "expects comma-separated Slack user IDs (U… or W…)"
            )
    team = env.get("SLACK_TEAM_ID")
    if team is not None and not _TEAM_ID.fullmatch(team):
        raise ConfigError("SLACK_TEAM_ID", "expects a Slack team ID such as T0123ABCD")
    level = env.get("LOG_LEVEL", "INFO").upper()
    if level not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", "expects one of " + ", ".join(LOG_LEVELS))
    log_format = env.get("LOG_FORMAT", "text").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError("LOG_FORMAT", "expects text or json")
    metrics_port = None
    if "XBOOKER_BOT_METRICS_PORT" in env:
        metrics_port = _int(env, "XBOOKER_BOT_METRICS_PORT", 0, 1, 65535)
        if metrics_port == _int(env, "PORT", 3000, 1, 65535):
            raise ConfigError(
                "XBOOKER_BOT_METRICS_PORT", "expects a port other than PORT (the serve port)"
            )

    return Settings(
        slack_bot_token=_secret(env, "SLACK_BOT_TOKEN", "xoxb-"),
        slack_signing_secret=_secret(env, "SLACK_SIGNING_SECRET"),
        slack_app_token=_secret(env, "SLACK_APP_TOKEN", "xapp-"),
        slack_api_url=check_base_url(
            "SLACK_API_URL", env.get("SLACK_API_URL", "https://slack.com/api/"), True
        ),
        slack_team_id=team,
        xbooker_base_url=check_base_url(
            "XBOOKER_BASE_URL", env.get("XBOOKER_BASE_URL", "https://x-booker.app"), False
        ),
        credentials=_credentials(env),
        db_path=Path(env.get("XBOOKER_BOT_DB", "xbooker-bot.db")),
        admins=admins,
        approvals_channel=_channel(env, "XBOOKER_BOT_APPROVALS_CHANNEL"),
        require_approval=_commands(env, "XBOOKER_BOT_REQUIRE_APPROVAL", DEFAULT_REQUIRE_APPROVAL),
        approval_ttl=_int(env, "XBOOKER_BOT_APPROVAL_TTL", 86400, 60, 2_592_000),
        approvals_needed=_int(env, "XBOOKER_BOT_APPROVALS_NEEDED", 1, 1, 5),
        audit_key=_secret(env, "XBOOKER_BOT_AUDIT_KEY"),
        require_reason=_commands(env, "XBOOKER_BOT_REQUIRE_REASON", ()),
        approval_reminders=_switch(env, "XBOOKER_BOT_APPROVAL_REMINDERS", True),
        log_channel=_channel(env, "XBOOKER_BOT_LOG_CHANNEL"),
        user_rate=_int(env, "XBOOKER_BOT_USER_RATE", 30, 0, 100_000),
        request_rate=_int(env, "XBOOKER_BOT_REQUEST_RATE", 20, 0, 100_000),
        metrics_port=metrics_port,
        log_level=level,
        log_format=log_format,
        port=_int(env, "PORT", 3000, 1, 65535),
    )


def require(settings: Settings, *names: str) -> None:
    """Stop a sub-command that needs settings the others may do without."""
    checks = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
        "XBOOKER_CLIENT_SECRET": settings.credentials,
    }
    for name in names:
        if checks[name] is None:
            if name == "XBOOKER_CLIENT_SECRET":
                raise ConfigError(
                    "XBOOKER_ORGANIZATION_ID",
                    "is required, with XBOOKER_CLIENT_ID and XBOOKER_CLIENT_SECRET "
                    "(the delegated app's Organization, ID and Secret)",
                )
            raise ConfigError(name, "is required for this command")
