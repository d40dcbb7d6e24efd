"""The console: type ``/xbooker ...`` lines as a Slack user, read replies as text.

It drives the same engine as Slack (parse, authorize, approve, execute, audit),
marked as coming from the console in the audit log.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.core.replies import Reply
from bot.core.text import one_line

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
    lines: list[str] = []
    for block in reply.blocks:
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
    if reply.in_channel:
        lines.append("  (posted in the channel)")
    return _terminal_safe("\n".join(lines))


def _terminal_safe(text: str) -> str:
    """No escape sequence or invisible character reaches the terminal, whatever the
    reply holds; our own line breaks stay."""
    return "\n".join(one_line(line) for line in text.split("\n"))


def run(
    engine: Engine,
    team_id: str,
    user_id: str,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    greeting: str | None = None,
) -> int:
    interactive = stdin.isatty()
    print(greeting or f"Acting as {user_id}. Type /xbooker help, or quit.", file=out)
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
        reply = engine.handle(Invocation(team_id, user_id, line, source="console"))
        print(to_terminal(reply), file=out, flush=True)
