"""Per-user rate limits: exact across threads, kept across a restart and by a second
process on the same file, refusals that say when to retry and are audited, and only
commands that reach X Booker (or open a request) counted."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time

import pytest

from bot.core.context import Invocation
from bot.core.ratelimit import SWEEP_EVERY
from bot.store import audit, rates
from tests.helpers import FakeClock, run_threads
from tests.world import ADMIN, ADMIN2, OPERATOR, TEAM, VIEWER, World

ORG = "Harbour Lane Studios"


def retry_after(text: str) -> int:
    found = re.search(r"Try again in (\d+) (s|min)\.", text)
    assert found, text
    return int(found.group(1)) * (60 if found.group(2) == "min" else 1)


def refusals(world: World) -> list[dict]:
    return [
        row
        for row in audit.rows(world.store)
        if row["outcome"] == "refused" and "rate limit" in row["detail"].get("reason", "")
    ]


def fail_commits_with_rate_rows(world: World) -> sqlite3.Connection:
    """Make SQLite refuse the COMMIT of every transaction that writes a rate-limit row (a
    deferred foreign key, violated by a trigger on the row); drop trigger ``t_fail`` on
    the returned connection to end it."""
    raw = sqlite3.connect(world.store.path)
    raw.executescript(
        "CREATE TABLE t_parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE t_child (p INTEGER REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER t_fail AFTER INSERT ON rate_events "
        "BEGIN INSERT INTO t_child VALUES (1); END;"
    )
    return raw


@pytest.fixture
def make_world(sim_server, fake_slack, tmp_path):
    made: list[World] = []

    def make(**env: str) -> World:
        world = World(sim_server, fake_slack, tmp_path, **env)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


def test_threads_together_get_exactly_the_limit(make_world, sim):
    world = make_world(XBOOKER_BOT_USER_RATE="5")
    sim.reset_counters()
    paths = [path for _, path in run_threads(12, lambda: world.command("org", user=VIEWER))]
    texts = [world.wait_response(path)["text"] for path in paths]
    answered = [t for t in texts if ORG in t]
    refused = [t for t in texts if "Try again in" in t]
    assert len(answered) == 5 and len(refused) == 7
    assert sim.count("show organization") == 5
    for text in refused:
        assert text.startswith(":hourglass: You have run 5 commands that reach X Booker")
        assert "(the limit is 5)" in text
        assert 1 <= retry_after(text) <= 60
    rows = refusals(world)
    assert len(rows) == 7
    assert {r["actor"] for r in rows} == {VIEWER} and {r["action"] for r in rows} == {"org show"}
    for row in rows:
        assert row["detail"]["reason"] == "rate limit: XBOOKER_BOT_USER_RATE=5"
        assert 1 <= row["detail"]["retry_after"] <= 60
    assert ORG in world.ask("org", user=ADMIN2)["text"]  # the limit is per user


def test_many_threads_through_the_core_never_overshoot(make_world, sim):
    """Commands finish (and commit their events) while others are being checked: each
    event is counted once, whether it is still a reservation or already a row."""
    world = make_world(XBOOKER_BOT_USER_RATE="10")
    sim.latency = 0.01  # so that early commands commit while later ones are checked
    replies = run_threads(40, lambda: world.handle("org", user=VIEWER).text)
    assert sum(ORG in text for text in replies) == 10
    assert sum("Try again in" in text for text in replies) == 30
    assert len(refusals(world)) == 30


def test_the_limit_survives_a_restart_and_holds_for_a_second_process(make_world):
    first = make_world(XBOOKER_BOT_USER_RATE="3")
    for _ in range(2):
        assert ORG in first.handle("org", user=VIEWER).text
    # A second process on the same file counts the first one's events.
    second = make_world(XBOOKER_BOT_USER_RATE="3")
    assert ORG in second.handle("org", user=VIEWER).text
    assert "Try again in" in first.handle("org", user=VIEWER).text
    first.close()
    second.close()
    restarted = make_world(XBOOKER_BOT_USER_RATE="3")
    text = restarted.handle("org", user=VIEWER).text
    assert text.startswith(":hourglass: You have run 3 commands that reach X Booker")
    assert 1 <= retry_after(text) <= 60


def test_retry_time_is_when_the_oldest_event_leaves_the_window(make_world):
    world = make_world(XBOOKER_BOT_USER_RATE="2")
    clock = FakeClock(time.time())
    world.engine.svc.clock = clock
    world.handle("org", user=VIEWER)
    clock.advance(20)
    world.handle("members list", user=VIEWER)
    clock.advance(15)
    assert retry_after(world.handle("org", user=VIEWER).text) == 25  # 60 - 35
    clock.advance(25)
    assert ORG in world.handle("org", user=VIEWER).text  # the first has left the window
    assert retry_after(world.handle("org", user=VIEWER).text) == 20


def test_only_commands_that_reach_x_booker_count(make_world):
    world = make_world(XBOOKER_BOT_USER_RATE="1")
    for text in ("help", "help org", "approvals", "access list", "audit", "frobnicate"):
        world.handle(text, user=ADMIN)
    world.handle("members add not-an-email", user=ADMIN)  # a usage error
    assert ORG in world.handle("org", user=ADMIN).text
    assert "Try again in" in world.handle("members list", user=ADMIN).text
    assert "Try again in" in world.handle("members remove mem_x", user=ADMIN).text
    assert world.handle("approvals", user=ADMIN).text  # still answered


def test_approval_requests_have_their_own_hourly_limit(make_world, sim):
    world = make_world(XBOOKER_BOT_REQUEST_RATE="2")
    ids = sorted(m["id"] for m in sim.members.values() if m["role"] == "member")
    for member_id in ids[:2]:
        assert "Request *#" in world.handle(f"members remove {member_id}", user=ADMIN).text
    text = world.handle(f"members remove {ids[2]}", user=ADMIN).text
    assert text.startswith(":hourglass: You have opened 2 approval requests in the last hour")
    assert "(the limit is 2)" in text and retry_after(text) == 3600
    assert "Try again in 60 min." in text
    (row,) = refusals(world)
    assert row["action"] == "members remove"
    assert row["detail"]["reason"] == "rate limit: XBOOKER_BOT_REQUEST_RATE=2"
    assert world.store.query_one("SELECT COUNT(*) AS n FROM approvals")["n"] == 2  # no third
    assert ORG in world.handle("org", user=ADMIN).text  # reads are not requests


def test_zero_means_no_limit(make_world, sim):
    world = make_world(XBOOKER_BOT_USER_RATE="0", XBOOKER_BOT_REQUEST_RATE="0")
    for _ in range(40):
        assert ORG in world.handle("org", user=VIEWER).text
    count = world.store.query_one("SELECT COUNT(*) AS n FROM rate_events")["n"]
    assert count == 0  # nothing recorded when nothing is limited


def test_old_events_are_dropped_as_new_ones_are_recorded(make_world):
    world = make_world(XBOOKER_BOT_USER_RATE="30")
    clock = FakeClock(time.time())
    world.engine.svc.clock = clock
    for _ in range(30):
        world.handle("org", user=VIEWER)
        clock.advance(30)
    rows = world.store.db().conn.execute("SELECT at FROM rate_events").fetchall()
    assert len(rows) <= rates.STALE + 2  # a minute's worth and a few stale, not thirty
    assert json.dumps(refusals(world)) == "[]"


def test_requests_refused_after_reading_x_booker_count_against_the_limit(make_world, sim):
    """A request for a member who does not exist is refused, but only after X Booker
    was asked: repeating it must not be a way to call X Booker past the limit."""
    world = make_world(XBOOKER_BOT_USER_RATE="2")
    sim.reset_counters()
    for _ in range(2):
        answer = world.handle("members remove nobody@x.example", user=OPERATOR).text
        assert "Try again" not in answer
    over = world.handle("members remove nobody@x.example", user=OPERATOR).text
    assert "Try again in" in over
    assert sim.count("show member") + sim.count("list members") == 2


def test_a_plan_over_the_limit_is_counted_again_when_it_runs(make_world):
    """The plan counts another process's events; if one of them has left the window by
    the time the command runs, the command fits and runs."""
    clock = FakeClock(time.time())
    first = make_world(XBOOKER_BOT_USER_RATE="1")
    second = make_world(XBOOKER_BOT_USER_RATE="1")
    first.engine.svc.clock = second.engine.svc.clock = clock
    assert ORG in second.handle("org", user=VIEWER).text
    plan = first.engine.plan(Invocation(TEAM, VIEWER, "org"))
    assert plan.standing is not None and plan.standing.others == {"xbooker": 1, "request": 0}
    clock.advance(61)
    assert ORG in first.engine.execute(plan).text
    assert "Try again in" in first.handle("org", user=VIEWER).text  # its own event counts


def test_a_command_reads_its_grant_and_its_counts_in_one_statement(make_world):
    """Outside its audit transaction a lookup reads the store once: on a busy server each
    read costs a read transaction and a hand-over of the interpreter lock."""
    world = make_world()
    assert ORG in world.handle("org", user=VIEWER).text  # tokens and connections warm
    seen: list[str] = []
    conn = world.store.db().conn
    conn.set_trace_callback(seen.append)
    try:
        assert ORG in world.handle("org", user=VIEWER).text
    finally:
        conn.set_trace_callback(None)
    before = seen[: seen.index("BEGIN IMMEDIATE")]
    assert len(before) == 1, before
    assert "FROM grants" in before[0] and "FROM rate_events" in before[0]


def test_events_that_left_the_window_are_forgotten(make_world):
    """This process's own events are kept in memory for one window, not for ever."""
    world = make_world(XBOOKER_BOT_USER_RATE="5")
    clock = FakeClock(time.time())
    world.engine.svc.clock = clock
    limiter = world.engine.limits
    for n in range(SWEEP_EVERY):
        inv = Invocation(TEAM, f"U{n:08d}", "org")
        with limiter.hold(inv, ("xbooker",), limiter.standing(inv)):
            world.engine.svc.audit(inv.entry("org show", "succeeded", {}))
    assert len(limiter._mine) > 0
    clock.advance(61)
    inv = Invocation(TEAM, VIEWER, "org")
    with limiter.hold(inv, ("xbooker",), limiter.standing(inv)):
        pass
    assert len(limiter._mine) <= 1


def test_a_clock_stepped_forward_and_back_does_not_forget_events(make_world, sim):
    """Events this process forgot (its sweep ran while the clock was an hour ahead) are
    counted from their rows once the clock is back."""
    world = make_world(XBOOKER_BOT_USER_RATE="3")
    clock = FakeClock(time.time())
    world.engine.svc.clock = clock
    limiter = world.engine.limits
    for _ in range(3):
        assert ORG in world.handle("org", user=VIEWER).text
    clock.advance(3600)
    for n in range(SWEEP_EVERY):  # other users' commands: the sweep runs
        inv = Invocation(TEAM, f"U{n:08d}", "org")
        with limiter.hold(inv, ("xbooker",), limiter.standing(inv)):
            pass
    clock.advance(-3600 + 1)
    sim.reset_counters()
    text = world.handle("org", user=VIEWER).text
    assert text.startswith(":hourglass: You have run 3 commands that reach X Booker"), text
    assert sim.count("show organization") == 0


def test_an_event_whose_transaction_rolled_back_is_not_counted(make_world, sim):
    """A request whose transaction failed at COMMIT changed nothing, so it does not
    count against the hourly request limit either."""
    world = make_world(XBOOKER_BOT_REQUEST_RATE="1")
    raw = fail_commits_with_rate_rows(world)
    ids = sorted(m["id"] for m in sim.members.values() if m["role"] == "member")
    failed = world.handle(f"members remove {ids[0]}", user=ADMIN).text
    assert "Request *#" not in failed
    assert world.store.query_one("SELECT COUNT(*) AS n FROM approvals")["n"] == 0
    raw.execute("DROP TRIGGER t_fail")
    raw.close()
    assert "Request *#" in world.handle(f"members remove {ids[1]}", user=ADMIN).text


def test_a_reservation_dropped_after_a_plan_saw_it_does_not_refuse(make_world, sim):
    """A request refused while being prepared opens none: a plan made while it ran must
    not count it against the request limit."""
    world = make_world(XBOOKER_BOT_REQUEST_RATE="2")
    ids = sorted(m["id"] for m in sim.members.values() if m["role"] == "member")
    assert "Request *#" in world.handle(f"members remove {ids[0]}", user=ADMIN).text
    sim.latency = 0.5  # the refused request is still preparing while the next is planned
    refused: list[str] = []
    other = threading.Thread(
        target=lambda: refused.append(world.handle("members remove nobody@x.example", ADMIN).text)
    )
    other.start()
    time.sleep(0.2)
    plan = world.engine.plan(Invocation(TEAM, ADMIN, f"members remove {ids[1]}"))
    other.join()
    assert "Request *#" not in refused[0]
    sim.latency = 0
    assert "Request *#" in world.engine.execute(plan).text


def test_reads_are_counted_while_the_store_fails_to_record_them(make_world, sim):
    """A read that reached X Booker counts even if its audit row could not commit: a
    failing store must not make reads unlimited."""
    world = make_world(XBOOKER_BOT_USER_RATE="2")
    raw = fail_commits_with_rate_rows(world)
    raw.close()
    sim.reset_counters()
    texts = [world.handle("org", user=VIEWER).text for _ in range(5)]
    assert sim.count("show organization") == 2
    assert all("Try again in" in text for text in texts[2:])
