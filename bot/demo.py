"""``xbooker-bot demo``: the whole bot on embedded defaults, no account needed.

An in-process X Booker simulator and a temporary SQLite file of its own (never
``XBOOKER_BOT_DB``); a scripted tour through the same engine Slack uses; then
the console when stdin is a terminal.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot import console
from bot.config import load_settings
from bot.core.actions import grant_access
from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.core.replies import Reply
from bot.runtime import engine as build_engine
from bot.runtime import xbooker_client
from bot.simulator import DEMO_CREDENTIALS, Simulator, SimulatorServer
from bot.store import Store

TEAM = "T0DEMO"
PEOPLE = {
    "UDEMOADA": ("Ada", "admin"),
    "UDEMOGRACE": ("Grace", "admin"),
    "UDEMOOPS": ("Omar", "operator"),
    "UDEMOVIV": ("Viv", "viewer"),
}


def demo_settings(base_url: str, db: Path, admins: str = "UDEMOADA"):
    return load_settings(
        {
            "XBOOKER_BASE_URL": base_url,
            "XBOOKER_ORGANIZATION_ID": DEMO_CREDENTIALS[0],
            "XBOOKER_CLIENT_ID": DEMO_CREDENTIALS[1],
            "XBOOKER_CLIENT_SECRET": DEMO_CREDENTIALS[2],
            "XBOOKER_BOT_DB": str(db),
            "XBOOKER_BOT_ADMINS": admins,
            "XBOOKER_BOT_APPROVALS_CHANNEL": "C0DEMOAPPROVALS",
            "SLACK_TEAM_ID": TEAM,
            "LOG_LEVEL": "WARNING",
        }
    )


class DemoNotifier:
    """Shows what Slack would: the approvals channel's messages and direct messages."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._posted = 0

    def _show(self, where: str, reply: Reply) -> None:
        body = console.to_terminal(reply).replace("\n", "\n    ")
        print(f"  [{where}]\n    {body}", file=self._out)

    def post(self, channel: str, reply: Reply) -> str | None:
        self._posted += 1
        self._show("posted in #approvals", reply)
        return f"{self._posted}.0001"

    def update(self, channel: str, ts: str, reply: Reply) -> None:
        self._show("#approvals message updated", reply)

    def direct(self, user_id: str, reply: Reply) -> None:
        self._show(f"direct message to {PEOPLE.get(user_id, (user_id,))[0]}", reply)

    def reply_in_thread(self, channel: str, ts: str, reply: Reply) -> str | None:
        self._posted += 1
        self._show(f"reply in the thread of #approvals message {ts}", reply)
        return f"{self._posted}.0001"


def tour(engine: Engine, sim: Simulator, out: TextIO) -> None:
    members = sorted(
        (m for m in sim.members.values() if m["role"] == "member"), key=lambda m: m["email"]
    )
    someone, promoted, leaver = members[0], members[1], members[2]

    def say(user: str, text: str, why: str) -> None:
        name, role = PEOPLE[user]
        print(f"\n--- {why}\n{name} (bot role {role}) types: /xbooker {text}", file=out)
        reply = engine.handle(Invocation(TEAM, user, text, source="console"))
        print(console.to_terminal(reply), file=out)

    say("UDEMOVIV", "help", "Help lists only what your bot role may run")
    say("UDEMOVIV", "org", "A quick organization lookup")
    say("UDEMOVIV", "members list role=admin", "Members, filtered by X Booker role")
    say("UDEMOVIV", f"members show {someone['email']}", "One member, by email")
    say("UDEMOOPS", 'members add ada@harbourlane.example name="Ada Lovelace"', "A change")
    say("UDEMOVIV", "members add mallory@evil.example", "A refused request: viewers cannot")
    say("UDEMOOPS", f"members add {someone['email']}", "X Booker's own error message")
    say("UDEMOOPS", "members lsit", "A typo gets the closest command")
    say(
        "UDEMOOPS",
        f"members role {promoted['email']} admin",
        "A risky change becomes a request for team approval",
    )
    say("UDEMOOPS", "approvals approve 1", "Operators cannot approve")
    say("UDEMOADA", f"members remove {leaver['email']}", "Admins' own changes need approval too")
    print("\n--- Ada opens the bot's App Home in Slack (console: type home)", file=out)
    print(console.show_home(engine, "UDEMOADA"), file=out)
    say("UDEMOADA", "approvals approve 2", "Nobody approves their own request")
    say("UDEMOGRACE", "approvals approve 1", "A second admin approves: it runs, once")
    say("UDEMOGRACE", "approvals reject 2 not this quarter", "...or rejects")
    answers = iter(
        ["grace.hopper@harbourlane", "", "Grace Hopper", "grace.hopper@harbourlane.example"]
    )

    def scripted(prompt: str) -> str | None:
        answer = next(answers, None)
        print(f"  {prompt}{answer if answer is not None else ''}", file=out)
        return answer

    print(
        "\n--- Typed without its arguments, a command opens its form (in Slack a modal;"
        " here, field by field)\nOmar (bot role operator) types: /xbooker members add",
        file=out,
    )
    console.handle_line(engine, TEAM, "UDEMOOPS", "members add", scripted, out)
    say("UDEMOADA", "audit 12", "The audit trail")
    say("UDEMOADA", "status", "Health, token state and warnings")


def run(stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    simulator = Simulator()
    with SimulatorServer(simulator) as server, tempfile.TemporaryDirectory() as folder:
        settings = demo_settings(server.url, Path(folder) / "demo.db")
        store = Store(settings.db_path)
        print(f"database: {settings.db_path} (temporary)", file=sys.stderr)
        print(f"X Booker simulator: {server.url}", file=out)
        with xbooker_client(settings, store) as client:
            engine = build_engine(settings, store, TEAM, client, DemoNotifier(out))
            svc = engine.svc
            setup = Invocation(TEAM, "cli:demo", "access grant", source="cli")
            for user, (_, role) in PEOPLE.items():
                if user not in settings.admins:
                    grant_access(svc.allowlist, svc.audit_in, setup, user, role)
            tour(engine, simulator, out)
            if stdin.isatty():
                greeting = "\nYour turn: you are Ada (bot admin). Type /xbooker help, or quit."
                console.run(engine, TEAM, "UDEMOADA", stdin, out, greeting)
            else:
                print("\nDemo finished. Run it in a terminal to try commands yourself.", file=out)
        store.close()
    return 0
