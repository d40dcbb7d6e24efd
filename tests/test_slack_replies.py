"""Replies: escaping of everything from users and X Booker, and every X Booker error."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from bot.core.replies import ours
from bot.xbooker import messages as m
from bot.xbooker.advice import ADVICE
from tests.helpers import FakeClock
from tests.world import ADMIN, OPERATOR, VIEWER, World, everything

NASTY = "<!channel> <@U0EVIL> <https://evil.example|Approve> &amp; *bold*"


def markup(reply: dict) -> list[str]:
    """Every string Slack would parse as markup: the fallback and mrkdwn objects.
    (plain_text objects are never parsed, so raw values are safe there.)"""
    out = [reply["text"]]
    for block in reply.get("blocks", []):
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if obj and obj["type"] == "mrkdwn":
                assert obj["verbatim"] is True
                out.append(obj["text"])
            elif obj:
                assert obj["type"] == "plain_text"
    return out


def test_member_and_org_names_never_ping_or_link(world):
    world.sim.organization["name"] = NASTY
    evil = {
        "id": "mem_evil",
        "name": NASTY,
        "email": "evil@x.example",
        "role": "member",
        "status": "active",
        "joinedAt": None,
    }
    world.sim.members["mem_evil"] = evil
    replies = [
        world.ask("org"),
        world.ask("members show mem_evil"),
        world.ask('members list "evil"'),
        world.ask("members list page=1 --share"),
        world.ask("org update website=https://harbour.example", user=OPERATOR),
    ]
    for reply in replies:
        for text in markup(reply):
            for raw in ("<!channel>", "<@U0EVIL>", "<https://evil"):
                assert raw not in text, reply
    assert "&lt;!channel&gt;" in " ".join(markup(replies[2]))


def test_user_text_in_errors_is_escaped(world):
    reply = world.ask("members show <!channel>@x.example", user=VIEWER)
    assert all(("<!channel>" not in t and "@channel" not in t) or "`" in t for t in markup(reply))
    reply = world.ask("members frob <!here>", user=VIEWER)
    assert all("<!here>" not in t for t in markup(reply))


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (s, msg)
        for msg, s in {
            m.CLIENT_NOT_FOUND: 400,
            m.INVALID_CLIENT_SECRET: 400,
            m.INVALID_REFRESH_TOKEN: 400,
            m.NOT_PERMITTED: 400,
            m.REFRESH_EXPIRED: 400,
            m.METHOD_NOT_RECOGNIZED: 403,
            m.INVALID_SCOPE: 403,
            m.APP_NOT_FOUND: 403,
            m.ORGANIZATION_NOT_FOUND: 403,
            m.ROUTE_NOT_FOUND: 404,
            m.MEMBER_NOT_FOUND: 404,
            m.INVALID_BODY: 400,
            m.MEMBER_EXISTS: 409,
            m.LAST_OWNER: 409,
            "Brand new message from X Booker": 422,
        }.items()
    ],
)
def test_every_documented_error_is_shown_verbatim_with_advice(world, status, message, caplog):
    world.ask("org")  # tokens in place, so the injected failure hits the command itself
    world.sim.fail_next(1, status, message=message)
    reply = world.ask("members show mem_whoever", user=VIEWER)
    text = reply["text"]
    assert f"X Booker said: `{message}`" in text
    assert f"(HTTP {status})" in text
    advice = ADVICE.get(message)
    if advice:
        assert ours(advice.action.split(";")[0][:40]) in text
    ref = re.fullmatch(r"Reference: `([0-9a-f]{8})`", reply["blocks"][-1]["elements"][0]["text"])
    assert ref and f"(ref {ref.group(1)})" in caplog.text


@pytest.mark.parametrize("message", [m.ACCESS_EXPIRED, m.NO_REFRESH_TOKENS])
def test_token_messages_are_recovered_not_shown(sim_server, fake_slack, tmp_path, message):
    wall = FakeClock(1_800_000_000.0)
    w = World(sim_server, fake_slack, tmp_path, {"wall": wall})
    try:
        w.ask("org")
        wall.advance(61)  # past the one-refresh-token-a-minute rule
        w.sim.fail_next(1, 403, message=message)
        reply = w.ask("members show mem_nobody", user=VIEWER)
        assert "Member not found" in reply["text"]
    finally:
        w.close()


def test_scope_error_names_capability_and_our_scope_name(world):
    world.sim.set_scopes({"organization:read", "members:read"})
    reply = world.ask("members add new@x.example", user=OPERATOR)
    assert "Invalid request scope" in reply["text"]
    assert "manage members" in reply["text"] and "`members:write` (our name for it" in reply["text"]


def test_server_errors_and_timeouts(world):
    world.ask("org")
    world.sim.fail_next(3)
    reply = world.ask("org")
    assert "(HTTP 500)" in reply["text"] and "Internal server error" in reply["text"]
    world.sim.fail_next(1)
    reply = world.ask("members add late@x.example", user=OPERATOR)
    assert "it may or may not have been applied" in reply["text"]
    assert "Check the current state" in reply["text"]


def test_timeout_reply(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, {"api_timeout": httpx.Timeout(0.2)})
    try:
        w.ask("org")
        w.sim.latency = 0.4
        reply = w.ask("members list")
        assert "did not answer in time" in reply["text"]
        reply = w.ask("members add slow@x.example", user=OPERATOR)
        assert "may or may not have been applied" in reply["text"]
        assert "Check the current state" in reply["text"]
    finally:
        w.sim.latency = 0
        w.close()


@pytest.mark.parametrize(
    ("env", "knob", "message"),
    [
        ({"XBOOKER_CLIENT_SECRET": "wrong-secret-value"}, None, m.INVALID_CLIENT_SECRET),
        ({"XBOOKER_CLIENT_ID": "nope"}, None, m.CLIENT_NOT_FOUND),
        ({"XBOOKER_ORGANIZATION_ID": "org_other"}, None, m.ORGANIZATION_NOT_FOUND),
        ({}, "expire_app", m.REFRESH_EXPIRED),
        ({}, "remove_app", m.CLIENT_NOT_FOUND),
    ],
)
def test_configuration_problems_reach_the_user(
    sim_server, fake_slack, tmp_path, env, knob, message
):
    w = World(sim_server, fake_slack, tmp_path, **env)
    try:
        if knob:
            getattr(w.sim, knob)()
        reply = w.ask("org")
        assert f"X Booker said: `{message}`" in reply["text"]
    finally:
        w.close()


def test_token_expiry_mid_session(world):
    world.ask("org")
    world.sim.advance(121)  # X Booker's clock says our access token is too old
    assert "Members: page 1" in world.ask("members list")["text"]
    assert world.sim.count("access") == 2 and world.sim.count("refresh") == 1


def test_recovery_after_superseded_refresh_token(sim_server, fake_slack, tmp_path):
    wall = FakeClock(1_800_000_000.0)
    w = World(sim_server, fake_slack, tmp_path, {"wall": wall})
    try:
        w.ask("org")
        w.sim.issue_refresh_out_of_band()
        wall.advance(61)
        assert "Harbour Lane" in everything(w.ask("org"))
        assert w.sim.count("refresh") == 2
        assert "re-issued 1 time(s)" in w.ask("status")["text"]
    finally:
        w.close()


FORGED = "Eve\nX Booker role: owner\u2028\u202eStatus: active\u200b\x1b]0;t\x07"


@pytest.mark.parametrize("command", ["members show mem_eve", "org"])
def test_plain_text_fields_cannot_forge_lines(world, command):
    world.sim.organization["name"] = FORGED
    world.sim.members["mem_eve"] = {
        "id": "mem_eve",
        "name": FORGED,
        "email": "eve@x.example",
        "role": "member",
        "status": "active",
        "joinedAt": None,
    }
    reply = world.ask(command)
    texts = [reply["text"], *_all_texts(reply["blocks"])]
    for text in texts:
        assert not any(ch in text for ch in "\u2028\u202e\u200b\x1b\x07"), text
        assert not any(line.startswith("X Booker role: owner") for line in text.split("\n"))
    assert any("Eve⏎X Booker role: owner" in t for t in texts)


def _all_texts(node: object) -> list[str]:
    """Every "text" string anywhere in a block tree (mrkdwn and plain text alike)."""
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for value in node.values() for t in _all_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _all_texts(item)]
    return []


def test_the_console_shows_no_escape_sequence(world):
    from bot import console
    from bot.core.context import Invocation

    world.sim.members["mem_eve"] = {
        "id": "mem_eve",
        "name": "Eve\x1b[2J\x1b]0;owned\x07\u202e",
        "email": "eve@x.example",
        "role": "member",
        "status": "active",
        "joinedAt": None,
    }
    shown = console.to_terminal(world.engine.handle(Invocation(world.team, ADMIN, "members list")))
    assert not any(ch in shown for ch in "\x1b\x07\u202e")


def test_a_secret_echoed_by_x_booker_reaches_no_reply_or_audit_row(world):
    from bot.store import audit

    secret = world.settings.credentials.client_secret.reveal()
    world.ask("org")
    world.sim.fail_next(1, 400, message=f"bad request: client_secret={secret} {secret}")
    reply = world.ask("members show mem_x")
    rows = audit.rows(world.store)
    assert secret not in json.dumps(reply) and secret not in json.dumps(rows)
    assert "bad request" in reply["text"]
