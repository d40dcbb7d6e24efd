"""The ``xbooker-bot`` command line (also ``python -m bot``).

Each sub-command validates only the settings it needs, prints which database
file it opens, and exits non-zero with one line naming the problem on failure
(2 for configuration, 1 for everything else).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__, logs
from bot.config import ConfigError, Settings, load_settings, read_environment, require
from bot.core.registry import RegistryError
from bot.store import Store, StoreError

if TYPE_CHECKING:
    from bot.store.audit import Verdict

log = logging.getLogger("bot.cli")


class StartupError(Exception):
    """A start-up check failed; the text is the one line to print."""


def open_store(settings: Settings) -> Store:
    store = Store(settings.db_path)
    _say_database(settings)
    return store


def _say_database(settings: Settings) -> None:
    """Which file a command opens, always shown; with LOG_FORMAT=json as a log line (at
    any LOG_LEVEL), so that every line on stderr stays one JSON object."""
    if settings.log_format != "json":
        print(f"database: {settings.db_path}", file=sys.stderr)
        return
    record = log.makeRecord(
        log.name, logging.INFO, __file__, 0, "database: %s", (settings.db_path,), None
    )
    log.handle(record)


def _settings() -> Settings:
    settings = load_settings()
    logs.setup(settings.log_level, fmt=settings.log_format)
    return settings


def _team_for_cli(settings: Settings, store: Store) -> str:
    from bot.runtime import stored_team_id

    team = settings.slack_team_id or stored_team_id(store)
    if team is None:
        raise StartupError(
            "the workspace is unknown: set SLACK_TEAM_ID, or run `xbooker-bot serve` "
            "(or `socket`) once so that it is read from Slack"
        )
    return team


def _slack_team(settings: Settings, store: Store, client) -> str:
    from slack_sdk.errors import SlackApiError

    from bot.slack.app import resolve_team_id

    try:
        return resolve_team_id(settings, store, client)
    except SlackApiError as exc:
        raise StartupError(
            f"Slack refused auth.test ({exc.response.get('error', 'error')}): check SLACK_BOT_TOKEN"
        ) from None
    except OSError as exc:
        raise StartupError(f"Slack could not be reached for auth.test ({exc})") from None


def _check_start_up(settings: Settings, store: Store, team: str) -> None:
    """Build the core once in the foreground: a bad setting stops here, not in a
    crash-looping worker; rules that cannot be met are logged."""
    from bot import runtime
    from bot.core.actions import warnings

    with runtime.xbooker_client(settings, store) as client:
        for warning in warnings(runtime.engine(settings, store, team, client).svc):
            log.warning("%s", warning)


def _slack_app(
    settings: Settings, store: Store, team: str, slack, socket_mode: bool = False, **app_options
):
    """The Bolt app with its executor and its engine (whose metrics it reports into), and
    the approval sweeper running beside it."""
    import threading

    from bot import runtime
    from bot.core.approvals import sweep_forever
    from bot.slack import logchannel
    from bot.slack.app import DrainingExecutor, build_app
    from bot.slack.metered import MeteredWebClient
    from bot.slack.notifier import SlackNotifier

    slack = MeteredWebClient.like(slack)
    client = runtime.xbooker_client(settings, store)
    engine = runtime.engine(settings, store, team, client, SlackNotifier(slack))
    slack.on_error.append(engine.svc.metrics.slack_error)
    executor = DrainingExecutor()
    app = build_app(
        settings, engine, client=slack, executor=executor, socket_mode=socket_mode, **app_options
    )
    threading.Thread(
        target=sweep_forever, args=(engine.approvals,), name="approval-sweeper", daemon=True
    ).start()
    if settings.log_channel is not None:
        logchannel.start(store, slack, settings.log_channel)
    return app, executor, engine


def _cmd_serve(args: argparse.Namespace) -> int:
    from bot.slack import serve
    from bot.slack.app import web_client
    from bot.slack.web import WebApp

    settings = _settings()
    require(settings, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "XBOOKER_CLIENT_SECRET")
    store = open_store(settings)
    team = _slack_team(settings, store, web_client(settings))
    _check_start_up(settings, store, team)
    store.close()

    assert settings.slack_signing_secret is not None  # required above

    def factory() -> WebApp:  # runs in the worker, after the fork
        store = Store(settings.db_path)
        # WebApp checks every signature before Bolt sees the request.
        app, executor, engine = _slack_app(
            settings, store, team, web_client(settings), verified_before=True
        )
        metrics = engine.svc.metrics
        if settings.metrics_port is not None:
            serve.serve_metrics(metrics, args.host, settings.metrics_port)
        return WebApp(
            app,
            executor,
            settings.slack_signing_secret.reveal(),
            metrics,
            metrics_here=settings.metrics_port is None,
        )

    return serve.run(settings, factory, args.host, args.port or settings.port)


def _cmd_socket(args: argparse.Namespace) -> int:
    from bot.slack import socket
    from bot.slack.app import web_client

    settings = _settings()
    require(settings, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "XBOOKER_CLIENT_SECRET")
    store = open_store(settings)
    slack = web_client(settings)
    team = _slack_team(settings, store, slack)
    _check_start_up(settings, store, team)
    app, executor, engine = _slack_app(settings, store, team, slack, socket_mode=True)
    if settings.metrics_port is not None:  # no HTTP server of its own otherwise
        from bot.slack.serve import serve_metrics

        serve_metrics(engine.svc.metrics, "0.0.0.0", settings.metrics_port)  # noqa: S104
    assert settings.slack_app_token is not None
    return socket.run(app, settings.slack_app_token.reveal(), executor)


def _cmd_console(args: argparse.Namespace) -> int:
    from bot import console, runtime

    if args.simulate:
        return _console_simulated(args)
    settings = _settings()
    require(settings, "XBOOKER_CLIENT_SECRET")
    store = open_store(settings)
    team = _team_for_cli(settings, store)
    user = args.as_user or (settings.admins[0] if settings.admins else None)
    if user is None:
        raise StartupError("give --as USER_ID (the Slack user to act as)")
    notifier = None
    if settings.slack_bot_token is not None:  # post requests where the admins will see them
        from bot.slack.app import web_client
        from bot.slack.notifier import SlackNotifier

        notifier = SlackNotifier(web_client(settings))
    with runtime.xbooker_client(settings, store) as client:
        engine = runtime.engine(settings, store, team, client, notifier)
        return console.run(engine, team, user)


def _console_simulated(args: argparse.Namespace) -> int:
    from bot import console, runtime
    from bot.demo import TEAM, demo_settings
    from bot.simulator import SimulatorServer

    logs.setup("WARNING")
    user = args.as_user or "UCONSOLE"
    with SimulatorServer() as server, tempfile.TemporaryDirectory() as folder:
        settings = demo_settings(server.url, Path(folder) / "console.db", admins=user)
        store = Store(settings.db_path)
        print(f"database: {settings.db_path} (temporary; simulated X Booker at {server.url})",
              file=sys.stderr)  # fmt: skip
        with runtime.xbooker_client(settings, store) as client:
            return console.run(runtime.engine(settings, store, TEAM, client), TEAM, user)


def _cmd_demo(args: argparse.Namespace) -> int:
    from bot import demo

    logs.setup("WARNING")
    return demo.run()


def _cmd_access(args: argparse.Namespace) -> int:
    from bot.core.actions import grant_access, revoke_access
    from bot.core.allowlist import AccessError, AllowList
    from bot.core.context import Invocation
    from bot.core.params import SLACK_USER
    from bot.core.roles import ROLES
    from bot.store import audit

    settings = _settings()
    store = open_store(settings)
    team = _team_for_cli(settings, store)
    allow = AllowList(store, team, settings.admins)
    if args.action == "list":
        for grant in allow.grants():
            source = "XBOOKER_BOT_ADMINS" if grant.from_config else f"by {grant.granted_by}"
            print(f"{grant.user_id}\t{grant.role}\t{source}")
        return 0
    if not SLACK_USER.fullmatch(args.user):
        raise StartupError(f"'{args.user}' is not a Slack user ID (U… or W…)")
    if args.action == "grant" and args.role not in ROLES:
        raise StartupError(f"'{args.role}' is not a bot role; use one of: {', '.join(ROLES)}")

    # The shell is the bootstrap path: no X Booker client, no approval, but the same
    # grant and audit row as Slack and approvals use.
    def audit_in(db, entry) -> int:
        return audit.append(db, entry, settings.audit_key)

    inv = Invocation(team, f"cli:{getpass.getuser()}", f"access {args.action}", source="cli")
    try:
        if args.action == "grant":
            change = grant_access(allow, audit_in, inv, args.user, args.role)
            print(
                f"{args.user} now has bot role {args.role}"
                + (f" (was {change.before})" if change.before else "")
            )
        else:
            change = revoke_access(allow, audit_in, inv, args.user)
            print(f"{args.user} no longer has a bot role (was {change.before})")
    except AccessError as exc:
        raise StartupError(str(exc)) from None
    return 0


def _anchor(text: str) -> tuple[int, str]:
    row, _, digest = text.partition(":")
    if not row.isdigit() or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError("expected ID:HASH as printed by 'xbooker-bot audit head'")
    return int(row), digest


def _cmd_audit(args: argparse.Namespace) -> int:
    from bot import export
    from bot.store import audit

    settings = _settings()
    store = open_store(settings)
    if args.action == "seal":
        entry = audit.Entry(f"cli:{getpass.getuser()}", "cli", "audit seal", "sealed")
        verdict = audit.seal(store, settings.audit_key, entry)
        if not verdict.ok:
            print(f"audit log: not sealed, the chain is broken: {verdict.reason}")
            return 1
        print(f"audit log: head sealed over {verdict.rows} row(s) (recorded in the log)")
        return 0
    if args.action == "head":
        found = audit.head(store)
        print(found if found else "audit head: the log is empty")
        if found:
            print(
                f"keep this outside the database; later check with: xbooker-bot audit verify "
                f"--anchor {found.last_id}:{found.last_hash}"
            )
        return 0
    if args.action == "verify":
        return _verdict(audit.verify(store, settings.audit_key, args.anchor), settings)
    export.write(audit.stream(store, args.limit), args.format, sys.stdout)
    return 0


def _verdict(verdict: Verdict, settings: Settings) -> int:
    """Print what ``audit verify`` found; its exit code."""
    if verdict.ok:
        kind = (
            "HMAC"
            if settings.audit_key
            else "hash (no XBOOKER_BOT_AUDIT_KEY: accidental damage only)"
        )
        print(f"audit log: {verdict.rows} row(s), {kind} chain intact")
        return 0
    where = f" at row {verdict.first_bad}" if verdict.first_bad else ""
    print(f"audit log: NOT intact{where}: {verdict.reason}")
    if settings.audit_key is None and verdict.first_bad == 1:
        print(
            "audit log: the very first row does not match, which is what a log written with "
            "XBOOKER_BOT_AUDIT_KEY looks like without it: set it (as the bot has it) and "
            "run this again"
        )
    return 1


def _cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy while the bot runs, then ``audit verify`` of the copy."""
    from bot.store import audit
    from bot.store.backup import BackupError, copy

    settings = _settings()
    _say_database(settings)
    try:
        size = copy(settings.db_path, args.file, force=args.force)
    except BackupError as exc:
        raise StartupError(str(exc)) from None
    print(f"backup: {args.file} ({size:,} bytes, mode 600)")
    copied = Store(args.file, readonly=True)
    try:
        return _verdict(audit.verify(copied, settings.audit_key), settings)
    finally:
        copied.close()


def _cmd_doctor(args: argparse.Namespace) -> int:
    from bot import doctor

    settings = _settings()
    return doctor.run(settings, open_store(settings), sys.stdout)


def _cmd_simulator(args: argparse.Namespace) -> int:
    from bot.simulator import DEMO_CREDENTIALS, Simulator, SimulatorServer

    env = read_environment()
    logs.setup(env.get("LOG_LEVEL", "INFO").upper())
    names = ("XBOOKER_ORGANIZATION_ID", "XBOOKER_CLIENT_ID", "XBOOKER_CLIENT_SECRET")
    from_env = all(n in env for n in names)
    creds = tuple(env[n] for n in names) if from_env else DEMO_CREDENTIALS
    simulator = Simulator(*creds, access_ttl=args.access_ttl)
    if args.scopes is not None:
        simulator.set_scopes({s.strip() for s in args.scopes.split(",") if s.strip()})
    if args.app_expires_in is not None:
        simulator.expire_app(args.app_expires_in)
    simulator.latency = args.latency
    simulator.fail_next(args.fail_next)
    simulator.drop_next(args.drop_next)
    server = SimulatorServer(simulator, host=args.host, port=args.port)
    print(f"X Booker simulator on {server.url}", flush=True)
    print(f"  XBOOKER_BASE_URL={server.url}", flush=True)
    if from_env:
        print("  serving the delegated app from XBOOKER_* (credentials not shown)", flush=True)
    else:
        print(f"  XBOOKER_ORGANIZATION_ID={creds[0]}", flush=True)
        print(f"  XBOOKER_CLIENT_ID={creds[1]}", flush=True)
        print(f"  XBOOKER_CLIENT_SECRET={creds[2]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError("expects a port number from 0 to 65535")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expects a number of seconds") from None
    if value != value or value < 0:
        raise argparse.ArgumentTypeError("expects a number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xbooker-bot",
        description="Run X Booker organization administration from Slack.",
    )
    parser.add_argument("--version", action="version", version=f"xbooker-bot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("serve", help="production HTTP server for Slack (gunicorn)")
    p.add_argument("--port", type=_port, default=None, help="port (wins over $PORT; default 3000)")
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")  # noqa: S104
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("socket", help="Socket Mode, for development without a public URL")
    p.set_defaults(func=_cmd_socket)

    p = sub.add_parser("simulator", help="run the X Booker simulator as a server")
    p.add_argument("--port", type=_port, default=8099, help="port (default 8099; 0 = any)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--access-ttl", type=_seconds, default=120.0, help="access-token lifetime")
    p.add_argument(
        "--app-expires-in",
        type=float,
        default=None,
        metavar="SECONDS",
        help="expire the delegated app this many seconds from now",
    )
    p.add_argument("--scopes", default=None, help="comma-separated scopes the app has")
    p.add_argument("--latency", type=_seconds, default=0.0, help="seconds added to every answer")
    p.add_argument(
        "--fail-next",
        type=int,
        default=0,
        metavar="N",
        help="answer the first N requests with HTTP 500",
    )
    p.add_argument(
        "--drop-next",
        type=int,
        default=0,
        metavar="N",
        help="drop the connection of the first N requests",
    )
    p.set_defaults(func=_cmd_simulator)

    p = sub.add_parser("console", help="type /xbooker commands as a Slack user")
    p.add_argument("--as", dest="as_user", metavar="USER_ID", help="the Slack user to act as")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="use the in-process simulator and a temporary database",
    )
    p.set_defaults(func=_cmd_console)

    p = sub.add_parser("demo", help="a tour of every feature on embedded defaults")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("access", help="manage the allow-list without Slack")
    acc = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    g = acc.add_parser("grant", help="give USER_ID a bot role")
    g.add_argument("user", metavar="USER_ID")
    g.add_argument("role", metavar="ROLE", help="viewer, operator or admin")
    r = acc.add_parser("revoke", help="take USER_ID's bot role away")
    r.add_argument("user", metavar="USER_ID")
    acc.add_parser("list", help="who has which bot role")
    p.set_defaults(func=_cmd_access)

    p = sub.add_parser("audit", help="print or export the audit log, or verify its chain")
    p.add_argument(
        "action",
        nargs="?",
        choices=["verify", "head", "seal"],
        help="verify: check the chain and its head; head: print the head to keep elsewhere; "
        "seal: seal the head over the log as it is (after checking it)",
    )
    p.add_argument(
        "--anchor",
        type=_anchor,
        default=None,
        metavar="ID:HASH",
        help="with verify: a head printed earlier, which the log must still hold",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="the latest N rows")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("backup", help="copy the database while the bot runs, then verify the copy")
    p.add_argument("file", type=Path, metavar="FILE", help="where to write the copy (mode 600)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=_cmd_backup)

    p = sub.add_parser("doctor", help="check configuration, X Booker and the Slack side once")
    p.set_defaults(func=_cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.install_record_filter()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (StoreError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
