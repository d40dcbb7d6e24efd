"""Forms for the commands whose arguments are easy to get wrong when typed.

A form is only another way to type a command: its fields are the command's own
parameters, each value is checked by the parameter's own converter (so a field
gets the error the typed argument would), and a filled form becomes the command
text a user could have typed, which then takes the one path every command takes
(parse, allow-list, approval gate, audit, reply). Front ends draw forms their own
way: a Slack modal, or questions asked one by one in the console.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.core import params as p
from bot.core.lexer import LexError, tokenize
from bot.core.params import REASON_MIN
from bot.core.parser import SHARE_SPELLINGS, ParseError, check_reason
from bot.core.registry import BY_NAME, lookup
from bot.core.text import has_hidden
from bot.xbooker.operations import MEMBER_ROLES, ORGANIZATION_FIELDS

# What the lexer reads as a double quote: a value holding one would not type back.
QUOTES = '"“”„‟'


@dataclass(frozen=True)
class Field:
    name: str  # the parameter (or organization field) it fills
    label: str
    hint: str = ""
    options: tuple[str, ...] = ()  # a choice; empty for free text
    required: bool = True
    initial: str = ""
    keyword: bool = False  # typed as name=value rather than in its position


@dataclass(frozen=True)
class Form:
    command: str
    title: str  # at most 24 characters: a Slack modal's title
    submit: str
    fields: tuple[Field, ...]
    note: str = ""  # shown above the fields (say, that the change needs approval)

    def with_values(self, values: dict[str, str]) -> Form:
        return replace(
            self,
            fields=tuple(replace(f, initial=values.get(f.name, f.initial)) for f in self.fields),
        )


_MEMBER = Field("member", "Member", "Their email, or their X Booker member id")
FORMS: dict[str, Form] = {
    f.command: f
    for f in (
        Form(
            "members add",
            "Add a member",
            "Add",
            (
                Field("email", "Email", "Where X Booker sends the invitation"),
                Field("role", "X Booker role", options=MEMBER_ROLES, initial="member"),
                Field("name", "Full name", required=False, keyword=True),
            ),
        ),
        Form(
            "members role",
            "Change a member's role",
            "Change role",
            (_MEMBER, Field("role", "New X Booker role", options=MEMBER_ROLES)),
        ),
        Form("members remove", "Remove a member", "Remove", (_MEMBER,)),
        Form(
            "org update",
            "Update the organization",
            "Update",
            tuple(
                Field(name, name.capitalize(), required=False, keyword=True)
                for name in ORGANIZATION_FIELDS
            ),
            note="Change only what should change: a field left as it is is not sent.",
        ),
    )
}


def for_command(command: str, typed: str, require_reason: tuple[str, ...]) -> Form:
    """The form for ``command``, pre-filled with what was typed after its words (each
    value that fits its field; the rest is left for the user to correct)."""
    form = FORMS[command]
    if command in require_reason:
        reason = Field("reason", "Reason", f"Why, in {REASON_MIN} characters or more", keyword=True)
        form = replace(form, fields=(*form.fields, reason))
    return form.with_values(prefill(form, typed))


def showable(value: str) -> bool:
    """Whether an input can show ``value`` exactly, so that submitting it untouched
    sends back what is there (no line break, invisible character or quote, and no
    longer than a typed argument may be)."""
    return len(value) <= p.MAX_ARGUMENT and not has_hidden(value) and not quoted(value)


def with_current(form: Form, current: dict[str, str]) -> Form:
    """``org update``'s form showing the organization's values. A value an input
    cannot show exactly is left out of the form, which says so: shown altered and
    sent back, it would change a field nobody touched."""
    kept, left = [], []
    for f in form.fields:
        value = current.get(f.name, "")
        if value and not showable(value):
            left.append(f.label.lower())
            continue
        kept.append(replace(f, initial=value) if value else f)
    note = form.note
    if left:
        note += f" Not editable here (type org update to change): {', '.join(left)}."
    return replace(form, fields=tuple(kept), note=note)


def quoted(value: str) -> bool:
    """Whether ``value`` holds a character the lexer reads as a double quote."""
    return any(q in value for q in QUOTES)


def wanted(text: str) -> str | None:
    """The command a form should open for, when ``text`` names a form's command but
    leaves out what it requires (a bare ``/xbooker members add``)."""
    try:
        tokens = tokenize(text.strip())
    except LexError:
        return None
    if any(t.bare and t.text.lower() in SHARE_SPELLINGS for t in tokens):
        return None  # --share on a change: its usage lesson says why not
    words = [t.text for t in tokens[:2] if t.bare]
    found = lookup(words)
    if found is None or found[0].name not in FORMS:
        return None
    command, used = found
    given = tokens[used:]
    required = [q for q in command.params if q.required and not q.keyword and not q.fields]
    if any(q.fields for q in command.params):
        return command.name if not any(t.eq is not None for t in given) else None
    positional = [t for t in given if t.eq is None]
    return command.name if len(positional) < len(required) else None


def prefill(form: Form, typed: str) -> dict[str, str]:
    """Field values from typed text, leniently: a value that does not convert is kept
    as typed, so the form shows it for correcting rather than dropping it."""
    try:
        tokens = tokenize(typed.strip())
    except LexError:
        return {}
    found = lookup([t.text for t in tokens[:2] if t.bare])
    tokens = tokens[found[1] :] if found else []
    names = {f.name for f in form.fields}
    positional = [f.name for f in form.fields if not f.keyword]
    values: dict[str, str] = {}
    for token in tokens:
        if token.eq is not None:
            key, value = token.text[: token.eq].lower(), token.text[token.eq + 1 :]
            if key in names:
                values[key] = value
        elif positional:
            values[positional.pop(0)] = token.text
    return values


def check(form: Form, values: dict[str, str]) -> dict[str, str]:
    """What is wrong with each field, by field name (empty when nothing is). Each value
    goes through the parameter that would take it typed."""
    command = BY_NAME[form.command]
    by_name = {q.name: q for q in command.params}
    problems: dict[str, str] = {}
    for f in form.fields:
        value = values.get(f.name, "").strip()
        if not value:
            if f.required:
                problems[f.name] = f"{f.label} is required"
            continue
        if form.command == "org update" and f.name != "reason" and value == f.initial:
            continue  # not sent: whatever X Booker holds is not ours to judge
        if quoted(value):
            problems[f.name] = 'quotation marks (" “ ”) cannot be used here'
            continue
        try:
            if f.name == "reason":
                p.reason().convert(value)
                check_reason(command, value)
            elif f.name in ORGANIZATION_FIELDS and f.name not in by_name:
                p.convert_field(f.name, value)
            else:
                by_name[f.name].convert(value)
        except (p.ArgumentError, ParseError) as exc:
            problems[f.name] = str(exc)
    if (
        form.command == "org update"
        and not problems
        and not any(
            values.get(f.name, "").strip() and values.get(f.name, "").strip() != f.initial
            for f in form.fields
            if f.name != "reason"
        )
    ):
        problems[form.fields[0].name] = "change at least one field"
    return problems


def text(form: Form, values: dict[str, str]) -> str:
    """The command a checked form stands for, as it could have been typed. Values are
    quoted whole (they cannot hold a double quote: :func:`check` refused it). An
    organization field left at its current value is not sent."""
    parts = [form.command]
    for f in form.fields:
        value = values.get(f.name, "").strip()
        if not value:
            continue
        if form.command == "org update" and f.name != "reason" and value == f.initial:
            continue
        parts.append(f'{f.name}="{value}"' if f.keyword else f'"{value}"')
    return " ".join(parts)
