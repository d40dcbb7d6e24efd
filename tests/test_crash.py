"""A process killed while executing an approved request: outcome unknown, never re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bot.store import audit
from tests.world import ADMIN, ADMIN2, OPERATOR


def test_kill_while_executing_leaves_outcome_unknown_then_resolve(world, tmp_path):
    bob = sorted(
        (m for m in world.sim.members.values() if m["role"] == "member"), key=lambda m: m["id"]
    )[3]
    text = world.handle(f"members role {bob['id']} admin", user=OPERATOR).text
    rid = int(text.split("Request *#")[1].split("*")[0])
    world.sim.latency = 30  # X Booker will hang; the approver's process dies meanwhile
    env = {**os.environ, **world.env, "SLACK_TEAM_ID": "T0TEAM", "PYTHON_DOTENV_DISABLED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--as", ADMIN2],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        text=True,
    )
    proc.stdin.write(f"approvals approve {rid}\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while world.approvals.load(rid).status != "executing":
        assert time.monotonic() < deadline, "the request was never claimed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    world.sim.latency = 0

    # This process (the survivor, as after a restart) sees an execution it did not start,
    # by a process on this host that no longer exists: flagged at once, not after the
    # claim goes stale.
    assert world.approvals.sweep() == 1
    request = world.approvals.load(rid)
    assert request.status == "executing" and world.approvals.unknown(request)
    assert "outcome unknown" in world.handle("approvals", user=ADMIN).text
    assert "cannot be decided" in world.handle(f"approvals approve {rid}", user=ADMIN).text
    assert world.sim.count("change member role") == 0  # never re-run automatically
    assert "Outcome unknown" in world.slack.calls_to("chat.postMessage")[-1]["text"]

    assert (
        "needs bot role *admin*"
        in world.handle(f"approvals resolve {rid} failed", user=OPERATOR).text
    )
    reply = world.handle(f"approvals resolve {rid} failed", user=ADMIN).text
    assert f"Request #{rid} recorded as failed" in reply
    assert world.approvals.load(rid).status == "failed"
    assert (
        "cannot be decided any more"
        in world.handle(f"approvals resolve {rid} succeeded", user=ADMIN).text
    )
    rows = [r for r in audit.rows(world.store) if r["detail"].get("request") == rid]
    assert [r["outcome"] for r in rows if r["outcome"] != "refused"][-3:] == [
        "sending",
        "outcome unknown",
        "failed",
    ]
    refused = [r["detail"]["reason"] for r in rows if r["outcome"] == "refused"]
    assert refused == ["request is outcome unknown", "request is failed"]
    by_operator = [r for r in audit.rows(world.store) if r["actor"] == OPERATOR][-1]
    assert (by_operator["action"], by_operator["outcome"]) == ("approvals resolve", "refused")
    assert by_operator["detail"]["args"] == {"id": rid, "resolution": "failed"}
