"""Slack's encoding, decoded before parsing."""

from __future__ import annotations

import pytest

from bot.slack.decode import decode


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("&amp;lt;", "&lt;"),
        ("<mailto:bob@x.example|bob@x.example>", "bob@x.example"),
        ("<https://a.example>", "https://a.example"),
        ("<https://a.example|a.example>", "https://a.example"),
        ("<@U123ABC|alice>", "U123ABC"),
        ("<@W0ENT>", "W0ENT"),
        ("<#C0CHAN|ops>", "C0CHAN"),
        ("<!channel> <!here> <!everyone>", "@channel @here @everyone"),
        ("<!subteam^S123|@oncall>", "@oncall"),
        ("name=“Ada Lovelace”", 'name="Ada Lovelace"'),
        ("O’Brien", "O'Brien"),
        ("plain text", "plain text"),
    ],
)
def test_decode(raw, plain):
    assert decode(raw) == plain
