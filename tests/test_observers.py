"""The hooks the metrics (and the log channel) hang on: the token manager's
``on_reissue``, the store's ``on_commit``, and the metered Slack client."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.metered import MeteredWebClient
from bot.store import Store


def test_on_reissue_listeners_get_the_generation_outside_the_lock(sim, client, wall):
    seen: list[tuple[int, str]] = []

    def listener(generation: int) -> None:
        # The manager's lock is free: a listener may use the client (the log channel does).
        seen.append((generation, client.tokens.token().token.reveal()[:5]))

    def broken(generation: int) -> None:
        raise RuntimeError("a listener's bug")

    client.tokens.on_reissue += [broken, listener]
    client.organization()  # the first token is issued, not re-issued: no call
    assert seen == []
    sim.issue_refresh_out_of_band()
    wall.advance(61)
    assert client.organization().id == "org_7d3f2a"  # the broken listener changed nothing
    assert seen == [(2, "xbat_")]


def test_on_commit_runs_after_the_commit_and_never_for_a_rollback(tmp_path):
    store = Store(tmp_path / "bot.db")
    seen: list[str] = []
    with store.write() as db:
        db.conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
        store.on_commit(lambda: seen.append(store.query_one("SELECT value FROM meta")["value"]))
        assert seen == []
    assert seen == ["1"]  # after the commit: the row is there to be read
    with pytest.raises(ValueError), store.write() as db:
        store.on_commit(lambda: seen.append("rolled back"))
        raise ValueError
    assert seen == ["1"]
    with pytest.raises(RuntimeError, match="outside a write"):
        store.on_commit(lambda: None)
    store.close()


def test_the_metered_client_reports_each_failed_call(fake_slack):
    client = MeteredWebClient(token="xoxb-metered-0000", base_url=fake_slack.api_url)
    failed: list[tuple[str, str]] = []
    client.on_error.append(lambda method, error: failed.append((method, error)))
    fake_slack.errors["chat.postMessage"] = ["channel_not_found"]
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOPE", text="hello")
    client.chat_postMessage(channel="C0OK", text="hello")
    assert failed == [("chat.postMessage", "channel_not_found")]
    same = MeteredWebClient.like(client)
    assert (same.token, same.base_url, same.timeout) == (client.token, client.base_url, 30)
