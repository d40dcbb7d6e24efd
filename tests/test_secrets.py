"""Secrets never reach logs, reprs or exception text, even at DEBUG."""

from __future__ import annotations

import io
import logging

import pytest

from bot import logs
from bot.secret import Secret
from bot.xbooker import errors
from tests.helpers import CREDS


def _all_secrets(sim) -> list[str]:
    return [CREDS.client_secret.reveal(), *sim._refresh, *sim._access]


def test_no_secret_in_caplog_or_handler_output_at_debug(sim, client, clock, wall, caplog):
    stream = io.StringIO()
    logs.setup("DEBUG", stream)
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # the noisiest case on purpose
    try:
        client.organization()
        clock.advance(200)
        client.list_members()
        sim.issue_refresh_out_of_band()
        wall.advance(61)
        client.organization()
        sim.fail_next(1)
        with pytest.raises(errors.OutcomeUnknownError):
            client.add_member("x@y.example")
        logging.getLogger("test").debug(
            "careless: %s %r", {"Authorization": "Bearer abcdefghijk"}, client.tokens
        )
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_xbooker_bot", False):
                root.removeHandler(handler)
    secrets = _all_secrets(sim)
    assert len(secrets) >= 4
    text = caplog.text + stream.getvalue()
    assert "re-issued" in text
    for value in secrets:
        assert value not in text
    assert "abcdefghijk" not in text


def test_secret_repr_and_pickling():
    s = Secret("super-secret-value")
    assert "super-secret-value" not in repr(s) + str(s) + f"{s}" + repr([s]) + repr({"k": s})
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


def test_exceptions_and_reprs_hold_no_secrets(sim, client, make_client, wall):
    from bot.config import XBookerCredentials

    bad = make_client(
        credentials=XBookerCredentials(
            CREDS.organization_id, CREDS.client_id, Secret("wrong-secret-abc")
        )
    )
    with pytest.raises(errors.CredentialsError) as info:
        bad.organization()
    wall.advance(61)  # the refused request still counts as this app's issuance attempt
    client.organization()
    text = str(info.value) + repr(info.value) + repr(client) + repr(client.tokens)
    text += repr(client.tokens.state()) + repr(CREDS)
    for value in [*_all_secrets(sim), "wrong-secret-abc"]:
        assert value not in text


def test_scrub_recognises_slack_tokens_and_response_urls():
    line = (
        "token=xoxb-123-456-abc app=xapp-A-2-b "
        "url=https://hooks.slack.com/commands/T1/2/abc response_url=https://x/y client-secret: zz9"
    )
    out = logs.scrub(line)
    for leaked in ("xoxb-123", "xapp-A-2", "hooks.slack.com/commands", "https://x/y", "zz9"):
        assert leaked not in out
