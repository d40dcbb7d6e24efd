"""Replies go only to Slack's response_url hosts (or loopback), over pooled connections."""

from __future__ import annotations

import io
import logging

import pytest

from bot import logs
from bot.slack.responder import Responder, _allowed


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
