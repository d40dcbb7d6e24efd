"""``Approvals.subscribe``: told of every change of a request once it has committed, and
never able to break the change it is told of."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import FakeClock
from tests.world import ADMIN, ADMIN2, OPERATOR, World, click


def request(world: World, name: str) -> int:
    text = world.handle(f'org update name="{name}"', user=OPERATOR).text
    return int(text.split("Request *#")[1].split("*")[0])


@pytest.fixture
def seen(world) -> list[tuple[int, str, bool]]:
    """(request, its state as the subscriber reads it, whether a transaction was open)."""
    events: list[tuple[int, str, bool]] = []

    def record(rid: int) -> None:
        r = world.approvals.load(rid)
        state = "outcome unknown" if world.approvals.unknown(r) else r.status
        events.append((rid, state, world.store.db().conn.in_transaction))

    world.approvals.subscribe(record)
    return events


def test_request_approval_and_execution(world, seen):
    rid = request(world, "Events Ltd")
    assert seen == [(rid, "pending", False)]
    assert "done." in world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert seen == [(rid, "pending", False), (rid, "executing", False), (rid, "succeeded", False)]


def test_rejection_cancel_and_expiry(world, seen):
    clock = FakeClock(world.approvals.clock())
    world.approvals.clock = clock
    rejected, cancelled, expired = (request(world, f"{n} Ltd") for n in ("Rej", "Can", "Exp"))
    seen.clear()
    world.handle(f"approvals reject {rejected} not today", user=ADMIN)
    world.handle(f"approvals cancel {cancelled}", user=OPERATOR)
    clock.advance(world.settings.approval_ttl + 1)
    world.approvals.sweep()
    assert seen == [
        (rejected, "rejected", False),
        (cancelled, "cancelled", False),
        (expired, "expired", False),
    ]


def test_each_decision_below_the_quorum(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVALS_NEEDED="2")
    try:
        told: list[int] = []
        w.approvals.subscribe(told.append)
        rid = request(w, "Quorum Events Ltd")
        w.handle(f"approvals approve {rid}", user=ADMIN)
        assert told == [rid, rid] and w.approvals.load(rid).status == "pending"
    finally:
        w.close()


def test_outcome_unknown_then_resolve(world, seen):
    rid = request(world, "Unknown Ltd")
    world.sim.fail_after_apply(1, 502, endpoint="update organization")
    _, path = click(world, rid, ADMIN2)
    assert "Outcome unknown" in world.wait_response(path)["text"]
    world.handle(f"approvals resolve {rid} succeeded", user=ADMIN)
    assert [state for _, state, _ in seen] == [
        "pending",
        "executing",
        "outcome unknown",
        "succeeded",
    ]


def test_refusals_change_nothing_and_tell_no_one(world, seen):
    rid = request(world, "Refused Ltd")
    world.handle(f"approvals approve {rid}", user=OPERATOR)  # needs bot role admin
    world.handle(f"approvals approve {rid}", user=OPERATOR.replace("OPER", "NOPE"))
    world.handle("approvals approve 999", user=ADMIN)
    assert seen == [(rid, "pending", False)]


def test_a_failing_subscriber_is_logged_and_the_change_stands(world, caplog):
    def broken(rid: int) -> None:
        raise RuntimeError("home could not be refreshed")

    told: list[int] = []
    world.approvals.subscribe(broken)
    world.approvals.subscribe(told.append)  # later subscribers are still told
    with caplog.at_level(logging.ERROR):
        rid = request(world, "Sturdy Ltd")
        reply = world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert "done." in reply and world.sim.organization["name"] == "Sturdy Ltd"
    assert world.approvals.load(rid).status == "succeeded" and told == [rid, rid, rid]
    assert f"a subscriber to approval request changes failed (#{rid})" in caplog.text
