"""Slack views: forms as modals, the reject-reason modal and App Home, and reading
what a submitted modal holds.

A modal's ``private_metadata`` carries only what the submission needs to act as
the click or command that opened it (the form's command and where to answer, or
the request, its nonce and its card); it comes back inside a signed payload but is
still checked like any other input before use.
"""

from __future__ import annotations

import json

from bot.core import forms
from bot.core.replies import plain
from bot.core.text import clip

FORM = "xbooker_form"
REJECT_REASON = "xbooker_reject_reason"
VALUE = "value"
MAX_METADATA = 3000


def _input(field: forms.Field) -> dict:
    if field.options:
        options = [{"text": plain(o), "value": o} for o in field.options]
        element: dict = {"type": "static_select", "action_id": VALUE, "options": options}
        if field.initial in field.options:
            element["initial_option"] = {"text": plain(field.initial), "value": field.initial}
    else:
        element = {"type": "plain_text_input", "action_id": VALUE, "max_length": 500}
        if field.initial:
            element["initial_value"] = clip(field.initial, 500)
    block = {
        "type": "input",
        "block_id": field.name,
        "label": plain(field.label, 2000),
        "element": element,
        "optional": not field.required,
    }
    if field.hint:
        block["hint"] = plain(field.hint, 2000)
    return block


def form_modal(form: forms.Form, channel: str | None, loading: bool = False) -> dict:
    """``loading``: the current values are still being read (the form opens at once,
    since Slack's trigger lasts three seconds, and is updated when they arrive)."""
    blocks: list[dict] = []
    if form.note:
        blocks.append({"type": "context", "elements": [plain(form.note)]})
    if loading:
        blocks.append({"type": "context", "elements": [plain("Reading the current values…")]})
    blocks += [_input(f) for f in form.fields]
    metadata = {"command": form.command, "channel": channel}
    if form.command == "org update":  # what "unchanged" means, for the submission
        metadata["initial"] = {f.name: f.initial for f in form.fields if f.initial}
    encoded = json.dumps(metadata, separators=(",", ":"))
    if len(encoded) > MAX_METADATA:  # long current values: unchanged ones are then re-sent
        encoded = json.dumps({"command": form.command, "channel": channel})
    return {
        "type": "modal",
        "callback_id": FORM,
        "title": plain(form.title, 24),
        "submit": plain(form.submit, 24),
        "close": plain("Cancel", 24),
        "private_metadata": encoded,
        "blocks": blocks,
    }


def reject_modal(rid: int, metadata: dict) -> dict:
    return {
        "type": "modal",
        "callback_id": REJECT_REASON,
        "title": plain(f"Reject request #{rid}", 24),
        "submit": plain("Reject", 24),
        "close": plain("Back", 24),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": plain("Why is it rejected?"),
                "hint": plain("The requester sees this reason."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": VALUE,
                    "max_length": 500,
                },
            }
        ],
    }


def home_view(blocks: list[dict]) -> dict:
    return {"type": "home", "blocks": blocks[:100]}


def submitted(view: dict) -> dict[str, str]:
    """Each input's value by block id (its field), as text: empty when left blank."""
    values: dict[str, str] = {}
    state = ((view or {}).get("state") or {}).get("values") or {}
    if not isinstance(state, dict):
        return values
    for block_id, actions in state.items():
        element = actions.get(VALUE) if isinstance(actions, dict) else None
        if not isinstance(element, dict):
            continue
        if element.get("type") == "static_select":
            chosen = element.get("selected_option") or {}
            value = chosen.get("value") if isinstance(chosen, dict) else None
        else:
            value = element.get("value")
        values[str(block_id)] = value if isinstance(value, str) else ""
    return values


def metadata(view: dict) -> dict:
    try:
        found = json.loads((view or {}).get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
