"""Reasons: ``reason="…"`` on every command that changes something, required for those
XBOOKER_BOT_REQUIRE_REASON lists, and shown (inert) on the card, in the audit log and
in the requester's direct message."""

from __future__ import annotations

import json
import time

import pytest

from bot.core import registry
from bot.core.parser import ParseError, parse
from bot.core.registry import RegistryError
from bot.store import audit
from tests.test_approvals import request_id, shown
from tests.world import ADMIN, ADMIN2, APPROVALS, OPERATOR, World

LISTED = ("members remove", "approvals reject", "access grant")
HOSTILE = "ping <!channel> *bold* _it_ ~gone~ `tick` & <https://evil.example|here>"


def member(world, index: int = 20) -> dict:
    return sorted(
        (m for m in world.sim.members.values() if m["role"] == "member"), key=lambda m: m["id"]
    )[index]


def rows_of(world, rid: int) -> list[dict]:
    return [r for r in audit.rows(world.store) if r["detail"].get("request") == rid]


# -- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('members remove bob@x.example reason="left the company"', "left the company"),
        ("members remove bob@x.example reason=“left the company”", "left the company"),
        ('members remove reason="  left the company  " bob@x.example', "left the company"),
        ("approvals reject 42 too risky on a Friday", "too risky on a Friday"),
        ('approvals reject 42 reason="too risky on a Friday"', "too risky on a Friday"),
        ('access grant U0NEW admin reason="runs the on-call rota"', "runs the on-call rota"),
    ],
)
def test_a_listed_command_takes_its_reason(text, reason):
    assert parse(text, LISTED).args["reason"] == reason


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "members remove bob@x.example",
            'members remove needs a reason: add reason="…" (at least 10 characters)',
        ),
        (
            'members remove bob@x.example reason="gone"',
            "members remove needs a reason of at least 10 characters; this one has 4",
        ),
        (
            "approvals reject 42",
            "approvals reject needs a reason: write it after the request id (at least 10",
        ),
        ("approvals reject 42 not now", "at least 10 characters; this one has 6 that show"),
        ('members remove bob@x.example reason="   "', "the reason is empty"),
        ('members remove bob@x.example reason=""', "the reason is empty"),
        ('members remove bob@x.example reason="a\nb long enough"', "line break"),
        ('members remove bob@x.example reason="a\u2028b long enough"', "U+2028"),
        ('members remove bob@x.example reason="' + "x" * 501 + '"', "at most 500"),
        ('members remove bob@x.example reason="' + "\u2800" * 12 + '"', "0 that show"),
        ('members remove bob@x.example reason="' + "\u3164" * 12 + '"', "0 that show"),
        ("approvals reject 42 " + "word " * 101, "at most 500"),
        ('approvals reject 42 reason="one reason here" and more', "give the reason once"),
        (
            'members remove bob@x.example reason="left the company" reason="twice over"',
            "reason= is given twice",
        ),
    ],
)
def test_a_missing_or_bad_reason_is_a_usage_error(text, says):
    with pytest.raises(ParseError, match=None) as caught:
        parse(text, LISTED)
    assert says in str(caught.value)
    assert caught.value.command is not None  # so the answer shows the command's usage


def test_a_reason_of_500_characters_is_taken_whole_typed_or_by_name():
    """The limit is the value's: reason= in front of it does not count."""
    reason = "y" * 500
    assert parse(f'members remove bob@x.example reason="{reason}"', LISTED).args["reason"] == reason


def test_a_bidi_override_in_a_reason_is_refused_before_parsing():
    with pytest.raises(ParseError, match="invisible formatting character U\\+202E"):
        parse('members remove bob@x.example reason="a\u202eb long enough"', LISTED)


def test_a_reason_is_optional_on_commands_not_listed():
    assert "reason" not in parse("members remove bob@x.example", ()).args
    short = parse('members remove bob@x.example reason="gone"', ()).args
    assert short["reason"] == "gone"
    assert parse("approvals reject 42 not now", LISTED[:1]).args["reason"] == "not now"


def test_commands_with_free_text_keep_it():
    """The search text of ``members list`` and the topic of ``help`` are untouched."""
    with pytest.raises(ParseError, match="unknown option 'reason='; options are role=, page="):
        parse("members list reason=x", ())
    assert parse("members list role=admin ann lee", ()).args == {
        "role": "admin",
        "search": "ann lee",
    }
    assert parse("help members remove", LISTED).args["topic"] == "members remove"


def test_every_command_that_changes_something_takes_a_reason():
    writers = [c for c in registry.COMMANDS if c.writes]
    assert {c.name for c in writers} >= {"org update", "members add", "access revoke"}
    for command in writers:
        assert "reason" in command.usage, command.name
    assert "reason" not in registry.BY_NAME["members list"].usage


# -- the setting --------------------------------------------------------------------------


def test_the_setting_accepts_commands_that_change_something():
    listable = tuple(
        c.name for c in registry.COMMANDS if c.writes and c.name not in registry.CLICKED
    )
    registry.check_reasons(listable)
    registry.check_reasons(())


@pytest.mark.parametrize("entry", registry.CLICKED)
def test_the_setting_refuses_what_buttons_decide(entry):
    """Approve and Cancel are clicks, which carry no reason: listing them would make
    every button answer with a usage error."""
    with pytest.raises(RegistryError, match="button"):
        registry.check_reasons((entry,))


def test_the_setting_refuses_a_lookup_and_says_which_commands_may_be_listed():
    with pytest.raises(RegistryError) as caught:
        registry.check_reasons(("members remove", "members list"))
    text = str(caught.value)
    assert text.startswith("XBOOKER_BOT_REQUIRE_REASON: 'members list' changes nothing")
    assert "members remove" in text and "org update" in text and "approvals reject" in text


def test_the_setting_refuses_an_unknown_command_with_a_suggestion():
    with pytest.raises(RegistryError, match="'members remvoe' is not a command"):
        registry.check_reasons(("members remvoe",))


# -- through the bot ----------------------------------------------------------------------


def test_the_reason_is_on_the_card_in_the_audit_and_in_the_dm(world):
    bob = member(world)
    typed = f'members remove {bob["email"]} reason="left the company in May"'
    rid = request_id(world.handle(typed, user=OPERATOR).text)
    card = world.slack.calls_to("chat.postMessage")[-1]
    assert card["channel"] == APPROVALS
    blocks = json.loads(card["blocks"]) if isinstance(card["blocks"], str) else card["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "*Reason:* left the company in May" in sections
    assert "reason: left the company in May" in card["text"]
    requested = rows_of(world, rid)[0]
    assert requested["outcome"] == "requested"
    assert requested["detail"]["args"]["reason"] == "left the company in May"
    assert "reason=left the company in May" in audit.describe(requested["detail"])

    assert "done." in world.handle(f"approvals approve {rid}", user=ADMIN2).text
    dm = world.slack.calls_to("chat.postMessage")[-1]
    assert dm["channel"] == "D" + OPERATOR[1:]
    assert (
        f"Your request #{rid}" in dm["text"]
        and "Your reason: left the company in May" in (dm["text"])
    )
    executed = rows_of(world, rid)[-1]
    assert executed["outcome"] == "succeeded"
    assert executed["detail"]["args"]["reason"] == "left the company in May"


def test_a_hostile_reason_is_inert_everywhere(world):
    bob = member(world)
    typed = f'members role {bob["email"]} admin reason="{HOSTILE}"'
    rid = request_id(world.handle(typed, user=OPERATOR).text)
    world.handle(f"approvals reject {rid} not this week", user=ADMIN)
    posts = world.slack.calls_to("chat.postMessage")[-2:]
    updates = world.slack.calls_to("chat.update")
    for call in [*posts, *updates]:
        text = shown(call)
        assert "<!channel>" not in text and "<https://evil" not in text
        assert "*bold*" not in text and "`tick`" not in text and "_it_" not in text
    card = shown(posts[0])
    assert "&lt;!channel&gt;" in card and "&amp;" in card


def test_a_reason_from_slack_in_curly_quotes(world):
    bob = member(world)
    reply = world.ask(
        f"members remove <mailto:{bob['email']}|{bob['email']}> reason=“moved to a partner firm”",
        user=OPERATOR,
    )
    rid = request_id(reply["text"])
    assert world.approvals.load(rid).args["reason"] == "moved to a partner firm"
    assert "*What will change:*" in json.dumps(reply["blocks"])
    assert "moved to a partner firm" in json.dumps(reply["blocks"])


def test_a_line_break_in_a_reason_is_refused_and_nothing_is_requested(world):
    bob = member(world)
    before = len(world.slack.calls_to("chat.postMessage"))
    reply = world.handle(
        f'members remove {bob["email"]} reason="fine\u2028APPROVED BY CEO"', user=OPERATOR
    ).text
    assert "line break or invisible character (U+2028)" in reply
    assert len(world.slack.calls_to("chat.postMessage")) == before
    assert world.approvals.list_reply().text == "No approval requests are open."
    assert audit.rows(world.store, 1)[0]["outcome"] == "invalid"


def test_a_reason_on_a_direct_change_is_audited(world):
    reply = world.handle(
        'members add newbie@x.example name="New Bee" reason="starts on Monday"', user=OPERATOR
    ).text
    assert "newbie@x.example" in reply
    row = audit.rows(world.store, 1)[0]
    assert (row["action"], row["outcome"]) == ("members add", "succeeded")
    assert row["detail"]["args"]["reason"] == "starts on Monday"


def test_a_reason_on_an_access_change_is_audited(world):
    world.handle('access grant U0HELPER operator reason="covers the night shift"', user=ADMIN)
    world.handle('access revoke U0HELPER reason="night shift is over"', user=ADMIN)
    grant, revoke = audit.rows(world.store, 2)
    assert grant["action"] == "access grant"
    assert grant["detail"]["args"]["reason"] == "covers the night shift"
    assert revoke["action"] == "access revoke"
    assert revoke["detail"]["args"]["reason"] == "night shift is over"


def test_an_approved_grant_keeps_its_reason(world):
    rid = request_id(
        world.handle('access grant U0NEWADMIN admin reason="second on-call admin"').text
    )
    assert "done." in world.handle(f"approvals approve {rid}", user=ADMIN2).text
    grant = next(
        r
        for r in reversed(audit.rows(world.store))
        if r["action"] == "access grant" and "was" in r["detail"]
    )
    assert grant["detail"]["args"]["reason"] == "second on-call admin"


def test_a_resolution_keeps_its_reason(world):
    rid = request_id(world.handle('org update name="Resolve Ltd"', user=OPERATOR).text)
    world.sim.fail_after_apply(1, 502, endpoint="update organization")  # outcome unknown
    world.handle(f"approvals approve {rid}", user=ADMIN)
    reply = world.handle(
        f'approvals resolve {rid} failed reason="checked X Booker: never applied"', user=ADMIN2
    ).text
    assert f"Request #{rid} recorded as failed." in reply
    text = world.approvals.outcome_text(world.approvals.load(rid))
    assert text.endswith("by <@UADMIN2>: checked X Booker: never applied")
    assert rows_of(world, rid)[-1]["detail"]["reason"] == "checked X Booker: never applied"


def test_the_longest_reason_still_fits_the_card_with_its_buttons(world):
    bob = member(world)
    reason = "&" * 480  # each & becomes &amp;: five times the characters on the card
    rid = request_id(
        world.handle(f'members remove {bob["email"]} reason="{reason}"', OPERATOR).text
    )
    card = world.approvals.card(world.approvals.load(rid))
    assert any(b["type"] == "actions" for b in card.blocks)
    post = world.slack.calls_to("chat.postMessage")[-1]
    assert "approval_approve" in shown(post)  # the fake Slack accepted it whole


# -- required, end to end (the engine passes the setting to the parser) -------------------


def test_a_listed_command_without_a_reason_changes_nothing(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_REQUIRE_REASON="members remove")
    try:
        bob = member(w)
        body = w.ask(f"members remove {bob['email']}", user=OPERATOR)
        assert (
            'members remove needs a reason: add reason="…" (at least 10 characters)'
            in (body["text"])
        )
        assert w.approvals.list_reply().text == "No approval requests are open."
        deadline = time.monotonic() + 10  # the ack answered; its audit row follows
        while not audit.rows(w.store, 1) and time.monotonic() < deadline:
            time.sleep(0.01)
        row = audit.rows(w.store, 1)[0]
        assert row["outcome"] == "invalid" and "needs a reason" in row["detail"]["error"]
        ok = w.handle(f'members remove {bob["email"]} reason="left the company"', OPERATOR)
        assert "Request *#" in ok.text
    finally:
        w.close()


def test_a_setting_naming_a_lookup_stops_start_up(sim_server, fake_slack, tmp_path):
    with pytest.raises(RegistryError, match="'members list' changes nothing"):
        World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_REQUIRE_REASON="members list")
