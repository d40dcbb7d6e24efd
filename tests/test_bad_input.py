"""Bad input gets a specific answer and nothing reaches X Booker or changes state."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.parser import ParseError, parse
from bot.slack.decode import decode
from tests.world import ADMIN, OPERATOR

CASES = [
    ("", "no command given"),
    ("   ", "no command given"),
    ("frobnicate", "Try `/xbooker help`"),
    ("members ad bob@x.example", "Did you mean `members add`?"),
    ("member list", "Did you mean `members list`?"),
    ("members", "Did you mean `members"),
    ("members add", "missing &lt;email&gt;"),
    ("members add not-an-email", "'not-an-email' is not an email address"),
    ("members add <mailto:x|x>", "'x' is not an email address"),
    ("members add a@b.example boss", "'boss' is not an X Booker role"),
    ("members add a@b.example member extra", "unexpected 'extra'"),
    ("members add a@b.example --share", "--share is only for org show, members list, members show"),
    ("access list --share", "this answer stays private"),
    ("audit 50 --share", "this answer stays private"),
    ("status --share", "this answer stays private"),
    ("help --share", "this answer stays private"),
    ("members list page=abc", "page must be a whole number from 1 to 10000"),
    ("members list page=0", "page must be a whole number"),
    ("members list colour=red", "unknown option 'colour='"),
    ("members list role=admin role=owner", "role= is given twice"),
    ("members role bob@x.example", "missing &lt;role&gt;"),
    ("members show ../../auth/v1", "is neither an email nor a member id"),
    ("members show mem_1?x=1", "is neither an email nor a member id"),
    ("members show mem%2F..", "is neither an email nor a member id"),
    ("members show " + "a" * 5000, "characters long"),
    ("members show a\x07b", "control character U+0007"),
    ("members show ab\u202ecd", "invisible formatting character U+202E"),
    ("org update", "give at least one &lt;field&gt;=&lt;value&gt;"),
    ("org update color=red", "unknown field 'color'"),
    ("org update timezone=Mars/Base", "not an IANA time zone"),
    ("org update email=nope", "'nope' is not an email address"),
    ("org update website=javascript:alert(1)", "not a web address"),
    ('org update name="unbalanced', "unbalanced quote"),
    ("org update name=", "name cannot be empty"),
    ("access grant bob admin", "'bob' is not a Slack user"),
    ("access grant <@U0NEW|new> superuser", "'superuser' is not a bot role"),
    ("access revoke", "missing &lt;@user&gt;"),
    ("audit many", "the number of rows must be a whole number"),
    ("approvals approve x", "a request id must be a whole number"),
    ("approvals approve ¹", "a request id must be a whole number"),
    ("audit ²", "the number of rows must be a whole number"),
    ("members list page=³", "page must be a whole number"),
    ('members add a@b.example name="Eve\u2028Owner"', "line break or invisible character (U+2028)"),
    ("help nonexistent", "No command `nonexistent`"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_bad_input_gets_a_specific_answer(world, text, expected):
    before_grants = world.engine.svc.allowlist.grants()
    reply = world.handle(decode(text), user=ADMIN)
    assert expected in reply.text, reply.text
    assert sum(world.sim.counters.values()) == 0
    assert world.engine.svc.allowlist.grants() == before_grants


def test_bad_input_over_slack_is_answered_in_the_ack(world):
    response, _ = world.command("members add a@b.example boss", user=OPERATOR)
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral" and "not an X Booker role" in body["text"]
    assert "Usage: `/xbooker members add &lt;email&gt; [&lt;role&gt;]" in body["text"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_decoder_and_parser_never_raise_unexpectedly(text):
    with contextlib.suppress(ParseError):
        parse(decode(text))


WORDS = st.sampled_from(
    [
        "members",
        "add",
        "list",
        "show",
        "role",
        "remove",
        "org",
        "update",
        "access",
        "grant",
        "help",
        "status",
        "--share",
        "page=2",
        "role=admin",
        'name="x y"',
        "<@U1AB|x>",
        "<!channel>",
        "a@b.example",
        "“",
        "²",
        "page=¹",
        "=",
        "\\",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=8))
def test_command_shaped_input_never_raises(words):
    with contextlib.suppress(ParseError):
        parse(decode(" ".join(words)))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_planning_any_text_never_raises_or_calls_x_booker(world, text):
    from bot.core.context import Invocation

    plan = world.engine.plan(Invocation(world.team, ADMIN, decode(text)))
    assert plan.reply is not None or plan.parsed is not None
    assert sum(world.sim.counters.values()) == 0


@pytest.mark.parametrize("text", ["audit ²", "approvals approve ¹", "members list page=³"])
@pytest.mark.parametrize("user", [ADMIN, "UNOBODY"])
def test_other_digits_are_answered_and_audited_over_slack(world, text, user):
    from bot.store import audit

    response, _ = world.command(text, user=user)
    assert response.status == 200 and json.loads(response.body)["text"]
    world.executor.drain(5)
    row = audit.rows(world.store, 1)[0]
    assert row["actor"] == user and row["outcome"] in ("invalid", "refused")
