"""Team approvals: the two-person rule, exactly-once execution, expiry, restarts."""

from __future__ import annotations

import json

import pytest

from bot.core.approvals import Approvals
from bot.runtime import engine as build_engine
from bot.store import audit
from tests.helpers import FakeClock, run_together
from tests.world import ADMIN, ADMIN2, APPROVALS, OPERATOR, VIEWER, World, click


def member(world, index: int = 20) -> dict:
    return sorted(
        (m for m in world.sim.members.values() if m["role"] == "member"), key=lambda m: m["id"]
    )[index]


def shown(call: dict) -> str:
    """Everything a chat.postMessage / chat.update call shows, as readable text."""
    blocks = call.get("blocks", "[]")
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return call.get("text", "") + json.dumps(blocks, ensure_ascii=False)


def request_id(reply_text: str) -> int:
    return int(reply_text.split("Request *#")[1].split("*")[0])


def test_risky_command_becomes_a_posted_request(world):
    bob = member(world)
    reply = world.ask(f"members role {bob['email']} admin", user=OPERATOR)
    rid = request_id(reply["text"])
    assert f"<#{APPROVALS}>" in reply["text"] and world.sim.count("change member role") == 0
    post = world.slack.calls_to("chat.postMessage")[-1]
    assert post["channel"] == APPROVALS
    text = shown(post)
    assert f"`{bob['email']}`: X Booker role `member` → `admin`" in text
    assert "GRANTS X BOOKER ROLE ADMIN" in text
    assert "approval_approve" in text and "approval_reject" in text and "<@UOPER1>" in text
    assert world.approvals.load(rid).status == "pending"
    assert world.approvals.load(rid).targets["member_id"] == bob["id"]


def test_privilege_raises_always_need_approval(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_REQUIRE_APPROVAL="none")
    try:
        added = w.handle("members add boss@x.example admin", user=OPERATOR).text
        assert "Request *#" in added and w.sim.count("add member") == 0
        granted = w.handle("access grant U0NEWADMIN admin", user=ADMIN).text
        assert "Request *#" in granted
        assert w.engine.svc.allowlist.role_of("U0NEWADMIN") is None
        plain = w.handle("members add plain@x.example", user=OPERATOR).text
        assert "Added plain@x.example" in plain
        assert "now has bot role operator" in w.handle("access grant U0OPS operator").text
    finally:
        w.close()


def test_self_approval_is_refused(world):
    bob = member(world)
    rid = request_id(world.handle(f"members remove {bob['id']}", user=ADMIN).text)
    reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "two-person rule" in reply
    response, path = click(world, rid, ADMIN)
    assert response.status == 200
    assert "two-person rule" in world.wait_response(path)["text"]
    assert world.approvals.load(rid).status == "pending"
    assert world.sim.count("remove member") == 0


def test_approval_by_another_admin_executes_and_reports(world):
    bob = member(world)
    rid = request_id(world.ask(f"members role {bob['email']} admin", user=OPERATOR)["text"])
    response, path = click(world, rid, ADMIN2)
    assert response.status == 200 and response.body == ""
    answer = world.wait_response(path)
    assert f"Request #{rid}: :white_check_mark: Approved by <@UADMIN2>; done." in answer["text"]
    assert world.sim.members[bob["id"]]["role"] == "admin"
    update = world.slack.calls_to("chat.update")[-1]
    assert "approval_approve" not in shown(update) and "Approved by" in shown(update)
    assert world.slack.calls_to("conversations.open")[-1]["users"] == OPERATOR
    assert "Your request #" in world.slack.calls_to("chat.postMessage")[-1]["text"]
    actions = [
        (r["action"], r["outcome"])
        for r in audit.rows(world.store)
        if r["detail"].get("request") == rid
    ]
    assert actions == [
        ("members role", "requested"),
        ("approvals approve", "recorded"),
        ("members role", "sending"),
        ("members role", "succeeded"),
    ]


def test_twenty_concurrent_clicks_from_two_admins_execute_once(world):
    bob = member(world)
    rid = request_id(world.handle(f"members role {bob['id']} admin", user=OPERATOR).text)
    clicks = run_together(
        [lambda user=ADMIN if i % 2 else ADMIN2: click(world, rid, user) for i in range(20)]
    )
    assert all(response.status == 200 for response, _ in clicks), clicks
    paths = [path for _, path in clicks]
    answers = [world.wait_response(p)["text"] for p in paths]
    assert world.sim.count("change member role") == 1
    assert world.approvals.load(rid).status == "succeeded"
    assert sum("done." in a and a.startswith(f"Request #{rid}:") for a in answers) == 1
    assert all(
        "cannot be decided" in a or "done." in a or "already approved" in a for a in answers
    ), answers
    sending = [
        r
        for r in audit.rows(world.store)
        if r["outcome"] == "sending" and r["detail"].get("request") == rid
    ]
    assert len(sending) == 1


def test_reject_then_approve_does_nothing(world):
    rid = request_id(world.handle('org update name="New Name"', user=OPERATOR).text)
    assert "rejected" in world.handle(f"approvals reject {rid} not today", user=ADMIN).text
    late = world.handle(f"approvals approve {rid}", user=ADMIN2).text
    assert "cannot be decided" in late and "Rejected by <@UADMIN1>: not today" in late
    assert world.sim.count("update organization") == 0
    assert world.approvals.load(rid).status == "rejected"
    dm = world.slack.calls_to("chat.postMessage")[-1]["text"]
    assert "Rejected by <@UADMIN1>" in dm


def test_expiry(world):
    clock = FakeClock(world.approvals.clock())
    world.approvals.clock = clock
    rid = request_id(world.handle("org update phone=+4420700000", user=OPERATOR).text)
    clock.advance(world.settings.approval_ttl + 1)
    assert world.approvals.sweep() == 1
    reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "Expired without enough approvals" in reply
    assert world.approvals.load(rid).status == "expired"
    assert "Expired" in shown(world.slack.calls_to("chat.update")[-1])
    assert world.sim.count("update organization") == 0


def test_cancel_only_by_requester(world):
    rid = request_id(world.handle("org update phone=+4420700000", user=OPERATOR).text)
    assert "Only <@UOPER1>" in world.handle(f"approvals cancel {rid}", user=ADMIN).text
    assert "cancelled" in world.handle(f"approvals cancel {rid} typo", user=OPERATOR).text
    assert "cannot be decided" in world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert world.approvals.load(rid).status == "cancelled"


def test_quorum_of_two_needs_distinct_admins(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVALS_NEEDED="2")
    try:
        w.engine.svc.allowlist.grant("UADMIN3", "admin", "setup")
        rid = request_id(w.handle('org update name="Quorum Ltd"', user=OPERATOR).text)
        assert "needs 1 more" in w.handle(f"approvals approve {rid}", user=ADMIN).text
        assert "already approved" in w.handle(f"approvals approve {rid}", user=ADMIN).text
        assert w.sim.count("update organization") == 0
        assert "done." in w.handle(f"approvals approve {rid}", user="UADMIN3").text
        assert w.sim.organization["name"] == "Quorum Ltd"
    finally:
        w.close()


def test_changed_since_requested_writes_nothing(world):
    bob = member(world)
    rid = request_id(world.handle(f"members role {bob['email']} admin", user=OPERATOR).text)
    world.sim.members[bob["id"]]["role"] = "owner"  # someone changed it in X Booker meanwhile
    reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "changed since requested" in reply and "Nothing was written" in reply
    assert world.sim.count("change member role") == 0
    assert world.approvals.load(rid).status == "failed"


def test_x_booker_error_during_execution_is_reported(world):
    rid = request_id(world.handle('org update name="Err Ltd"', user=OPERATOR).text)
    world.sim.set_scopes({"organization:read", "members:read"})
    reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "failed (HTTP 403)" in reply and "Invalid request scope" in reply
    assert world.approvals.load(rid).status == "failed"


def test_approver_role_checked_at_click_time(world):
    rid = request_id(world.handle('org update name="Later Ltd"', user=OPERATOR).text)
    world.engine.svc.allowlist.grant(ADMIN2, "viewer", ADMIN)
    _, path = click(world, rid, ADMIN2)
    assert "needs bot role *admin*" in world.wait_response(path)["text"]
    _, path = click(world, rid, VIEWER)
    assert "needs bot role *admin*" in world.wait_response(path)["text"]
    assert world.approvals.load(rid).status == "pending"


def test_requester_who_lost_the_role_cancels_the_request(world):
    rid = request_id(world.handle('org update name="Gone Ltd"', user=OPERATOR).text)
    world.engine.svc.allowlist.grant(OPERATOR, "viewer", ADMIN)
    reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "no longer has bot role operator" in reply
    assert world.approvals.load(rid).status == "cancelled"
    assert world.sim.count("update organization") == 0


def test_restart_with_pending_request_then_approval(world):
    rid = request_id(world.handle('org update name="Restart Ltd"', user=OPERATOR).text)
    # A new process: new engine, new approvals service, same database.
    engine = build_engine(world.settings, world.store, world.team, world.client)
    assert isinstance(engine.approvals, Approvals)
    assert engine.approvals.holder != world.approvals.holder
    reply = engine.approvals.decide(_inv(world, ADMIN2), rid, "approve")
    assert "done." in reply.text and world.sim.organization["name"] == "Restart Ltd"


def _inv(world, user):
    from bot.core.context import Invocation

    return Invocation(world.team, user, "approvals", source="console")


def test_listing_and_typed_commands_need_roles(world):
    rid = request_id(world.handle('org update name="List Ltd"', user=OPERATOR).text)
    listing = world.handle("approvals", user=OPERATOR).text
    assert f"*#{rid}*" in listing and "pending (0 of 1 approvals)" in listing
    assert "needs bot role *operator*" in world.handle("approvals", user=VIEWER).text
    assert "needs bot role *admin*" in world.handle(f"approvals approve {rid}", OPERATOR).text
    assert "There is no request #999" in world.handle("approvals approve 999").text


def test_status_warns_when_quorum_cannot_be_met(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVALS_NEEDED="2")
    try:
        text = w.handle("status").text
        assert "approvals need 2 admin(s) other than the requester, but only 2" in text
    finally:
        w.close()


def test_missing_approvals_channel_stops_start_up(sim_server, fake_slack, tmp_path):
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="XBOOKER_BOT_APPROVALS_CHANNEL"):
        World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVALS_CHANNEL="")


def test_approved_privilege_raises_execute(world):
    rid = request_id(
        world.handle('members add boss@x.example admin name="Bo Ss"', user=OPERATOR).text
    )
    assert "done." in world.handle(f"approvals approve {rid}", user=ADMIN).text
    added = next(m for m in world.sim.members.values() if m["email"] == "boss@x.example")
    assert (added["role"], added["name"]) == ("admin", "Bo Ss")
    rid = request_id(world.handle("access grant U0NEWADMIN admin", user=ADMIN).text)
    assert world.engine.svc.allowlist.role_of("U0NEWADMIN") is None
    assert "done." in world.handle(f"approvals approve {rid}", user=ADMIN2).text
    assert world.engine.svc.allowlist.role_of("U0NEWADMIN") == "admin"
    grant = [
        r for r in audit.rows(world.store) if r["action"] == "access grant" and "was" in r["detail"]
    ][-1]
    assert (grant["source"], grant["actor"], grant["detail"]["args"]["role"]) == (
        "approval",
        ADMIN,
        "admin",
    )


def test_add_request_fails_if_the_member_appeared_meanwhile(world):
    rid = request_id(world.handle("members add late@x.example owner", user=OPERATOR).text)
    world.handle("members add late@x.example", user=OPERATOR)  # added directly, as member
    reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "changed since requested" in reply
    late = next(m for m in world.sim.members.values() if m["email"] == "late@x.example")
    assert late["role"] == "member"
