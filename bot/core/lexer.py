"""Split command text into tokens: whitespace-separated, double quotes group words.

Phones send curly quotes, so “ ” „ count as ". Control and invisible formatting
characters (including bidirectional overrides that make a name display as
something else) are refused outright rather than passed to X Booker.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_TEXT = 4000
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "‘": "'", "’": "'"})
_SPACE = " \t\n\r"


class LexError(ValueError):
    """The text cannot be tokenised; the message says why, for the user."""


@dataclass(frozen=True)
class Token:
    text: str
    eq: int | None = None  # index in ``text`` of the first "=" typed outside quotes
    quoted: bool = False

    @property
    def bare(self) -> bool:
        """A plain word: no quotes, no key=value."""
        return not self.quoted and self.eq is None


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_TEXT:
        raise LexError(f"the command is {len(text)} characters long; at most {MAX_TEXT} are read")
    text = text.translate(_QUOTES)
    for ch in text:
        if ch in _SPACE:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            raise LexError(f"control character U+{ord(ch):04X} is not allowed")
        if category == "Cf":
            raise LexError(f"invisible formatting character U+{ord(ch):04X} is not allowed")
    tokens: list[Token] = []
    buf: list[str] = []
    eq: int | None = None
    quoted = in_quote = started = False
    quote_start = 0
    for index, ch in enumerate(text):
        if in_quote:
            if ch == '"':
                in_quote = False
            else:
                buf.append(ch)
        elif ch == '"':
            in_quote, quoted, started, quote_start = True, True, True, index
        elif ch in _SPACE:
            if started:
                tokens.append(Token("".join(buf), eq, quoted))
            buf, eq, quoted, started = [], None, False, False
        else:
            if ch == "=" and eq is None:
                eq = len(buf)
            buf.append(ch)
            started = True
    if in_quote:
        raise LexError(f'unbalanced quote: the " at character {quote_start + 1} is never closed')
    if started:
        tokens.append(Token("".join(buf), eq, quoted))
    return tokens
