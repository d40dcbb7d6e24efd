"""Reminders: a thread reply on the card of a request still open half-way through its
lifetime and an hour before it expires, naming who can still decide it; sent once,
whatever the number of processes or restarts."""

from __future__ import annotations

import logging

from bot.runtime import engine as build_engine
from bot.store import approvals as store
from tests.helpers import FakeClock, run_together
from tests.world import ADMIN, ADMIN2, APPROVALS, OPERATOR, World

DAY = 86400


def with_clock(world: World) -> FakeClock:
    clock = FakeClock(world.approvals.clock())
    world.approvals.clock = clock
    return clock


def request(world: World, name: str = "Reminded Ltd", user: str = OPERATOR) -> int:
    text = world.handle(f'org update name="{name}"', user=user).text
    return int(text.split("Request *#")[1].split("*")[0])


def reminders(world: World) -> list[dict]:
    return [c for c in world.slack.calls_to("chat.postMessage") if c.get("thread_ts")]


def test_half_way_then_an_hour_before_expiry_then_expiry(world):
    clock = with_clock(world)
    rid = request(world)
    card_ts = world.approvals.load(rid).message_ts
    clock.advance(DAY / 2 - 60)
    world.approvals.sweep()
    assert reminders(world) == []

    clock.advance(120)
    world.approvals.sweep()
    world.approvals.sweep()
    [half] = reminders(world)
    assert (half["channel"], half["thread_ts"]) == (APPROVALS, card_ts)
    assert "half its time has passed" in half["text"]
    assert f"<@{ADMIN}>" in half["text"] and f"<@{ADMIN2}>" in half["text"]
    assert f"<@{OPERATOR}>" not in half["text"]  # the requester cannot decide it
    assert "reply_broadcast" not in half and "link_names" not in half

    clock.advance(DAY / 2 - 3600)  # an hour and a minute before expiry
    world.approvals.sweep()
    assert len(reminders(world)) == 2 and "less than an hour" in reminders(world)[-1]["text"]
    world.approvals.sweep()
    assert len(reminders(world)) == 2

    clock.advance(3600)
    assert world.approvals.sweep() == 1
    assert world.approvals.load(rid).status == "expired"
    dm = world.slack.calls_to("chat.postMessage")[-1]
    assert dm["channel"] == "D" + OPERATOR[1:]
    assert f"Your request #{rid}" in dm["text"] and "Expired" in dm["text"]
    assert len(reminders(world)) == 2


def test_only_admins_who_can_still_decide_are_named(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVALS_NEEDED="2")
    try:
        clock = with_clock(w)
        allow = w.engine.svc.allowlist
        allow.grant("UADMIN3", "admin", "setup")
        allow.grant("UADMIN4", "admin", "setup")
        rid = request(w)
        assert "needs 1 more" in w.handle(f"approvals approve {rid}", user=ADMIN).text
        allow.grant("UADMIN4", "viewer", ADMIN)  # revoked: no longer an admin
        clock.advance(DAY / 2)
        w.approvals.sweep()
        [half] = reminders(w)
        named = {
            u for u in (ADMIN, ADMIN2, "UADMIN3", "UADMIN4", OPERATOR) if f"<@{u}>" in half["text"]
        }
        assert named == {ADMIN2, "UADMIN3"}
    finally:
        w.close()


def test_a_short_lifetime_gets_the_half_way_reminder_only(sim_server, fake_slack, tmp_path):
    for ttl in (3600, 7200):
        folder = tmp_path / str(ttl)
        folder.mkdir()
        w = World(sim_server, fake_slack, folder, XBOOKER_BOT_APPROVAL_TTL=str(ttl))
        try:
            fake_slack.calls.clear()
            clock = with_clock(w)
            request(w)
            for _ in range(ttl // 60 - 1):
                clock.advance(60)
                w.approvals.sweep()
            texts = [c["text"] for c in reminders(w)]
            assert len(texts) == 1 and "half its time has passed" in texts[0], (ttl, texts)
        finally:
            w.close()


def test_a_request_found_late_gets_one_reminder(world):
    """The bot was down at the half-way point: only the last-hour reminder is sent."""
    clock = with_clock(world)
    request(world)
    clock.advance(DAY - 1800)
    world.approvals.sweep()
    clock.advance(60)
    world.approvals.sweep()
    [only] = reminders(world)
    assert "less than an hour" in only["text"]


def test_reminders_can_be_turned_off(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVAL_REMINDERS="off")
    try:
        clock = with_clock(w)
        request(w)
        for step in (DAY / 2, DAY / 2 - 1800):
            clock.advance(step)
            w.approvals.sweep()
        assert reminders(w) == []
    finally:
        w.close()


def test_decided_and_cancelled_requests_get_no_reminder(world):
    clock = with_clock(world)
    done = request(world, "Done Ltd")
    cancelled = request(world, "Cancelled Ltd")
    world.handle(f"approvals approve {done}", user=ADMIN)
    world.handle(f"approvals cancel {cancelled}", user=OPERATOR)
    clock.advance(DAY - 60)
    world.approvals.sweep()
    assert reminders(world) == []


def test_a_request_without_a_card_gets_no_reminder(world):
    clock = with_clock(world)
    world.slack.refuse_in[APPROVALS] = "not_in_channel"
    rid = request(world)
    assert world.approvals.load(rid).message_ts is None
    del world.slack.refuse_in[APPROVALS]
    clock.advance(DAY / 2)
    world.approvals.sweep()
    assert reminders(world) == []


def test_two_processes_send_each_reminder_once(world):
    clock = with_clock(world)
    other = build_engine(
        world.settings, world.store, world.team, world.client, world.approvals.notifier
    )
    other.approvals.clock = clock
    rids = [request(world, f"Twice {i} Ltd", user=(OPERATOR, ADMIN)[i % 2]) for i in range(6)]
    clock.advance(DAY / 2)
    run_together([world.approvals.sweep, other.approvals.sweep] * 3)
    assert (
        sorted(int(r["text"].split("request #")[1].split(" ")[0]) for r in reminders(world)) == rids
    )
    clock.advance(DAY / 2 - 1800)
    run_together([world.approvals.sweep, other.approvals.sweep] * 3)
    assert len(reminders(world)) == 12


def test_a_restart_does_not_repeat_a_reminder(world):
    clock = with_clock(world)
    request(world)
    clock.advance(DAY / 2)
    world.approvals.sweep()
    restarted = build_engine(
        world.settings, world.store, world.team, world.client, world.approvals.notifier
    ).approvals
    restarted.clock = clock
    restarted.sweep()
    assert len(reminders(world)) == 1


def test_a_reminder_slack_refuses_is_logged_and_not_retried(world, caplog):
    clock = with_clock(world)
    rid = request(world)
    world.slack.refuse_in[APPROVALS] = "not_in_channel"
    clock.advance(DAY / 2)
    with caplog.at_level(logging.WARNING):
        world.approvals.sweep()
    assert f"the half reminder of request #{rid} was not posted" in caplog.text
    assert "not_in_channel" in caplog.text
    assert world.approvals.load(rid).status == "pending"
    del world.slack.refuse_in[APPROVALS]
    attempts = len(reminders(world))
    world.approvals.sweep()
    assert len(reminders(world)) == attempts  # the refused one is not sent again


def test_requests_made_under_a_longer_lifetime_are_still_reminded(sim_server, fake_slack, tmp_path):
    """The window the sweeper reads covers the longest lifetime of an open request, not
    only the one configured now."""
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVAL_TTL=str(10 * DAY))
    try:
        clock = with_clock(w)
        rid = request(w)
    finally:
        w.close()
    short = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVAL_TTL="3600")
    try:
        short.approvals.clock = clock
        clock.advance(5 * DAY)
        short.approvals.sweep()
        [half] = reminders(short)
        assert f"request #{rid}" in half["text"]
    finally:
        short.close()


def test_the_reminder_queries_read_a_range_of_the_expiry_index(world):
    """With thousands of open requests, a sweep reads only those expiring soon."""
    db = world.store.db().conn
    for sql, params in (
        (store._REMINDERS.format("reminded_half_at IS NULL"), (1, 2, "T")),
        (store._REMINDERS.format("reminded_hour_at IS NULL"), (1, 2, "T")),
    ):
        plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "USING INDEX approvals_status (status=? AND expires_at>? AND expires_at<?)" in plan
