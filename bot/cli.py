"""The ``xbooker-bot`` command line (also ``python -m bot``).

Each sub-command validates only the settings it needs, prints which database
file it opens, and exits non-zero with one line naming the problem on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

from bot import __version__, logs
from bot.config import ConfigError, Settings, load_settings, read_environment
from bot.store import Store, StoreError


def open_store(settings: Settings) -> Store:
    store = Store(settings.db_path)
    print(f"database: {settings.db_path}", file=sys.stderr)
    return store


def _cmd_doctor(args: argparse.Namespace) -> int:
    from bot import doctor

    settings = load_settings()
    logs.setup(settings.log_level)
    return doctor.run(settings, open_store(settings), sys.stdout)


def _cmd_simulator(args: argparse.Namespace) -> int:
    from bot.simulator import DEMO_CREDENTIALS, Simulator, SimulatorServer

    env = read_environment()
    logs.setup(env.get("LOG_LEVEL", "INFO").upper() if env.get("LOG_LEVEL") else "INFO")
    names = ("XBOOKER_ORGANIZATION_ID", "XBOOKER_CLIENT_ID", "XBOOKER_CLIENT_SECRET")
    from_env = all(n in env for n in names)
    creds = tuple(env[n] for n in names) if from_env else DEMO_CREDENTIALS
    simulator = Simulator(*creds, access_ttl=args.access_ttl)
    if args.scopes is not None:
        simulator.set_scopes({s.strip() for s in args.scopes.split(",") if s.strip()})
    if args.app_expires_in is not None:
        simulator.expire_app(args.app_expires_in)
    simulator.latency = args.latency
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

    p = sub.add_parser("doctor", help="check configuration, tokens and the organization once")
    p.set_defaults(func=_cmd_doctor)

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
    p.set_defaults(func=_cmd_simulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.install_record_filter()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger(__name__).info("interrupted")
        return 130
