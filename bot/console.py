"""The console: type ``/xbooker ...`` lines as a Slack user, read replies as text.

It drives the same engine as Slack (parse, authorize, approve, execute, audit),
marked as coming from the console in the audit log. The Slack-native surfaces
have text forms here too: ``home`` prints the App Home, and a command that opens
a form in Slack (``members add`` typed bare) asks for its fields one by one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TextIO

from bot.core import forms, home
from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.core.registry import BY_NAME
from bot.core.replies import Reply
from bot.core.roles import at_least
from bot.core.text import one_line

TRIES = 3  # times a field is asked again after a wrong answer

_LINK = re.compile(r"<@([UW][A-Z0-9]+)>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")


def _unescape(text: str) -> str:
    """Our own markup (mentions, channels, dates) as plain text, then the entities."""
    text = _LINK.sub(r"@\1", text)
    text = _CHANNEL.sub(r"#\1", text)
    text = _DATE.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_terminal(reply: Reply) -> str:
    """Blocks as readable lines; the fallback text when there are none."""
    if not reply.blocks:
        return _terminal_safe(_unescape(reply.text))
    lines = [blocks_to_terminal(reply.blocks)]
    if reply.pages is not None:
        turns = [
            f"{label}: /xbooker {typed}"
            for label, typed in (("previous", reply.pages.previous), ("next", reply.pages.next))
            if typed
        ]
        if turns:
            lines.append("  (" + " · ".join(turns) + ")")
    if reply.in_channel:
        lines.append("  (posted in the channel)")
    return _terminal_safe("\n".join(lines))


def blocks_to_terminal(blocks: list[dict]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {block['text']['text']} ==")
        elif kind == "section":
            if "text" in block:
                lines.append(_unescape(block["text"]["text"]))
            for item in block.get("fields", []):
                lines.append("  " + _unescape(item["text"]))
        elif kind == "context":
            lines += ["  (" + _unescape(e["text"]) + ")" for e in block["elements"]]
        elif kind == "actions":
            labels = [e["text"]["text"] for e in block["elements"]]
            lines.append("  [" + "] [".join(labels) + "]")
        elif kind == "divider":
            lines.append("  " + "-" * 40)
        if isinstance(block.get("accessory"), dict) and block["accessory"].get("text"):
            lines.append(f"  [{block['accessory']['text']['text']}]")
    return _terminal_safe("\n".join(lines))


def _terminal_safe(text: str) -> str:
    """No escape sequence or invisible character reaches the terminal, whatever the
    reply holds; our own line breaks stay."""
    return "\n".join(one_line(line) for line in text.split("\n"))


def fill(form: forms.Form, ask: Callable[[str], str | None], out: TextIO) -> dict | None:
    """Ask for each field in turn (Enter keeps what is shown in brackets), then check
    them all as Slack would; a field that is wrong is asked again. None when the
    answers run out or stay wrong: nothing is run."""
    print(f"== {form.title} ==", file=out)
    if form.note:
        print(f"  ({form.note})", file=out)
    values: dict[str, str] = {}
    pending = list(form.fields)
    for _ in range(TRIES + 1):
        for f in pending:
            choices = f" ({'/'.join(f.options)})" if f.options else ""
            hint = f" - {f.hint}" if f.hint else ""
            shown = f" [{one_line(f.initial)}]" if f.initial else ""
            optional = "" if f.required else " (optional)"
            answer = ask(f"{f.label}{choices}{optional}{hint}{shown}: ")
            if answer is None:
                print("  (form closed: nothing was run)", file=out)
                return None
            values[f.name] = answer.strip() or f.initial
        problems = forms.check(form, values)
        if not problems:
            return values
        for name, text in problems.items():
            print(f"  ! {name}: {one_line(text)}", file=out)
        pending = [f for f in form.fields if f.name in problems]
    print("  (form closed: nothing was run)", file=out)
    return None


def show_home(engine: Engine, user_id: str) -> str:
    built = home.build(engine.svc, engine.approvals, user_id)
    return blocks_to_terminal(built.blocks)


def handle_line(
    engine: Engine,
    team_id: str,
    user_id: str,
    line: str,
    ask: Callable[[str], str | None],
    out: TextIO,
) -> None:
    """One console line: ``home``, a form, or a command, answered on ``out``."""
    if line.lower() in ("home", "/xbooker home"):
        print(show_home(engine, user_id), file=out, flush=True)
        return
    command = forms.wanted(line)
    role = engine.svc.allowlist.role_of(user_id)
    if command is not None and at_least(role, BY_NAME[command].role):
        form = forms.for_command(command, line, engine.svc.settings.require_reason)
        values = fill(form, ask, out)
        if values is None:
            return
        line = forms.text(form, values)
        print(f"  (runs: /xbooker {one_line(line)})", file=out)
    reply = engine.handle(Invocation(team_id, user_id, line, source="console"))
    print(to_terminal(reply), file=out, flush=True)


def run(
    engine: Engine,
    team_id: str,
    user_id: str,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    greeting: str | None = None,
) -> int:
    interactive = stdin.isatty()
    print(greeting or f"Acting as {user_id}. Type /xbooker help, home, or quit.", file=out)

    def ask(prompt: str) -> str | None:
        print("  " + prompt, end="" if interactive else "\n", file=out, flush=True)
        answer = stdin.readline()
        return answer.rstrip("\n") if answer else None

    while True:
        if interactive:
            print("xbooker> ", end="", file=out, flush=True)
        line = stdin.readline()
        if not line:
            return 0
        line = line.strip()
        if not line:
            continue
        if line in ("quit", "exit"):
            return 0
        handle_line(engine, team_id, user_id, line, ask, out)
