"""`LOG_FORMAT=json`: every line `xbooker-bot serve` writes in a whole scenario is one JSON
object, no secret is in any of them, and each line written while a command runs
carries that command's correlation id and name."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import httpx

from bot import logs
from bot.secret import Secret
from bot.store import Store
from bot.store.tokens import RefreshTokenStore, TokenKey
from tests.helpers import CREDS
from tests.serving import Served
from tests.world import ADMIN, ADMIN2, SIGNING_SECRET

FIELDS = {"time", "level", "logger", "message", "correlation", "command"}


def test_a_whole_scenario_logs_json_lines_without_secrets(sim_server, fake_slack, tmp_path):
    sim = sim_server.simulator
    served = Served(
        sim_server,
        fake_slack,
        tmp_path,
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        XBOOKER_BOT_ADMINS=f"{ADMIN},{ADMIN2}",
    )
    store = Store(served.db)  # a refused stored token: the first command re-issues it
    foreign = sim.issue_refresh_out_of_band()
    key = TokenKey(sim_server.url, CREDS.organization_id, CREDS.client_id)
    RefreshTokenStore(store, key).save(Secret(foreign), 0, time.time() - 3600)
    store.close()
    served.start()
    try:
        bob = sorted(m["id"] for m in sim.members.values() if m["role"] == "member")[0]
        served.ask("org", ADMIN)
        sim.fail_next(1)
        served.ask("org", ADMIN)  # retried once: the retry's line is the command's
        served.ask("members show mem_nobody", ADMIN)
        served.ask("help", ADMIN)
        served.ask(f"members remove {bob}", ADMIN)
        served.ask("approvals approve 1", ADMIN2)
        assert httpx.post(f"{served.url}/slack/events", content=b"x=1").status_code == 401
        served.wait_audit_rows(9)  # eight commands, and the re-issue of the refused token
    finally:
        output = served.stop()
    store = Store(served.db)
    refresh = store.query_one("SELECT token FROM refresh_tokens")["token"]
    store.close()

    lines = [json.loads(line) for line in output.splitlines()]  # every line parses
    assert len(lines) > 20
    for line in lines:
        assert set(line) >= FIELDS, line
    secrets = [
        CREDS.client_secret.reveal(),
        SIGNING_SECRET,
        served.env["SLACK_BOT_TOKEN"],
        foreign,
        refresh,
        *sim._access,
        f"{fake_slack.url}/response",
    ]
    for secret in secrets:
        assert secret not in output

    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's too
    done = [line for line in lines if re.match(r"command\b.* by U", line["message"])]
    assert len(done) == 5  # org twice, members show, help, approvals approve
    for line in done:  # the engine's line for each command names its own ref
        ref = re.search(r"\(ref ([0-9a-f]+)\)", line["message"]).group(1)
        assert line["correlation"] == ref
    first, second = (line for line in done if line["message"].startswith("command org show"))
    assert first["command"] == second["command"] == "org show"
    by_ref = {}
    for line in lines:
        by_ref.setdefault(line["correlation"], []).append(line["message"])
    assert any("re-issued" in m for m in by_ref[first["correlation"]])
    assert any("retry 1 of" in m for m in by_ref[second["correlation"]])


def test_json_lines_scrub_secrets_and_keep_tracebacks_on_one_line():
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    logs.setup("INFO", stream, fmt="json")
    try:
        secret = Secret("client-secret-value-1234")
        log = logging.getLogger("bot.test")
        with logs.command_scope("abcd1234", "org show"):
            log.info("using %s\nacross lines", secret.reveal())
            try:
                raise ValueError(f"boom {secret.reveal()}")
            except ValueError:
                log.exception("failed")
        log.info("outside")
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_xbooker_bot", False):
                root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    assert lines[0]["message"] == "using [redacted] across lines"
    assert lines[0]["correlation"] == "abcd1234" and lines[0]["command"] == "org show"
    assert "ValueError: boom [redacted]" in lines[1]["exception"]
    assert lines[2]["correlation"] is None and lines[2]["command"] is None
    assert "client-secret-value-1234" not in stream.getvalue()


def test_no_character_splits_a_record_into_two_lines():
    """U+2028, U+0085 and the other line separators a log reader splits at never reach
    the output raw, in either format."""
    import io
    import logging

    from bot import logs

    for formatter in (logs.JsonFormatter(), logging.Formatter(logs.FORMAT)):
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        logger = logging.getLogger("tests.lines")
        logger.addHandler(handler)
        try:
            logger.warning("one\u2028two\x85three\nfour\rfive\u2029six %s", "seven\vend")
        finally:
            logger.removeHandler(handler)
        assert len(out.getvalue().splitlines()) == 1
