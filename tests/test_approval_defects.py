"""Each way the first release's approvals could lie, be replayed or wedge, reproduced as
it was reported (through signed Slack requests, or the core as the console drives it)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from bot.core import cards
from bot.core.registry import RegistryError
from bot.store import audit
from tests.world import ADMIN, ADMIN2, APPROVALS, OPERATOR, World, click


def request_id(text: str) -> int:
    return int(text.split("Request *#")[1].split("*")[0])


def card_of(world: World, rid: int) -> dict:
    """The newest version of a request's card: its post, or the latest chat.update of it."""
    ts = world.approvals.load(rid).message_ts
    updates = [c for c in world.slack.calls_to("chat.update") if c.get("ts") == ts]
    posts = [
        c
        for c in world.slack.calls_to("chat.postMessage")
        if c.get("channel") == APPROVALS and f"request #{rid}:" in c.get("text", "")
    ]
    call = (updates or posts)[-1]
    blocks = call["blocks"]
    return {
        "text": call["text"],
        "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
    }


def section_texts(card: dict) -> list[str]:
    return [b["text"]["text"] for b in card["blocks"] if b["type"] in ("section", "header")]


def a_member(world: World, index: int = 5) -> dict:
    members = sorted(world.sim.members.values(), key=lambda m: m["id"])
    return [m for m in members if m["role"] == "member"][index]


def last_row(world: World, **match) -> dict:
    """The newest audit row matching, waiting a little for lazy listeners to write it."""
    deadline = time.monotonic() + 5
    while True:
        rows = [
            r
            for r in audit.rows(world.store)
            if all(r.get(k) == v or r["detail"].get(k) == v for k, v in match.items())
        ]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert rows, f"no audit row with {match}"
    return rows[-1]


# -- 1. a card that misstates the change -----------------------------------------------------


@pytest.mark.parametrize("brk", ["\n", "\u2028"], ids=["newline", "U+2028"])
def test_a_typed_name_with_line_breaks_is_refused_not_carded(world, brk):
    name = "Mallory) with X Booker role member" + brk * 60 + "("
    reply = world.ask(f'members add mallory@evil.example name="{name}" owner', user=OPERATOR)
    assert f"U+{ord(brk):04X}" in reply["text"] and "line break" in reply["text"]
    assert not world.slack.calls_to("chat.postMessage")
    assert world.approvals.list_reply().text == "No approval requests are open."
    row = last_row(world, actor=OPERATOR)
    assert row["outcome"] == "invalid" and "members add" in row["detail"]["typed"]
    assert "\n" not in row["detail"]["typed"] and "\u2028" not in row["detail"]["typed"]


@pytest.mark.parametrize("brk", ["\n", "\u2028", "\u202e"], ids=["newline", "U+2028", "bidi"])
def test_a_name_from_x_booker_cannot_forge_card_lines(world, brk):
    victim = a_member(world)
    victim["name"] = f"Carol{brk}:white_check_mark: *Approved by* <@{ADMIN2}>{brk}<!channel>"
    reply = world.ask(f"members remove {victim['email']}", user=OPERATOR)
    rid = request_id(reply["text"])
    card = card_of(world, rid)
    texts = section_texts(card)
    assert texts[0] == f"Approval request #{rid}: members remove"
    for text in [*texts, card["text"]]:
        assert brk not in text and "<!channel>" not in text and f"<@{ADMIN2}>" not in text
    name_line = next(t for t in texts if t.startswith("name:"))
    assert name_line.count("`") == 2  # the whole name in one code span, on one line
    assert "⏎" in name_line or "�" in name_line


def test_privilege_is_in_the_card_header_and_the_fallback(world):
    reply = world.ask('members add mallory@evil.example owner name="Mallory"', user=OPERATOR)
    card = card_of(world, request_id(reply["text"]))
    assert card["blocks"][0]["type"] == "header"
    assert "GRANTS X BOOKER ROLE OWNER" in card["blocks"][0]["text"]["text"]
    assert "GRANTS X BOOKER ROLE OWNER" in card["text"]
    lines = section_texts(card)
    assert "X Booker role: `owner`" in lines


def test_a_long_org_update_is_shown_whole(world):
    values = {
        "name": "N" * 490,
        "address": "A" * 490,
        "website": "https://example.com/" + "w" * 460,
        "email": "long.mailbox@harbourlane.example",
        "phone": "+44 20 7946 0000",
        "timezone": "Europe/London",
    }
    typed = " ".join(f'{k}="{v}"' for k, v in values.items())
    reply = world.ask(f"org update {typed}", user=OPERATOR)["text"]
    rid = request_id(reply)
    texts = section_texts(card_of(world, rid))
    for field, value in values.items():
        line = next(t for t in texts if t.startswith(f"{field}:"))
        assert line.endswith(f"→ `{value}`")  # never cut, one line per field
    assert all(len(t) <= 3000 for t in texts)


def test_a_preview_too_long_for_a_card_is_refused_at_request_time(world):
    world.sim.organization["address"] = "x" * 11_000  # the "from" value comes from X Booker
    reply = world.ask('org update address="1 Short Street"', user=OPERATOR)
    assert "cannot be shown whole on an approval card" in reply["text"]
    assert "Nothing was requested" in reply["text"]
    assert not world.slack.calls_to("chat.postMessage")
    assert last_row(world, actor=OPERATOR)["detail"]["reason"] == "preview too long"


# -- 2. an old card deciding a different request ---------------------------------------------


def _lose_the_database(world: World) -> None:
    """What a wiped or restored database looks like to old cards: numbers restart."""
    with world.store.write() as db:
        db.conn.execute("DELETE FROM approval_decisions")
        db.conn.execute("DELETE FROM approvals")
        db.conn.execute("DELETE FROM sqlite_sequence WHERE name = 'approvals'")


def test_a_card_from_a_lost_database_cannot_decide_a_request_that_reused_its_number(world):
    carol, dan = a_member(world, 1), a_member(world, 2)
    old = request_id(world.ask(f"members remove {carol['email']}", user=OPERATOR)["text"])
    stale = world.approvals.load(old)
    _lose_the_database(world)
    new = request_id(world.ask(f"members remove {dan['email']}", user=OPERATOR)["text"])
    assert new == old  # the number was reused

    response, path = click(world, old, ADMIN2, value=f"{old}:{stale.nonce}", ts=stale.message_ts)
    assert response.status == 200
    answer = world.wait_response(path)["text"]
    assert "does not belong to the current request" in answer and "Nothing was decided" in answer
    assert world.sim.count("remove member") == 0 and dan["id"] in world.sim.members
    assert world.approvals.load(new).status == "pending"
    # The old card loses its buttons.
    update = world.slack.calls_to("chat.update")[-1]
    assert update["ts"] == stale.message_ts and "no longer knows" in update["text"]
    assert "approval_approve" not in json.dumps(update.get("blocks"))
    row = last_row(world, action="approvals approve", outcome="refused")
    assert row["detail"]["reason"] == "button not from this request's card"
    assert row["detail"]["via"] == "button"


def test_a_forged_click_on_the_right_number_without_the_nonce_is_refused(world):
    rid = request_id(world.ask(f"members remove {a_member(world)['email']}", user=OPERATOR)["text"])
    for value in (str(rid), f"{rid}:{'0' * 32}", f"{rid}:{'g' * 32}"):
        _, path = click(world, rid, ADMIN2, value=value)
        assert world.wait_response(path)["text"].startswith(":no_entry:") or (
            "There is no request" in world.wait_response(path)["text"]
        )
    # The right nonce on another message of the channel is refused too.
    _, path = click(world, rid, ADMIN2, ts="99.0001")
    assert f"not request #{rid}'s own card" in world.wait_response(path)["text"]
    assert world.approvals.load(rid).status == "pending"
    _, path = click(world, rid, ADMIN2)  # the card's own button works
    assert "done." in world.wait_response(path)["text"]


# -- 3. no dead-end states -------------------------------------------------------------------


def test_approval_and_claim_commit_together(world):
    rid = request_id(world.ask('org update name="Together Ltd"', user=OPERATOR)["text"])
    world.ask(f"approvals approve {rid}")
    rows = [r for r in audit.rows(world.store) if r["detail"].get("request") == rid]
    recorded = next(r for r in rows if r["outcome"] == "recorded")
    sending = next(r for r in rows if r["outcome"] == "sending")
    assert sending["id"] == recorded["id"] + 1 and sending["at"] - recorded["at"] < 0.05


def test_a_request_left_approved_is_run_by_the_sweeper_or_resolved(world):
    """The state an interrupted process of the first release left behind."""
    first = request_id(world.ask('org update name="Left Ltd"', user=OPERATOR)["text"])
    second = request_id(world.ask('org update phone="+44 20 7946 0001"', user=OPERATOR)["text"])
    with world.store.write() as db:
        db.conn.execute(
            "UPDATE approvals SET status = 'approved' WHERE id IN (?, ?)", (first, second)
        )
    assert "recorded as failed" in world.handle(f"approvals resolve {second} failed").text
    world.approvals.sweep()
    assert world.approvals.load(first).status == "succeeded"
    assert world.sim.organization["name"] == "Left Ltd"
    assert world.approvals.load(second).status == "failed"
    assert world.sim.organization["phone"] != "+44 20 7946 0001"


def test_a_locked_database_during_execution_flags_outcome_unknown(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, busy_timeout=0.3)
    try:
        victim = a_member(w)
        rid = request_id(w.ask(f"members remove {victim['id']}", user=OPERATOR)["text"])
        w.sim.latency = 1.0
        raw = sqlite3.connect(w.settings.db_path, isolation_level=None)
        clicked = threading.Thread(target=lambda: w.handle(f"approvals approve {rid}", ADMIN2))
        clicked.start()
        deadline = time.monotonic() + 10
        while w.approvals.load(rid).status != "executing":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        raw.execute("BEGIN IMMEDIATE")  # held past the busy timeout while X Booker works
        clicked.join(10)
        request = w.approvals.load(rid)
        assert request.status == "executing" and w.approvals.unknown(request)
        assert victim["id"] not in w.sim.members  # X Booker did apply it
        raw.execute("ROLLBACK")
        w.sim.latency = 0
        assert w.approvals.sweep() == 1  # flagged once the database is back
        assert "outcome unknown" in w.handle("approvals").text
        assert "recorded as succeeded" in w.handle(f"approvals resolve {rid} succeeded").text
        raw.close()
    finally:
        w.close()


def test_a_bad_member_id_from_x_booker_is_refused_at_request_time(world):
    victim = a_member(world)
    del world.sim.members[victim["id"]]
    victim["id"] = "../../organization"
    world.sim.members[victim["id"]] = victim
    reply = world.ask(f"members remove {victim['email']}", user=OPERATOR)
    assert "member id the bot cannot use safely" in reply["text"]
    assert "Nothing was requested" in reply["text"]
    row = last_row(world, actor=OPERATOR, action="members remove")
    assert row["outcome"] == "refused" and row["detail"]["args"]["member"] == victim["email"]


# -- 5. revoke race, ambiguous writes, settings ------------------------------------------------


def test_a_revoke_that_commits_first_wins_over_an_approval(world):
    rid = request_id(world.ask('org update name="Race Ltd"', user=OPERATOR)["text"])
    raw = sqlite3.connect(world.settings.db_path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")  # the revoke's transaction, holding the write lock
    raw.execute("DELETE FROM grants WHERE user_id = ?", (ADMIN2,))
    answers: list[str] = []
    approving = threading.Thread(
        target=lambda: answers.append(world.handle(f"approvals approve {rid}", ADMIN2).text)
    )
    approving.start()
    time.sleep(0.5)  # the approval has checked the role outside and now waits for the lock
    assert approving.is_alive()
    raw.execute("COMMIT")
    approving.join(10)
    raw.close()
    assert "needs bot role *admin*" in answers[0]
    assert world.approvals.load(rid).status == "pending"
    assert world.sim.organization["name"] != "Race Ltd"
    assert last_row(world, actor=ADMIN2)["detail"]["reason"] == "not a bot admin"


def test_a_502_after_x_booker_applied_a_removal_is_outcome_unknown(world):
    victim = a_member(world)
    rid = request_id(world.ask(f"members remove {victim['email']}", user=OPERATOR)["text"])
    world.sim.fail_after_apply(1, 502, endpoint="remove member")
    _, path = click(world, rid, ADMIN2)
    answer = world.wait_response(path)["text"]
    assert "Outcome unknown" in answer and "approvals resolve" in answer
    request = world.approvals.load(rid)
    assert request.status == "executing" and world.approvals.unknown(request)
    assert victim["id"] not in world.sim.members
    row = last_row(world, action="approvals interrupted")
    assert (row["outcome"], row["detail"]["message"]) == ("outcome unknown", "Bad gateway")


def test_a_direct_write_with_an_ambiguous_result_is_audited_as_outcome_unknown(world):
    world.ask("org")
    world.sim.fail_after_apply(1, 500)
    reply = world.ask("members add half@x.example", user=OPERATOR)
    assert "may or may not have been applied" in reply["text"]
    assert last_row(world, actor=OPERATOR, action="members add")["outcome"] == "outcome unknown"


def test_approving_a_command_that_cannot_be_approved_stops_start_up(
    sim_server, fake_slack, tmp_path
):
    with pytest.raises(RegistryError, match="'approvals cancel' cannot be approved"):
        World(
            sim_server,
            fake_slack,
            tmp_path,
            XBOOKER_BOT_REQUIRE_APPROVAL="members remove,approvals cancel",
        )


def test_the_approved_result_is_worded_by_the_commands_own_renderer(world):
    victim = a_member(world)
    rid = request_id(world.ask(f"members role {victim['email']} admin", user=OPERATOR)["text"])
    _, path = click(world, rid, ADMIN2)
    assert (
        f"`{victim['email']}`: X Booker role `member` → `admin`."
        in world.wait_response(path)["text"]
    )


def test_card_limits_hold_for_every_valid_command():
    """The bound that makes every valid command fit: 6 fields of 500 characters each way."""
    lines = [f"{f}: `{'x' * 500}` → `{'y' * 500}`" for f in range(6)]
    assert cards.too_long(lines, None) is None


# -- found by the hostile review of this work -------------------------------------------------


def test_a_losing_decider_does_not_unmark_the_winners_execution(world):
    victim = a_member(world)
    rid = request_id(world.ask(f"members remove {victim['id']}", user=OPERATOR)["text"])
    world.sim.latency = 1.5
    raw = sqlite3.connect(world.settings.db_path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")  # both deciders pass their checks, then queue here
    answers: dict[str, str] = {}
    threads = [
        threading.Thread(
            target=lambda u=u: answers.__setitem__(
                u, world.handle(f"approvals approve {rid}", u).text
            )
        )
        for u in (ADMIN, ADMIN2)
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)
    raw.execute("COMMIT")
    raw.close()
    deadline = time.monotonic() + 10
    while len(answers) < 1:  # the loser answers at once; the winner waits for X Booker
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert world.approvals.sweep() == 0  # the winner is still executing: not abandoned
    assert "being executed right now" in world.handle(f"approvals resolve {rid} failed").text
    for t in threads:
        t.join(10)
    world.sim.latency = 0
    assert world.approvals.load(rid).status == "succeeded"
    assert sorted("done." in a for a in answers.values()) == [False, True]


def test_an_approval_by_a_since_revoked_admin_no_longer_counts(sim_server, fake_slack, tmp_path):
    w = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_APPROVALS_NEEDED="2")
    try:
        w.engine.svc.allowlist.grant("UADMIN3", "admin", ADMIN)
        rid = request_id(w.handle('org update name="Quorum Ltd"', user=OPERATOR).text)
        assert "needs 1 more" in w.handle(f"approvals approve {rid}", ADMIN2).text
        w.engine.svc.allowlist.revoke(ADMIN2, ADMIN)
        assert "needs 1 more" in w.handle(f"approvals approve {rid}", "UADMIN3").text
        assert w.approvals.load(rid).status == "pending"
        assert w.sim.organization["name"] != "Quorum Ltd"
        assert "done." in w.handle(f"approvals approve {rid}", ADMIN).text
    finally:
        w.close()


def test_a_cut_slack_response_changes_no_outcome(world):
    victim = a_member(world)
    rid = request_id(world.ask(f"members remove {victim['id']}", user=OPERATOR)["text"])
    world.slack.cut = {"chat.update": 5, "conversations.open": 5}
    reply = world.handle(f"approvals approve {rid}", ADMIN2).text
    assert "done." in reply
    assert world.approvals.load(rid).status == "succeeded"
    assert not any(r["outcome"] == "failed" for r in audit.rows(world.store))


@pytest.mark.parametrize("value", ["garbage", "1:{nonce}:extra", "", "1:" + "A" * 32])
def test_a_malformed_button_value_changes_no_card(world, value):
    rid = request_id(world.ask(f"members remove {a_member(world)['id']}", user=OPERATOR)["text"])
    updates = len(world.slack.calls_to("chat.update"))
    value = value.format(nonce=world.approvals.load(rid).nonce)
    _, path = click(world, rid, ADMIN2, value=value)
    assert "Nothing was decided" in world.wait_response(path)["text"]
    assert len(world.slack.calls_to("chat.update")) == updates
    assert world.approvals.load(rid).status == "pending"


def test_a_pending_request_is_decided_not_resolved(world):
    """Resolving a pending request would be a rejection without a rejection's rules
    (a required reason, the requester's message): it points to reject or cancel."""
    rid = request_id(world.ask('org update name="Never Ltd"', user=OPERATOR)["text"])
    for resolution in ("succeeded", "failed"):
        answer = world.handle(f"approvals resolve {rid} {resolution}").text
        assert f"reject it instead (`/xbooker approvals reject {rid} <reason>`)" in answer
        assert world.approvals.load(rid).status == "pending"
    answer = world.handle(f"approvals resolve {rid} failed", user=OPERATOR).text
    assert "needs bot role *admin*" in answer


def test_execution_rows_carry_arguments_and_why_a_change_failed(world):
    victim = a_member(world)
    rid = request_id(world.ask(f"members role {victim['id']} owner", user=OPERATOR)["text"])
    world.sim.members[victim["id"]]["role"] = "admin"  # changed since requested
    world.handle(f"approvals approve {rid}", ADMIN2)
    row = last_row(world, action="members role", outcome="failed")
    summary = audit.describe(row["detail"])
    assert "role=owner" in summary and "changed since requested" in summary
