"""Signed slash commands through the Bolt app, with the simulator and a fake Slack."""

from __future__ import annotations

import json
import time

import pytest

from tests.slack_requests import command_body, sign
from tests.world import ADMIN, NOBODY, OPERATOR, SIGNING_SECRET, VIEWER, everything


def test_org_lookup_answers_through_response_url(world):
    response, path = world.command("org")
    assert response.status == 200 and response.body == ""
    reply = world.wait_response(path)
    assert reply["response_type"] == "ephemeral"
    assert "Harbour Lane Studios" in everything(reply)
    assert reply["unfurl_links"] is False and "link_names" not in reply and "parse" not in reply


def test_share_posts_in_channel_saying_who_shared(world):
    reply = world.ask("members list role=owner --share", user=VIEWER)
    assert reply["response_type"] == "in_channel"
    assert reply["text"].startswith(f"Shared by <@{VIEWER}>")
    assert reply["blocks"][0] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"Shared by <@{VIEWER}>", "verbatim": True}],
    }
    assert "Members: page 1 of 1" in reply["text"]


@pytest.mark.parametrize("text", ["access list", "audit 50", "approvals", "status", "help"])
def test_share_is_refused_for_what_is_not_for_the_channel(world, text):
    response, _ = world.command(f"{text} --share")
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral" and "this answer stays private" in body["text"]
    assert "<@" not in body["text"]


def test_help_and_usage_come_in_the_ack(world):
    response, _ = world.command("help", user=VIEWER)
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral"
    assert "members list" in body["text"] and "members add" not in body["text"]
    assert "access grant" not in body["text"]
    response, _ = world.command("members ad bob@x.example", user=OPERATOR)
    body = json.loads(response.body)
    assert "Did you mean `members add`?" in body["text"]
    assert world.sim.count("add member") == 0


def test_default_deny_names_role_and_who_can_grant(world):
    reply = world.ask("org", user=NOBODY)
    assert "needs bot role *viewer*" in reply["text"] and "<@UADMIN1>" in reply["text"]
    assert sum(world.sim.counters.values()) == 0


def test_role_boundaries(world):
    viewer = world.ask("members add new@x.example", user=VIEWER)
    assert "needs bot role *operator*; you have bot role *viewer*" in viewer["text"]
    operator = world.ask("access list", user=OPERATOR)
    assert "needs bot role *admin*" in operator["text"]
    assert world.sim.count("add member") == 0
    added = world.ask("members add new@x.example", user=OPERATOR)
    assert "Added new@x.example as member" in added["text"]
    assert "<@UOPER1>: operator" in world.ask("access list", user=ADMIN)["text"]


def test_other_workspace_is_refused(world):
    reply = world.ask("org", team="T0OTHER")
    assert "serves another Slack workspace" in reply["text"]
    assert sum(world.sim.counters.values()) == 0


def test_forged_stale_and_unsigned_requests_get_401(world, caplog):
    body = command_body("org", ADMIN, "T0TEAM", "C1", world.slack.response_url("x"))
    forged = sign("not-the-secret", body)
    stale = sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 6 * 60)
    unsigned = {"content-type": "application/x-www-form-urlencoded"}
    tampered = sign(SIGNING_SECRET, body)
    for headers, sent in (
        (forged, body),
        (stale, body),
        (unsigned, body),
        (tampered, body.replace("org", "members")),
    ):
        assert world.dispatch(sent, headers).status == 401
    time.sleep(0.2)
    assert sum(world.sim.counters.values()) == 0 and world.slack.responses == []
    assert "Invalid request signature" not in caplog.text  # it would print the body
    assert "response_url" not in caplog.text


def test_slack_encoding_is_decoded(world):
    reply = world.ask(
        "members add <mailto:ada@x.example|ada@x.example> member name=“Ada &amp; Co”", user=OPERATOR
    )
    assert "Added ada@x.example" in reply["text"]
    member = next(m for m in world.sim.members.values() if m["email"] == "ada@x.example")
    assert member["name"] == "Ada & Co"
    granted = world.ask("access grant <@UNEWBIE|newbie> viewer")
    assert "<@UNEWBIE> now has bot role viewer" in granted["text"]
    assert world.engine.svc.allowlist.role_of("UNEWBIE") == "viewer"


def test_a_broken_store_still_gets_an_answer(world):
    import sqlite3

    raw = sqlite3.connect(world.settings.db_path)
    raw.execute("ALTER TABLE audit RENAME TO audit_gone")  # the store breaks under the bot
    raw.commit()
    reply = world.ask("org")  # a lookup: the answer, and that it is not in the audit log
    assert "Harbour Lane Studios" in json.dumps(reply) and "not in the audit log" in reply["text"]
    reply = world.ask("members add broken@x.example", user=OPERATOR)
    assert "nothing was changed" in reply["text"]
    assert not any(m["email"] == "broken@x.example" for m in world.sim.members.values())
    raw.execute("ALTER TABLE audit_gone RENAME TO audit")
    raw.commit()
    assert "Harbour Lane Studios" in json.dumps(world.ask("org"))


@pytest.mark.parametrize("text", ["org", "help", "frobnicate"])
def test_a_command_is_parsed_and_authorized_once(world, monkeypatch, text):
    """The ack's plan is the one executed: the work does not plan it again, whether the
    ack answered (help, a usage lesson) or the work answers through response_url."""
    planned: list[str] = []
    plan = world.engine.plan

    def counted(inv):
        planned.append(inv.text)
        return plan(inv)

    monkeypatch.setattr(world.engine, "plan", counted)
    response, path = world.command(text)
    if not response.body:
        world.wait_response(path)
    world.executor.drain(5)
    assert planned == [text]


def test_a_command_during_shutdown_is_told_to_try_again(world):
    """Once the executor has stopped taking work (shutdown drains it), a command is
    answered in its ack, not with an error and not with silence."""
    world.executor.drain(5)
    response, _ = world.command("org")
    assert response.status == 200
    body = json.loads(response.body)
    assert "restarting and did not run this" in body["text"]
