"""The one sanitiser for values shown anywhere: a value is always one line of inert text.

A name from X Booker or a user can hold line breaks (``\\n``, U+2028, U+2029),
bidirectional overrides, zero-width characters or terminal escape sequences.
Shown raw, any of these can forge a second list row, push the real role of a
card out of sight, or make text read as something else. Every renderer
therefore passes values through :func:`one_line` first: line breaks become a
visible ``⏎``, other control and format characters a visible ``�``, and tabs a
space. Slack-specific escaping builds on top of it in :mod:`bot.core.replies`.
"""

from __future__ import annotations

import re
import unicodedata

LINE_BREAK = "⏎"
HIDDEN = "�"
_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# A terminal escape sequence (CSI, OSC and friends) is dropped whole, not only its ESC,
# so that "ESC]0;title BEL" cannot leave a half-sequence for a later ESC to complete.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def _replacement(ch: str) -> str:
    if ch in _BREAKS:
        return LINE_BREAK
    if ch == "\t":
        return " "
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"):
        return HIDDEN
    return ch


# More than this many combining marks on one character stack up over the lines around
# it ("Zalgo" text); real scripts need fewer.
MAX_MARKS = 3
_MARKS = re.compile(
    r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{4,}"
)


def one_line(value: object) -> str:
    """``value`` as one line with every invisible or line-breaking character made visible,
    and no pile of combining marks drawing over its neighbours."""
    text = _MARKS.sub(lambda m: m.group()[:MAX_MARKS], _ANSI.sub(HIDDEN, str(value)))
    if text.isprintable():  # the common case: nothing to replace
        return text
    return "".join(_replacement(ch) for ch in text)


def has_hidden(text: str) -> str | None:
    """The first line break, control or format character in typed input, as U+XXXX."""
    for ch in text:
        if ch in _BREAKS or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def clip(value: object, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters, marked "…" if cut: for the
    fields of a list row, so that a page of rows always fits one message."""
    text = one_line(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Characters that draw nothing although Unicode does not call them spaces or formats.
_BLANK = frozenset("\u2800\u3164\u115f\u1160\uffa0")


def visible_length(text: str) -> int:
    """How many characters of ``text`` show something: not spaces, not invisible or
    combining characters, not blank look-alikes (a reason of twelve braille blanks says
    nothing)."""
    return sum(
        1
        for ch in text
        if ch not in _BLANK
        and unicodedata.category(ch) not in ("Zs", "Cc", "Cf", "Mn", "Me")
        and not ch.isspace()
    )
