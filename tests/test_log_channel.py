"""The log channel: one line per change, decision and end of a request, read from the
audit log; nothing lost across restarts, nothing posted twice by two processes, the
audit head once a day, every value inert and no secret in any line."""

from __future__ import annotations

import logging
import re
import time

import pytest

from bot.core import logline
from bot.slack import logchannel
from bot.slack.logchannel import LogChannel, SlackPoster
from bot.store import audit, logmark
from tests.helpers import FakeClock, run_together
from tests.world import ADMIN, ADMIN2, OPERATOR, VIEWER, World, click

LOG = "C0LOGS"
NOON = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def tailer(world: World, clock: FakeClock | None = None) -> LogChannel:
    return LogChannel(world.store, SlackPoster(world.web), LOG, clock or FakeClock(NOON))


def posted(world: World) -> list[str]:
    """The log channel's lines Slack accepted, oldest first."""
    return [
        c["text"]
        for c in world.slack.calls_to("chat.postMessage")
        if c["channel"] == LOG and LOG not in world.slack.refuse_in
    ]


def changes(world: World) -> list[str]:
    return [line for line in posted(world) if not line.startswith(":link:")]


def row_of(world: World, line: str) -> dict:
    rid = int(re.search(r"audit row (\d+)", line).group(1))
    return next(r for r in audit.rows(world.store) if r["id"] == rid)


def request(world: World, text: str, user: str = OPERATOR) -> int:
    return int(world.handle(text, user=user).text.split("Request *#")[1].split("*")[0])


@pytest.fixture
def log(world) -> LogChannel:
    channel = tailer(world)
    channel.poll()  # starts at the end of the log, posts the day's head
    return channel


def test_a_new_log_channel_starts_at_the_end_of_the_log(world):
    world.handle("members add before@x.example", user=OPERATOR)
    assert tailer(world).poll() == 1
    [head] = posted(world)
    assert head.startswith(":link: Audit head: last row")
    assert changes(world) == []


def test_changes_decisions_and_ends_of_requests_get_one_line_each(world, log):
    clock = FakeClock(world.approvals.clock())
    world.approvals.clock = clock
    world.handle("org", user=VIEWER)
    world.handle("members list", user=VIEWER)
    world.handle("members add no@x.example", user=VIEWER)  # refused: no line
    world.handle("members add direct@x.example", user=OPERATOR)
    approved = request(world, 'org update name="Logged Ltd"')
    world.handle(f"approvals approve {approved}", user=ADMIN)
    rejected = request(world, 'org update name="Nope Ltd"')
    world.handle(f"approvals reject {rejected} not this quarter", user=ADMIN2)
    cancelled = request(world, 'org update name="Oops Ltd"')
    world.handle(f"approvals cancel {cancelled} typo in the name", user=OPERATOR)
    granted = request(world, "access grant U0NEWADMIN admin", user=ADMIN)
    world.handle(f"approvals approve {granted}", user=ADMIN2)
    world.handle("access grant U0HELPER operator", user=ADMIN)
    expired = request(world, 'org update name="Late Ltd"')
    clock.advance(world.settings.approval_ttl + 1)
    world.approvals.sweep()
    log.poll()
    lines = changes(world)
    shown = [(row_of(world, line)["action"], row_of(world, line)["outcome"]) for line in lines]
    assert shown == [
        ("members add", "succeeded"),
        ("approvals approve", "recorded"),
        ("org update", "succeeded"),
        ("approvals reject", "recorded"),
        ("approvals cancel", "cancelled"),
        ("approvals approve", "recorded"),
        ("access grant", "succeeded"),  # once, though the grant wrote a row of its own too
        ("access grant", "succeeded"),
        ("approvals expire", "expired"),
    ]
    assert lines[0].startswith(":white_check_mark: `members add` succeeded by <@UOPER1>:")
    assert "email=direct@x.example" in lines[0]
    assert f"request #{approved}" in lines[2] and "by the bot" in lines[2]
    assert "reason: not this quarter" in lines[3] and f"request #{rejected}" in lines[3]
    assert "reason: typo in the name" in lines[4] and f"request #{cancelled}" in lines[4]
    assert f"request #{granted}" in lines[6] and "role=admin" in lines[6]
    assert "by <@UADMIN1>" in lines[7] and "user=U0HELPER" in lines[7]
    assert f"request #{expired}" in lines[8]
    assert log.poll() == 0 and len(changes(world)) == 9


def test_an_outcome_unknown_and_a_failed_execution_are_shown(world, log):
    world.ask("org")
    world.sim.fail_after_apply(1, 500)
    world.ask("members add half@x.example", user=OPERATOR)
    rid = request(world, 'org update name="Scoped Ltd"')
    world.sim.set_scopes({"organization:read", "members:read"})
    world.handle(f"approvals approve {rid}", user=ADMIN)
    log.poll()
    unknown, _decision, failed = changes(world)
    assert unknown.startswith(":grey_question: `members add` outcome unknown by <@UOPER1>")
    assert failed.startswith(":x: `org update` failed by the bot") and "HTTP 403" in failed


def test_a_refresh_token_reissue_is_shown(world, log):
    world.engine.svc.audit(logline.reissue_entry(world.team, 7))
    log.poll()
    [line] = changes(world)
    assert line.startswith(":key: `refresh token` reissued by the bot: generation 7")


def test_values_in_lines_are_inert(world, log):
    hostile = "<!channel> *bold* _it_ ~x~ `tick` & <https://evil.example|here>"
    world.handle(f'members add inert@x.example name="{hostile}" reason="{hostile}"', OPERATOR)
    log.poll()
    [line] = changes(world)
    assert "<!channel>" not in line and "<https://" not in line
    assert "*bold*" not in line and "`tick`" not in line and "_it_" not in line
    assert "&lt;!channel&gt;" in line and "&amp;" in line


def test_a_line_is_one_line_whatever_x_booker_said():
    row = {
        "id": 5,
        "at": NOON,
        "actor": "UOPER1",
        "source": "slack",
        "action": "members add",
        "outcome": "outcome unknown",
        "detail": {
            "command": "members add",
            "args": {"email": "a@x.example"},
            "message": "Bad\ngateway\u2028<!here>\u202eevil `x` *y*",
            "status": 502,
        },
    }
    line = logline.line(row)
    assert "\n" not in line and "\u2028" not in line and "\u202e" not in line
    assert "<!here>" not in line and "`x`" not in line and "*y*" not in line
    assert "HTTP 502 Bad⏎gateway⏎&lt;!here&gt;" in line


def test_a_channel_slack_refuses_is_skipped_and_warned_about_once(world, log, caplog):
    world.slack.refuse_in[LOG] = "not_in_channel"
    for n in range(3):
        world.handle(f"members add refused{n}@x.example", user=OPERATOR)
    with caplog.at_level(logging.WARNING):
        assert log.poll() == 0
        world.handle("members add refused3@x.example", user=OPERATOR)
        assert log.poll() == 0
    warnings = [r for r in caplog.records if "not_in_channel" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert logmark.posted(world.store) == audit.head(world.store).last_id  # skipped ahead
    del world.slack.refuse_in[LOG]
    world.slack.calls.clear()
    world.handle("members add accepted@x.example", user=OPERATOR)
    assert log.poll() == 1
    [line] = changes(world)
    assert "accepted@x.example" in line


def test_slack_out_of_reach_keeps_the_line_for_later(world, log, caplog):
    world.slack.refuse_in[LOG] = "internal_error"
    world.handle("members add later@x.example", user=OPERATOR)
    world.handle("members add later2@x.example", user=OPERATOR)
    with caplog.at_level(logging.WARNING):
        assert log.poll() == 0
        assert log.poll() == 0
    assert "will try again" in caplog.text
    del world.slack.refuse_in[LOG]
    world.slack.calls.clear()
    assert log.poll() == 2
    assert ["later@" in changes(world)[0], "later2@" in changes(world)[1]] == [True, True]


def test_two_processes_post_each_line_once(world, log):
    for n in range(12):
        world.handle(f"members add twice{n}@x.example", user=OPERATOR)
    others = [tailer(world) for _ in range(3)]
    run_together([c.poll for c in (log, *others) for _ in range(2)])
    lines = changes(world)
    assert sorted(row_of(world, line)["detail"]["args"]["email"] for line in lines) == sorted(
        f"twice{n}@x.example" for n in range(12)
    )


def test_a_restart_carries_on_where_the_last_process_stopped(world, log):
    world.handle("members add first@x.example", user=OPERATOR)
    log.poll()
    world.handle("members add second@x.example", user=OPERATOR)  # written while "down"
    restarted = tailer(world)
    restarted.poll()
    restarted.poll()
    assert [("first@" in line, "second@" in line) for line in changes(world)] == [
        (True, False),
        (False, True),
    ]


def test_the_audit_head_once_a_day(world):
    clock = FakeClock(NOON)
    first, second = tailer(world, clock), tailer(world, clock)
    world.handle("members add head@x.example", user=OPERATOR)
    run_together([first.poll, second.poll])
    clock.advance(3600)
    first.poll()
    [today] = [line for line in posted(world) if line.startswith(":link:")]
    clock.advance(86400)
    run_together([first.poll, second.poll])
    heads = [line for line in posted(world) if line.startswith(":link:")]
    assert len(heads) == 2
    head = audit.head(world.store)
    assert f"last row {head.last_id}, {head.rows} row(s), hash `{head.last_hash}`" in heads[1]
    assert f"`xbooker-bot audit verify --anchor {head.last_id}:{head.last_hash}`" in heads[1]
    assert heads[0] == today


def test_no_secret_reaches_the_log_channel(world, log):
    rid = int(
        world.ask('org update name="Secret Ltd"', user=OPERATOR)["text"]
        .split("Request *#")[1]
        .split("*")[0]
    )
    _, path = click(world, rid, ADMIN2)
    world.wait_response(path)
    world.ask('members add quiet@x.example reason="new starter on Monday"', user=OPERATOR)
    log.poll()
    text = "\n".join(posted(world))
    assert len(changes(world)) == 3
    for secret in (
        world.env["SLACK_BOT_TOKEN"],
        world.env["SLACK_SIGNING_SECRET"],
        world.env["XBOOKER_CLIENT_SECRET"],
        world.slack.url,
        "/response/",
    ):
        assert secret not in text


def test_the_tailer_thread_posts_as_changes_happen(world):
    running = logchannel.start(world.store, world.web, LOG, interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while not posted(world) and time.monotonic() < deadline:  # the day's head first
            time.sleep(0.01)
        world.handle("members add live@x.example", user=OPERATOR)
        while not changes(world) and time.monotonic() < deadline:
            time.sleep(0.01)
        [line] = changes(world)
        assert "live@x.example" in line
    finally:
        running.stop()


def test_a_row_that_cannot_be_worded_is_skipped_and_the_rest_still_posted(world, log):
    """A foreign or hand-edited row must not stop the channel (nor the daily head)."""
    world.handle("members add first@x.example", user=OPERATOR)
    with world.store.write() as db:
        db.conn.execute("UPDATE audit SET detail = '[1]' WHERE id = (SELECT MAX(id) FROM audit)")
    world.handle("members add second@x.example", user=OPERATOR)
    log.poll()
    lines = changes(world)
    assert any("second@x.example" in line for line in lines)
    assert not any("first@x.example" in line for line in lines)


def test_the_head_is_never_posted_twice_a_day_even_with_a_clock_behind(world):
    ahead, behind = FakeClock(NOON + 86_400), FakeClock(NOON + 86_400 - 30)
    tailer(world, ahead).poll()  # the new day's head
    heads = len(posted(world))
    tailer(world, behind).poll()  # a process whose clock is still on the day before
    tailer(world, ahead).poll()
    assert len(posted(world)) == heads


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "missing_scope"])
def test_a_token_problem_keeps_the_lines_for_when_it_is_fixed(world, log, error):
    world.slack.refuse_in[LOG] = error
    world.handle("members add during@x.example", user=OPERATOR)
    log.poll()
    del world.slack.refuse_in[LOG]
    tailer(world).poll()  # the operator fixed the token and restarted the bot
    assert any("during@x.example" in line for line in changes(world))
