"""`GET /metrics` of `xbooker-bot serve` as a process: Prometheus text that its own parser
reads, series that move by exactly what a known run of commands, errors and decisions
did, no user id, email or secret in any label, and the separate metrics port."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.secret import Secret
from bot.store import Store
from bot.store.tokens import RefreshTokenStore, TokenKey
from tests.helpers import CREDS, free_port
from tests.serving import Served
from tests.world import ADMIN, ADMIN2, SIGNING_SECRET

LIMIT = 6  # XBOOKER_BOT_USER_RATE here: the run below reaches X Booker 6 times as ADMIN


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    response = httpx.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for (n, got), value in samples.items()
        if n == name and set(labels.items()) <= set(got)
    )


def members(sim, role: str = "member") -> list[dict]:
    return sorted((m for m in sim.members.values() if m["role"] == role), key=lambda m: m["id"])


@pytest.fixture
def served(sim_server, fake_slack, tmp_path):
    served = Served(
        sim_server,
        fake_slack,
        tmp_path,
        XBOOKER_BOT_ADMINS=f"{ADMIN},{ADMIN2}",
        XBOOKER_BOT_USER_RATE=str(LIMIT),
    )
    # A stored refresh token that X Booker no longer accepts: the first command re-issues.
    store = Store(served.db)
    foreign = sim_server.simulator.issue_refresh_out_of_band()
    key = TokenKey(sim_server.url, CREDS.organization_id, CREDS.client_id)
    RefreshTokenStore(store, key).save(Secret(foreign), 0, time.time() - 3600)
    store.close()
    served.start()
    yield served
    served.stop()


def test_metrics_move_by_what_a_known_run_did(served, sim, fake_slack):
    url = served.url
    before = scrape(url)
    sim.reset_counters()
    bob, carol = members(sim)[:2]

    assert "Harbour Lane Studios" in served.ask("org", ADMIN)["text"]  # re-issues the token
    sim.fail_next(1)  # one 500, then the retry answers
    assert "Harbour Lane Studios" in served.ask("org", ADMIN)["text"]
    served.ask("members list", ADMIN)
    served.ask("help", ADMIN)  # answered in the ack
    served.ask("frobnicate", ADMIN)  # a usage error, in the ack
    served.ask("members show mem_nobody", ADMIN)  # X Booker: 404
    assert "Request *#1*" in served.ask(f"members remove {bob['id']}", ADMIN)["text"]
    assert "cannot approve" in served.ask("approvals approve 1", ADMIN)["text"]  # two-person
    served.ask("approvals approve 1", ADMIN2)  # recorded, and executed
    fake_slack.errors["chat.postMessage"] = ["not_in_channel"]  # the card cannot be posted
    assert "Request *#2*" in served.ask(f"members role {carol['id']} admin", ADMIN)["text"]
    assert "Try again in" in served.ask("org", ADMIN)["text"]  # the 7th: over the limit
    served.wait_audit_rows(14)  # 13 for the commands, 1 for the re-issue
    after = scrape(url)

    commands = {
        ("org show", "succeeded"): 2,
        ("members list", "succeeded"): 1,
        ("help", "answered"): 1,
        ("(not a command)", "invalid"): 1,
        ("members show", "failed"): 1,
        ("members remove", "requested"): 1,
        ("approvals approve", "refused"): 1,
        ("approvals approve", "recorded"): 1,
        ("members role", "requested"): 1,
        ("org show", "refused"): 1,
    }
    for (command, outcome), count in commands.items():
        got = moved(before, after, "xbooker_bot_commands_total", command=command, outcome=outcome)
        assert got == count, (command, outcome)
    assert total(after, "xbooker_bot_commands_total") - total(
        before, "xbooker_bot_commands_total"
    ) == sum(commands.values())
    decisions = "xbooker_bot_approval_decisions_total"
    assert moved(before, after, decisions, decision="approve", outcome="refused") == 1
    assert moved(before, after, decisions, decision="approve", outcome="recorded") == 1
    assert moved(before, after, "xbooker_bot_audit_rows_total") == 14 == served.audit_rows()
    assert moved(before, after, "xbooker_bot_rate_limited_total", limit="xbooker") == 1

    # X Booker: exactly the requests the simulator received, per operation.
    requests = "xbooker_bot_xbooker_requests_total"
    for operation, endpoint in [
        ("show organization", "show organization"),
        ("list members", "list members"),
        ("show member", "show member"),
        ("remove member", "remove member"),
        ("get access token", "access"),
        ("issue refresh token", "refresh"),
    ]:
        counted = total(after, requests, operation=operation) - total(
            before, requests, operation=operation
        )
        assert counted == sim.count(endpoint), operation
    shows = sim.count("show organization")  # the two `org`, and any card or home that shows it
    assert moved(before, after, requests, operation="show organization", status="500") == 1
    assert moved(before, after, requests, operation="show organization", status="200") == shows - 1
    assert moved(before, after, requests, operation="show member", status="404") == 1
    assert moved(before, after, requests, operation="get access token", status="400") == 1
    latency = "xbooker_bot_xbooker_request_seconds_count"
    assert moved(before, after, latency, operation="show organization") == shows

    # Tokens: the refused access call, the re-issue, the access call after it.
    auth = "xbooker_bot_auth_calls_total"
    assert moved(before, after, auth, kind="access", result="refused") == 1
    assert moved(before, after, auth, kind="access", result="ok") == 1
    assert moved(before, after, auth, kind="refresh", result="ok") == 1
    assert moved(before, after, "xbooker_bot_refresh_token_reissues_total") == 1

    # Latency: every Slack request acked, every command not answered in its ack timed.
    assert moved(before, after, "xbooker_bot_ack_seconds_count") == 11
    assert moved(before, after, "xbooker_bot_command_seconds_count") == 9
    errors = "xbooker_bot_slack_api_errors_total"
    assert moved(before, after, errors, method="chat.postMessage", error="not_in_channel") == 1

    # Read at scrape time: request #2 is open, #1 has run.
    assert after["xbooker_bot_approvals_open", (("status", "pending"),)] == 1
    assert after["xbooker_bot_approvals_open", (("status", "executing"),)] == 0
    assert 0 < after["xbooker_bot_approval_next_expiry_seconds", ()] <= 86400


def test_no_label_carries_a_user_id_an_email_or_a_secret(served, sim, fake_slack):
    bob = members(sim)[0]
    served.ask("org", ADMIN)
    served.ask(f"members show {bob['email']}", ADMIN)
    served.ask(f"members remove {bob['id']}", ADMIN)
    served.ask("approvals approve 1", ADMIN2)
    text = httpx.get(f"{served.url}/metrics", timeout=5).text
    store = Store(served.db)
    token = store.query_one("SELECT token FROM refresh_tokens")["token"]
    store.close()
    for secret in (
        ADMIN,
        ADMIN2,
        bob["email"],
        bob["id"],
        "@",
        token,
        CREDS.client_secret.reveal(),
        SIGNING_SECRET,
        "xoxb-",
        fake_slack.url,
        *sim._access,
    ):
        assert secret not in text, secret


def test_metrics_on_a_port_of_their_own(sim_server, fake_slack, tmp_path):
    port = free_port()
    served = Served(sim_server, fake_slack, tmp_path, XBOOKER_BOT_METRICS_PORT=str(port)).start()
    try:
        assert httpx.get(f"{served.url}/metrics", timeout=5).status_code == 404
        served.ask("org", ADMIN)
        served.wait_audit_rows(1)
        samples = scrape(f"http://127.0.0.1:{port}")
        assert samples[
            "xbooker_bot_commands_total", (("command", "org show"), ("outcome", "succeeded"))
        ]
        # Each scrape there runs on a thread of its own: none may leave a connection open.
        children = f"/proc/{served.proc.pid}/task/{served.proc.pid}/children"
        workers = [int(p) for p in Path(children).read_text().split()]
        opened = lambda: sum(len(os.listdir(f"/proc/{w}/fd")) for w in workers)  # noqa: E731
        before = opened()
        for _ in range(200):
            scrape(f"http://127.0.0.1:{port}")
        assert opened() < before + 20  # not 2 per scrape
    finally:
        served.stop()


def test_metrics_answer_get_only_and_need_no_signature(served):
    assert httpx.post(f"{served.url}/metrics", timeout=5).status_code == 405
    assert httpx.get(f"{served.url}/metrics", timeout=5).status_code == 200  # unsigned
