"""Replies go only to Slack's response_url hosts (or loopback), over pooled connections."""

from __future__ import annotations

import pytest

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


def test_send_refuses_and_reports(fake_slack, caplog):
    responder = Responder()
    try:
        assert responder.send(fake_slack.response_url("ok"), {"text": "hi"}, "ref1")
        assert not responder.send("https://evil.example/x", {"text": "hi"}, "ref2")
        fake_slack.response_status = 404
        assert not responder.send(fake_slack.response_url("gone"), {"text": "hi"}, "ref3")
        assert not responder.send("http://127.0.0.1:9/nothing", {"text": "hi"}, "ref4")
    finally:
        responder.close()
    assert [p for p, _ in fake_slack.responses] == ["/response/ok", "/response/gone"]
    assert "evil.example" not in caplog.text and "/response/gone" not in caplog.text
    assert "HTTP 404" in caplog.text and "(ref ref4)" in caplog.text
