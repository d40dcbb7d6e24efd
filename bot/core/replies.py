"""Replies as Block Kit plus a plain fallback, and the escaping every value goes through.

Slack treats ``&``, ``<`` and ``>`` as markup, so a member named ``<!channel>``
would ping a channel if written raw, and ``*``, ``_``, ``~`` and backticks start
formatting. Everything that came from a user or from X Booker goes through
:func:`esc` or :func:`code` into ``verbatim`` mrkdwn (no auto-linking), or into
``plain_text``; both first make the value one line (:mod:`bot.core.text`). The
fallback ``text`` is escaped the same way, because it is what notifications show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.text import clip, one_line

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
MAX_FIELDS = 10
# Block text a message may hold: below the size at which Slack refuses a message as
# msg_blocks_too_long, so every reply we build is one Slack accepts.
MAX_MESSAGE = 12_000


# Slack has no escape for its formatting characters. One between two letters or
# digits (``john_doe``) formats nothing and is kept; anywhere else it is swapped for
# a look-alike that formats nothing. Backticks can open a code span anywhere.
_FORMATTING = re.compile(r"`|(?<![0-9A-Za-z])[*_~]|[*_~](?![0-9A-Za-z])")
_LOOKALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}


def ours(text: str) -> str:
    """Our own text with formatting meant (advice, help): only ``&<>`` are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc(value: object, limit: int | None = None) -> str:
    """A value as one line of mrkdwn that can start no markup, mention or formatting;
    with ``limit``, at most that many characters *after* escaping, cut between
    entities and marked "…" (so a row's size is known whatever the value holds)."""
    return _bounded(_FORMATTING.sub(lambda m: _LOOKALIKE[m.group()], one_line(value)), limit)


def code(value: object, limit: int | None = None) -> str:
    """A value as an inline code span, shown exactly (backticks cannot be escaped)."""
    return "`" + _bounded(one_line(value).replace("`", _LOOKALIKE["`"]), limit) + "`"


def _bounded(text: str, limit: int | None) -> str:
    escaped = ours(text)
    if limit is None or len(escaped) <= limit:
        return escaped
    out, size = [], 0
    for ch in text:
        piece = ours(ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def clip_markup(text: str, limit: int) -> str:
    """Cut mrkdwn at a token boundary: never inside ``<…>`` (a mention, date or link,
    which would show half-parsed) or a code span (which would swallow what follows)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > len(cut) - 40:  # a word boundary nearby reads better than half a word
        cut = cut[:space]
    while True:  # then back out of any token the cut is inside, until none is open
        opened = cut.rfind("<")
        if opened > cut.rfind(">"):
            cut = cut[:opened]
        elif cut.count("`") % 2:
            cut = cut[: cut.rfind("`")]
        elif cut.rfind("&") > cut.rfind(";"):  # half an entity such as &amp;
            cut = cut[: cut.rfind("&")]
        else:
            return cut.rstrip() + "…"


def block_text_size(block: dict) -> int:
    """The characters of text a block shows, as Slack counts against a message."""
    size = 0
    for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            size += len(item["text"])
        elif isinstance(item, dict) and isinstance(item.get("text"), dict):
            size += len(item["text"].get("text", ""))
    return size


def plain(text: str, limit: int = MAX_TEXT) -> dict:
    """Plain text formats nothing, but a line break in a value still forges a line."""
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": False}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": clip_markup(text, MAX_TEXT) or " ", "verbatim": True}


def header(text: str) -> dict:
    return {"type": "header", "text": plain(text, MAX_HEADER)}


def section(text: str) -> dict:
    """A section of already-escaped mrkdwn."""
    return {"type": "section", "text": mrkdwn(text)}


def fields(pairs: list[tuple[str, str]]) -> list[dict]:
    """Label/value pairs as plain-text fields, ten to a section."""
    items = [plain(f"{label}: {value or '—'}", 2000) for label, value in pairs]
    return [
        {"type": "section", "fields": items[i : i + MAX_FIELDS]}
        for i in range(0, len(items), MAX_FIELDS)
    ]


def context(text: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(text)]}


def chunks(lines: list[str], limit: int = MAX_TEXT) -> list[str]:
    """Join lines into texts of at most ``limit`` characters each."""
    out: list[str] = []
    current = ""
    for line in lines:
        line = clip_markup(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


@dataclass(frozen=True)
class Pages:
    """Where a paged answer is: the command that shows page ``n`` is ``command`` with
    ``page=n`` added, so the Previous and Next buttons run exactly what could be typed."""

    command: str  # e.g. "members list role=admin", without page=
    page: int
    pages: int
    rest: str = ""  # a trailing rest-of-line argument (search text), typed after page=

    def typed(self, page: int) -> str:
        return " ".join(p for p in (self.command, f"page={page}", self.rest) if p)

    @property
    def previous(self) -> str | None:
        return self.typed(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.typed(self.page + 1) if self.page < self.pages else None


@dataclass
class Reply:
    """What the bot answers. ``text`` is escaped mrkdwn shown where blocks are not.
    ``pages`` makes a front end that can offer Previous / Next do so."""

    text: str
    blocks: list[dict] = field(default_factory=list)
    in_channel: bool = False
    pages: Pages | None = None

    def __post_init__(self) -> None:
        """Renderers page their rows to fit; this is the last guard, and it says what it
        left out rather than letting Slack refuse the whole message. A paged answer keeps
        a block slot and some characters for its buttons."""
        kept, size = [], 0
        slots = MAX_BLOCKS - (1 if self.pages else 0)
        for index, block in enumerate(self.blocks):
            cost = block_text_size(block)
            last_slot = len(kept) == slots - 1 and index < len(self.blocks) - 1
            if last_slot or size + cost > MAX_MESSAGE - 200:
                left = len(self.blocks) - len(kept)
                kept.append(context(f"({left} more part(s) did not fit one Slack message)"))
                break
            kept.append(block)
            size += cost
        self.blocks = kept
        self.text = clip_markup(self.text, MAX_TEXT)

    def with_note(self, text: str) -> Reply:
        """The same answer with a line of ours added at the end."""
        return Reply(
            f"{self.text}\n{text}", [*self.blocks, context(text)], self.in_channel, self.pages
        )

    def shared_by(self, mention: str) -> Reply:
        """The answer posted in the channel, saying first who shared it. Without page
        buttons: a click replaces the message for everyone, with what the clicker may see."""
        line = f"Shared by {mention}"
        return Reply(f"{line}: {self.text}", [context(line), *self.blocks], in_channel=True)

    @classmethod
    def note(cls, text: str) -> Reply:
        """A one-section reply of already-escaped mrkdwn."""
        return cls(text, [section(text)])
