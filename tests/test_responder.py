"""Replies go only to Slack's response_url hosts (or loopback), over pooled connections."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from bot import logs
from bot.slack.responder import Responder, _allowed
from tests.helpers import LoopbackServer, QuietHandler, serving


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/commands/T1/2/abc", True),
        ("https://slack.com/x", True),
        ("http://hooks.slack.com/commands/x", False),
        ("https://hooks.slack.com.evil.example/x", False),
        ("https://evil.example/hooks.slack.com", False),
        ("http://127.0.0.1:8080/response/x", True),
        ("http://169.254.169.254/latest/meta-data", False),
        ("file:///etc/passwd", False),
        ("", False),
    ],
)
def test_only_slack_or_loopback(url, ok):
    assert _allowed(url) is ok


def test_send_refuses_and_reports(fake_slack):
    stream = io.StringIO()
    logs.setup("DEBUG", stream)  # production logging, at its most verbose
    responder = Responder()
    try:
        assert responder.send(fake_slack.response_url("ok"), {"text": "hi"}, "ref1")
        assert not responder.send("https://evil.example/x", {"text": "hi"}, "ref2")
        fake_slack.response_status = 404
        assert not responder.send(fake_slack.response_url("gone"), {"text": "hi"}, "ref3")
        assert not responder.send("http://127.0.0.1:9/nothing", {"text": "hi"}, "ref4")
    finally:
        responder.close()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_xbooker_bot", False):
                root.removeHandler(handler)
    assert [p for p, _ in fake_slack.responses] == ["/response/ok", "/response/gone"]
    text = stream.getvalue()
    assert "evil.example" not in text and "/response/" not in text
    assert "HTTP 404" in text and "(ref ref4)" in text


class _Slack(LoopbackServer):
    """A response_url endpoint that records each request; ``answer`` picks the reply."""

    def __init__(self, answer: str = "ok") -> None:
        self.answer = answer
        self.seen: list[tuple[str, dict, bytes, int]] = []  # path, headers, body, client port
        super().__init__(_SlackHandler)

    def url(self, path: str) -> str:
        return self.origin + path

    def handle_error(self, request, client_address) -> None:
        pass  # the client gave up on a slow answer: expected here


class _SlackHandler(QuietHandler):
    server: _Slack

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append((self.path, dict(self.headers), body, self.client_address[1]))
        if self.server.answer == "slow":
            time.sleep(2)
        if self.server.answer == "redirect":
            self.send_response(302)
            self.send_header("Location", "/stolen")
            self.send_header("Content-Length", "0")
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
        self.end_headers()
        if self.server.answer != "redirect":
            self.wfile.write(b"ok")


@pytest.fixture
def slack_endpoint():
    server = _Slack()
    with serving(server):
        yield server


def test_replies_are_json_over_one_kept_connection(slack_endpoint):
    responder = Responder()
    try:
        for n in range(3):
            assert responder.send(slack_endpoint.url(f"/r/{n}"), {"text": "héllo ✓"}, "ref")
    finally:
        responder.close()
    paths = [path for path, _, _, _ in slack_endpoint.seen]
    assert paths == ["/r/0", "/r/1", "/r/2"]
    _, headers, body, _ = slack_endpoint.seen[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("xbooker-bot/")
    assert json.loads(body) == {"text": "héllo ✓"}
    assert len({port for _, _, _, port in slack_endpoint.seen}) == 1  # kept alive


def test_a_redirect_is_not_followed(slack_endpoint):
    slack_endpoint.answer = "redirect"
    responder = Responder()
    try:
        assert not responder.send(slack_endpoint.url("/r/moved"), {"text": "hi"}, "ref")
    finally:
        responder.close()
    assert [path for path, _, _, _ in slack_endpoint.seen] == ["/r/moved"]


def test_a_reply_slack_does_not_answer_gives_up_at_the_timeout(slack_endpoint):
    slack_endpoint.answer = "slow"
    responder = Responder(timeout=0.3)
    started = time.monotonic()
    try:
        assert not responder.send(slack_endpoint.url("/r/slow"), {"text": "hi"}, "ref")
    finally:
        responder.close()
    assert time.monotonic() - started < 1.5
