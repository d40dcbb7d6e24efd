"""How close each Slack surface comes to Block Kit's limits, at its largest.

    python bench/surfaces.py

Fills a simulated organization with the longest values X Booker allows and a
database with more open requests than any list shows, then builds each surface
the bot sends: App Home (an admin's, everything at its maximum), every form, the
reject-reason form, and full pages of `members list`, `approvals` and `audit`
with their page buttons. For each it prints the blocks used against the limit
(100 for views, 50 for messages), the longest text in one block against 3,000,
and the message's block text against the 12,000 past which Slack refuses a
message, and validates the payload with slack_sdk's Block Kit models.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk.models.views import View  # noqa: E402

from bot.core import forms, home  # noqa: E402
from bot.core.actions import grant_access  # noqa: E402
from bot.core.context import Invocation  # noqa: E402
from bot.core.replies import block_text_size  # noqa: E402
from bot.demo import demo_settings  # noqa: E402
from bot.runtime import engine as build_engine  # noqa: E402
from bot.runtime import xbooker_client  # noqa: E402
from bot.simulator import Simulator, SimulatorServer  # noqa: E402
from bot.slack.payloads import message  # noqa: E402
from bot.slack.views import form_modal, home_view, reject_modal  # noqa: E402
from bot.store import Store  # noqa: E402

TEAM, ADMIN, OTHER = "T0DEMO", "UDEMOADA", "UDEMOOPS"


def longest_text(blocks: list[dict]) -> int:
    return max((block_text_size(b) for b in blocks), default=0)


def report(name: str, blocks: list[dict], limit: int, validate: dict | None = None) -> None:
    error = ""
    if validate is not None:
        try:
            View(**validate).validate_json()
        except Exception as exc:  # report it, do not stop: this is a measurement
            error = f"  INVALID: {exc}"
    total = sum(block_text_size(b) for b in blocks)
    size = len(json.dumps(validate if validate is not None else {"blocks": blocks}))
    print(
        f"{name:<34} blocks {len(blocks):>3}/{limit:<3}  longest block text "
        f"{longest_text(blocks):>5}/3000  block text {total:>6}/12000  JSON {size:>6} B{error}"
    )


def main() -> int:
    simulator = Simulator()
    for member in simulator.members.values():  # X Booker's longest names and emails
        member["name"] = ("Ŵ" * 190)[: 200 - len(member["id"])] + member["id"]
    simulator.organization.update({k: "x" * 480 for k in ("name", "address")})
    with SimulatorServer(simulator) as server, tempfile.TemporaryDirectory() as folder:
        settings = demo_settings(server.url, Path(folder) / "surfaces.db")
        store = Store(settings.db_path)
        with xbooker_client(settings, store) as client:
            engine = build_engine(settings, store, TEAM, client)
            svc = engine.svc
            setup = Invocation(TEAM, "cli:bench", "access grant", source="cli")
            grant_access(svc.allowlist, svc.audit_in, setup, OTHER, "admin")
            emails = sorted(m["email"] for m in simulator.members.values())
            for email in emails[:25]:  # more than a home or a page shows
                for user in (ADMIN, OTHER):
                    text = f"members role {email} owner"
                    engine.handle(Invocation(TEAM, user, text, source="console"))
            built = home.build(svc, engine.approvals, ADMIN)
            report("App Home (admin, everything full)", built.blocks, 100, home_view(built.blocks))
            for command in forms.FORMS:
                form = forms.for_command(command, command, tuple(forms.FORMS))
                modal = form_modal(form.with_values({"name": "x" * 480}), "C0GENERAL")
                report(f"form: {command}", modal["blocks"], 100, modal)
            modal = reject_modal(1, {"id": 1, "nonce": "0" * 32, "channel": "C1", "ts": "1.1"})
            report("form: reject reason", modal["blocks"], 100, modal)
            for text in ("members list", "approvals", "audit 200"):
                reply = engine.handle(Invocation(TEAM, ADMIN, text, source="console"))
                report(f"message: {text}", message(reply)["blocks"], 50)
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
