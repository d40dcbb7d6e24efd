"""End to end through `xbooker-bot serve` as a process: gunicorn, WSGI, Bolt, drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.helpers import free_port
from tests.slack_requests import command_body, sign
from tests.world import ADMIN, SIGNING_SECRET, settings_env


@pytest.fixture
def server(sim_server, fake_slack, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        **settings_env(sim_server.url, fake_slack, str(tmp_path / "serve.db")),
        "SLACK_TEAM_ID": "T0TEAM",
        "PYTHON_DOTENV_DISABLED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("serve did not start: " + proc.stdout.read())
    yield proc, url
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def post_command(url: str, fake_slack, text: str, name: str, secret: str = SIGNING_SECRET):
    body = command_body(text, ADMIN, "T0TEAM", "C1", fake_slack.response_url(name))
    return httpx.post(f"{url}/slack/events", content=body, headers=sign(secret, body), timeout=5)


def test_serve_end_to_end(server, fake_slack, sim):
    _, url = server
    health = httpx.get(f"{url}/healthz").json()
    assert health["ok"] is True and "version" in health
    ack = post_command(url, fake_slack, "org", "e2e")
    assert ack.status_code == 200
    posts = fake_slack.wait_responses(1)
    assert "Harbour Lane Studios" in posts[0]["text"]
    assert post_command(url, fake_slack, "org", "forged", "wrong-secret").status_code == 401
    assert httpx.get(f"{url}/slack/events").status_code == 405
    assert httpx.get(f"{url}/nope").status_code == 404
    help_ack = post_command(url, fake_slack, "help", "help")
    assert "members add" in help_ack.json()["text"]
    assert sim.count("show organization") == 1


def test_sigterm_drains_work_in_flight(server, fake_slack, sim):
    proc, url = server
    sim.latency = 1.5
    ack = post_command(url, fake_slack, "members list", "slow")
    assert ack.status_code == 200
    time.sleep(0.2)  # the lazy listener is now waiting on X Booker
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    sim.latency = 0
    posts = fake_slack.wait_responses(1, timeout=5)
    assert "Members: page 1" in posts[0]["text"]
    output = proc.stdout.read()
    assert "xoxb-test" not in output and SIGNING_SECRET not in output


def test_serve_refuses_to_start_without_signing_secret(sim_server, fake_slack, tmp_path):
    env = {
        **os.environ,
        **settings_env(sim_server.url, fake_slack, str(tmp_path / "x.db")),
        "PYTHON_DOTENV_DISABLED": "1",
    }
    del env["SLACK_SIGNING_SECRET"]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET: is required" in result.stderr


def _signed_raw(body: bytes, timestamp: str | None = None) -> dict:
    import hashlib
    import hmac

    ts = timestamp or str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": "v0=" + digest.hexdigest(),
    }


def test_junk_gets_400_or_401_and_no_traceback(server):
    proc, url = server
    events = f"{url}/slack/events"
    cases = [
        (b"{", {"content-type": "application/json"}, 401),  # unsigned
        (b"payload=%7Bjunk", {}, 401),
        (b"\xff\xfe\x00junk", {}, 401),
        (b"token=x", {"x-slack-request-timestamp": "abc", "x-slack-signature": "v0=00"}, 401),
        (b"{", {**_signed_raw(b"{"), "content-type": "application/json"}, 400),  # signed junk
        (b"payload=%7Bjunk", _signed_raw(b"payload=%7Bjunk"), 400),
        (b"\xff\xfe\x00junk", _signed_raw(b"\xff\xfe\x00junk"), 400),
        (b"token=x", _signed_raw(b"token=x", str(int(time.time()) - 3600)), 401),  # stale
        (b"token=x", {"x-slack-request-timestamp": "9" * 5000, "x-slack-signature": "v0=0"}, 401),
    ]
    for body in (  # signed, but not a shape Bolt can read
        b"[]",
        b"1",
        b"null",
        b"payload=1",
        b"payload=%5B%5D",
        b"a=1&payload=%7Bjunk",
        b"{junk",
        b'{"type":"block_actions","actions":[1]}',
        b"payload=" + b'{"type":"block_actions","actions":[1]}'.replace(b"{", b"%7B"),
    ):
        cases.append((body, _signed_raw(body), 400))
    smuggled = b"ssl_check=1&command=%2Fxbooker&text=org&user_id=UADMIN1&ssl_check=0"
    cases.append((smuggled, {}, 401))  # a command riding on the unsigned certificate check
    for body, headers, status in cases:
        assert httpx.post(events, content=body, headers=headers, timeout=5).status_code == status
    assert httpx.post(events, content=b"ssl_check=1&token=x", timeout=5).status_code == 200
    assert httpx.post(events, content=b"ssl_check=1&token=payload", timeout=5).status_code == 200
    body = command_body("help", ADMIN, "T0TEAM", "C1", "http://127.0.0.1:9/r")
    headers = sign(SIGNING_SECRET, body)
    assert httpx.post(events, content=body, headers=headers, timeout=5).status_code == 200
    replayed = httpx.post(events, content=body, headers=headers, timeout=5)
    assert replayed.status_code == 401  # the same signed request again: a replay
    assert httpx.get(f"{url}/healthz").status_code == 200
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=30)[0]
    assert "Traceback" not in output


def test_app_home_and_a_form_through_serve(server, fake_slack, sim_server):
    """The WSGI gate in front of Bolt takes Slack's JSON events and modal submissions
    as Slack signs them: a home is published, a typed bare command opens a form, and
    the form's error comes back on its field in the HTTP answer."""
    import json
    import urllib.parse

    _, url = server
    event = json.dumps(
        {
            "token": "x",
            "team_id": "T0TEAM",
            "api_app_id": "A0XBOOKER",
            "type": "event_callback",
            "event_id": "Ev0SERVE",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": ADMIN, "tab": "home", "channel": "D1"},
        }
    )
    headers = {**sign(SIGNING_SECRET, event), "content-type": "application/json"}
    assert httpx.post(f"{url}/slack/events", content=event, headers=headers).status_code == 200
    assert post_command(url, fake_slack, "members add", "form").status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        homes = fake_slack.calls_to("views.publish")
        forms = fake_slack.calls_to("views.open")
        if homes and forms:
            break
        time.sleep(0.05)
    assert homes and homes[0]["user_id"] == ADMIN
    assert "Your bot role" in json.dumps(homes[0]["view"])
    view_id = next(k for k in fake_slack.views if not k.startswith("home:"))
    view = fake_slack.views[view_id]
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": ADMIN, "username": "admin", "team_id": "T0TEAM"},
        "api_app_id": "A0XBOOKER",
        "token": "x",
        "trigger_id": "1.2.3",
        "view": {
            **view,
            "id": view_id,
            "state": {"values": {"email": {"value": {"type": "plain_text_input", "value": "x@"}}}},
        },
    }
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    answer = httpx.post(f"{url}/slack/events", content=body, headers=sign(SIGNING_SECRET, body))
    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert "email" in answer.json()["errors"]
