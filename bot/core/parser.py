"""From decoded text to a command and typed arguments, or a specific usage error."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from bot.core import params as p
from bot.core import registry
from bot.core.lexer import LexError, Token, tokenize
from bot.core.registry import Command, lookup
from bot.core.text import visible_length

SHARE_SPELLINGS = ("--share", "—share", "–share")


@dataclass(frozen=True)
class Parsed:
    command: Command
    args: dict = field(default_factory=dict)
    share: bool = False


class ParseError(ValueError):
    """What is wrong, with the command it concerns (for its usage) if known."""

    def __init__(
        self, message: str, command: Command | None = None, words: list[str] | None = None
    ):
        super().__init__(message)
        self.command = command
        self.words = words or []


def parse(text: str, require_reason: Collection[str] = ()) -> Parsed:
    """``require_reason``: the commands XBOOKER_BOT_REQUIRE_REASON lists, which are
    refused here, before anything happens, when typed without a reason."""
    try:
        tokens = tokenize(text.strip())
    except LexError as exc:
        raise ParseError(str(exc)) from None
    if tokens and tokens[0].text.lower() in ("/xbooker", "xbooker") and tokens[0].bare:
        tokens = tokens[1:]
    # "--share" anywhere among the words (a phone may turn its "--" into a dash).
    flags = [t for t in tokens if t.bare and t.text.lower() in SHARE_SPELLINGS]
    share = bool(flags)
    tokens = [t for t in tokens if t not in flags]
    if not tokens:
        raise ParseError("no command given")
    leading = [t.text for t in tokens[:2] if t.bare]
    found = lookup(leading)
    if found is None:
        raise ParseError(f"unknown command '{' '.join(leading) or tokens[0].text}'", None, leading)
    command, used = found
    if share and not command.shareable:
        allowed = ", ".join(c.name for c in registry.COMMANDS if c.shareable)
        raise ParseError(f"--share is only for {allowed}; this answer stays private", command)
    args = bind(command, tokens[used:])
    if command.name in require_reason:
        check_reason(command, args.get("reason"))
    return Parsed(command, args, share)


def check_reason(command: Command, reason: str | None) -> None:
    """A required reason is there and says something (registry.check_reasons makes sure
    every command that may be listed takes one)."""
    param = next(q for q in command.params if q.name == "reason")
    where = "write it after the request id" if param.rest else 'add reason="…"'
    if reason is None:
        raise ParseError(
            f"{command.name} needs a reason: {where} (at least {p.REASON_MIN} characters)",
            command,
        )
    if visible_length(reason) < p.REASON_MIN:
        raise ParseError(
            f"{command.name} needs a reason of at least {p.REASON_MIN} characters; "
            f"this one has {visible_length(reason)} that show",
            command,
        )


def bind(command: Command, tokens: list[Token]) -> dict:
    """Assign tokens to the command's parameters, converting each."""
    args: dict = {}
    keywords = {q.name: q for q in command.params if q.keyword}
    fields_param = next((q for q in command.params if q.fields), None)
    positional = [q for q in command.params if not q.keyword and not q.fields and not q.rest]
    rest = next((q for q in command.params if q.rest), None)
    rest_words: list[str] = []
    rest_keyword = False  # the rest given as name="…" (reason="…" on approvals commands)
    for token in tokens:
        # The value's length: "reason=" in front of 500 characters is still 500.
        size = len(token.text) - (token.eq + 1 if token.eq is not None else 0)
        if size > p.MAX_ARGUMENT:
            raise ParseError(
                f"an argument is {size} characters long; at most {p.MAX_ARGUMENT}", command
            )
        if token.eq is not None:
            key, value = token.text[: token.eq].lower(), token.text[token.eq + 1 :]
            if key in keywords:
                if key in args:
                    raise ParseError(f"{key}= is given twice", command)
                args[key] = _convert(command, keywords[key], value)
                continue
            if rest is not None and key == rest.name == "reason" and not rest_keyword:
                rest_keyword = True
                args[rest.name] = _convert(command, rest, value)
                continue
            if fields_param is not None:
                if key not in fields_param.fields:
                    raise ParseError(
                        f"unknown field '{key}'; fields are {', '.join(fields_param.fields)}",
                        command,
                    )
                found = args.setdefault("fields", {})
                if key in found:
                    raise ParseError(f"{key}= is given twice", command)
                try:
                    found[key] = p.convert_field(key, value)
                except p.ArgumentError as exc:
                    raise ParseError(str(exc), command) from None
                continue
            if keywords and "@" not in token.text:  # an email may hold "=", an option never
                names = ", ".join(f"{k}=" for k in keywords)
                raise ParseError(f"unknown option '{key}='; options are {names}", command)
        if positional:
            param = positional.pop(0)
            args[param.name] = _convert(command, param, token.text)
        elif rest is not None:
            rest_words.append(token.text)
        else:
            raise ParseError(f"unexpected '{token.text}'", command)
    if rest is not None and rest_words:
        if rest_keyword:
            raise ParseError(
                f'give the {rest.name} once: as {rest.name}="…" or as the rest of the line',
                command,
            )
        args[rest.name] = _convert(command, rest, " ".join(rest_words))
    missing = [q for q in positional if q.required]
    if fields_param is not None and "fields" not in args:
        raise ParseError("give at least one <field>=<value>", command)
    if missing:
        raise ParseError(f"missing {missing[0].placeholder}", command)
    return args


def _convert(command: Command, param: p.Param, text: str):
    try:
        return param.convert(text)
    except p.ArgumentError as exc:
        raise ParseError(str(exc), command) from None
