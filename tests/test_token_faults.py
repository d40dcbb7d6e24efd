"""Tokens under faults: slow or failing issuance, dead lease holders, months of access tokens.

Issuing a refresh token invalidates the previous one, so the rules here are about
never asking twice when the first request may have worked. Real HTTP against the
simulator; the manager's clocks are the injected fake ones unless a test needs a
real process to die.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from bot import logs
from bot.store.tokens import RefreshTokenStore, TokenKey
from bot.xbooker import errors
from tests.helpers import CREDS

# Token calls give up well before the simulator answers: X Booker has handled the
# request (and minted a token) by the time the bot stops waiting.
TIGHT = httpx.Timeout(0.5, connect=0.5)
SLOW = 1.0


def _namespace() -> str:
    """This process's PID namespace, as lease holder names carry it."""
    return str(os.stat("/proc/self/ns/pid").st_ino)


def refresh_store(store, sim_server) -> RefreshTokenStore:
    return RefreshTokenStore(
        store, TokenKey(sim_server.url, CREDS.organization_id, CREDS.client_id)
    )


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_slow_issuance_is_asked_for_at_most_once_a_minute(sim, make_client, clock, wall):
    """The reproduction: refresh answers after the token timeout, one lookup every 15 s
    for 75 s. Before, each lookup asked up to three times (8 tokens, each revoking the
    last); now one request a minute, none retried."""
    client = make_client(auth_timeout=TIGHT)
    sim.latency = SLOW
    issued_at: list[float] = []
    outcomes: list[type] = []
    try:
        for _ in range(6):  # t = 0, 15, ..., 75 s
            before = sim.count("refresh")
            with pytest.raises(errors.XBookerError) as info:
                client.organization()
            outcomes.append(type(info.value))
            after = sim.count("refresh")
            assert after - before <= 1, "an issuance was retried"
            if after > before:
                issued_at.append(wall())
            clock.advance(15)
            wall.advance(15)
    finally:
        sim.latency = 0
    assert len(sim._refresh) == len(issued_at) == 2  # X Booker did mint on each request
    assert issued_at[1] - issued_at[0] >= 60
    refused = outcomes.count(errors.ReissueRefusedError)
    assert outcomes.count(errors.TransportError) == 2 and refused == 4, outcomes
    # Once X Booker answers in time again, one more request and the bot works.
    wall.advance(60)
    clock.advance(5)
    assert client.organization().id == "org_7d3f2a"
    assert (sim.count("refresh"), sim.count("access")) == (3, 1)


def test_timed_out_issuance_is_a_clear_error_not_outcome_unknown(sim, make_client):
    client = make_client(auth_timeout=TIGHT)
    sim.latency = SLOW
    try:
        with pytest.raises(errors.TransportError) as info:
            client.organization()
    finally:
        sim.latency = 0
    assert type(info.value) is errors.TransportError  # not "your write may have been applied"
    assert info.value.operation == "issue refresh token"
    assert "refresh token" in info.value.message
    assert sim.count("refresh") == 1


@pytest.mark.parametrize("fault", ["drop", "html 502"])
def test_ambiguous_issuance_failures_are_not_retried(sim, client, fault):
    if fault == "drop":
        sim.drop_next(1)
        expected: type = errors.TransportError
    else:
        sim.fail_next(1, status=502, html=True)
        expected = errors.ServerError
    with pytest.raises(expected) as info:
        client.organization()
    assert type(info.value) is expected
    assert sim.count("refresh") == 1


def test_attempts_count_not_successes(sim, sim_server, store, make_client, clock, wall):
    """A request that got no answer left no token in the store, but may have revoked
    the previous one at X Booker: the minute is counted from it, by every process."""
    client = make_client(auth_timeout=TIGHT)
    sim.latency = SLOW
    try:
        with pytest.raises(errors.TransportError):
            client.organization()
    finally:
        sim.latency = 0
    tokens = refresh_store(store, sim_server)
    assert tokens.load() is None
    assert tokens.last_attempt() == wall()  # recorded, although nothing was stored
    wall.advance(30)
    clock.advance(5)  # past the short cache of the failure
    with pytest.raises(errors.ReissueRefusedError) as info:
        client.organization()
    assert "30 s ago" in info.value.message
    with pytest.raises(errors.ReissueRefusedError):
        make_client().organization()  # a restart, or another process on the same file
    assert sim.count("refresh") == 1
    wall.advance(31)
    clock.advance(5)
    assert client.organization().id == "org_7d3f2a"
    assert (sim.count("refresh"), sim.count("access")) == (2, 1)


def test_stored_token_lost_to_our_own_unanswered_request(sim, client, clock, wall):
    """The stored token is superseded; our replacement request is handled by X Booker
    but answered 502, so the new token is lost and the stored one is dead too. The
    stored token is old enough to replace, yet the failed request counts: no new one
    within the minute."""
    client.organization()
    wall.advance(61)
    sim.issue_refresh_out_of_band()
    clock.advance(200)
    sim.fail_after_apply(1, endpoint="refresh")
    with pytest.raises(errors.ServerError):
        client.organization()  # access refused, a refresh token minted, the answer lost
    assert (sim.count("refresh"), len(sim._refresh)) == (2, 3)
    clock.advance(5)
    wall.advance(10)
    with pytest.raises(errors.ReissueRefusedError) as info:
        client.organization()
    assert "10 s ago" in info.value.message
    assert sim.count("refresh") == 2
    clock.advance(5)
    wall.advance(51)
    assert client.organization().id == "org_7d3f2a"
    assert sim.count("refresh") == 3


def test_lease_of_a_dead_local_process_is_taken_over_at_once(
    sim, sim_server, store, make_client, clock, wall
):
    tokens = refresh_store(store, sim_server)
    holder = f"{socket.gethostname()}:{_namespace()}:{dead_pid()}:deadbeef"
    assert tokens.acquire_lease(holder, wall(), 10**9)  # would outlive us all
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    client = make_client(sleep=sleep)
    assert client.organization().id == "org_7d3f2a"
    assert waited == []
    assert (sim.count("refresh"), sim.count("access")) == (1, 1)


@pytest.mark.parametrize(
    "holder",
    [
        f"{socket.gethostname()}:{_namespace()}:{os.getppid()}:alive",  # live, this host
        f"{socket.gethostname()}:{_namespace()}:{os.getpid()}:othermgr",  # this process
        f"{socket.gethostname()}:1:{dead_pid()}:otherns",  # another PID namespace
        "elsewhere.invalid:1:1:remote",  # another host: its pids mean nothing here
        "12345:legacyfmt",  # a holder name without a host: never presumed dead
    ],
)
def test_lease_of_a_live_or_unknown_holder_is_respected(
    sim, sim_server, store, make_client, clock, wall, holder
):
    tokens = refresh_store(store, sim_server)
    assert tokens.acquire_lease(holder, wall(), 10**9)
    client = make_client(sleep=clock.advance)  # waiting moves the fake clock
    with pytest.raises(errors.ReissueRefusedError) as info:
        client.organization()
    assert "lease" in info.value.message
    assert sim.count("refresh") == 0


def test_lease_holder_names_host_namespace_and_pid(client):
    host, namespace, pid, _ = client.tokens._holder.rsplit(":", 3)
    assert (host, namespace, int(pid)) == (socket.gethostname(), _namespace(), os.getpid())


def test_kill_9_during_issuance_does_not_stall_the_restart(sim, sim_server, store, make_client):
    """A bot killed while its refresh request is in flight: the restart takes the lease
    at once. Its request may have minted a token, so the minute still runs from it:
    the restart answers at once with the refusal, and issues once the minute is up."""
    script = (
        "import sys\n"
        "from bot.store import Store\n"
        "from bot.xbooker.client import XBookerClient\n"
        "from tests.helpers import CREDS\n"
        "XBookerClient(sys.argv[1], CREDS, Store(sys.argv[2])).organization()\n"
    )
    sim.latency = 20.0
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen(
        [sys.executable, "-c", script, sim_server.url, str(store.path)], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while sim.count("refresh") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.count("refresh") == 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        sim.latency = 0
    lease = store.query_one("SELECT holder, expires_at, attempted_at FROM leases")
    assert lease["holder"].rsplit(":", 2)[1] == str(child.pid)
    assert lease["expires_at"] > time.time()  # still live by its expiry

    restarted = make_client(clock=time.monotonic, wall=time.time, sleep=time.sleep)
    started = time.monotonic()
    with pytest.raises(errors.ReissueRefusedError) as info:
        restarted.organization()
    assert time.monotonic() - started < 2  # no wait for the dead process's lease
    assert "requested" in info.value.message
    assert sim.count("refresh") == 1


# -- the log scrubber ------------------------------------------------------------


def test_scrubber_forgets_expired_access_tokens_and_stays_small():
    """Three months of access tokens, one every 90 s, each living 3 minutes."""
    kept = "long-lived-" + secrets.token_hex(8)
    logs.register_secret(kept)
    start = time.monotonic()
    minted: list[str] = []
    sizes: list[int] = []
    for n in range(90 * 24 * 40):  # 90 days, one token every 90 s
        now = start + 90.0 * n
        token = "xbat_" + secrets.token_urlsafe(32)
        logs.register_secret(token, expires_at=now + 180.0, now=now)
        minted.append(token)
        if n % 9000 == 10:  # once earlier tests' tokens have expired too
            sizes.append(len(logs._compiled().pattern))
    live = [v for v, until in logs._known.items() if until is not None]
    assert len(live) <= 3, len(live)
    assert max(sizes) - min(sizes) < 200, sizes  # constant, not growing with uptime
    line = f"old {minted[0]} new {minted[-1]} kept {kept}"
    assert logs.scrub(line) == f"old {minted[0]} new [redacted] kept [redacted]"


def test_scrubber_keeps_secrets_without_expiry():
    value = "refresh-like-" + secrets.token_hex(8)
    logs.register_secret(value)
    logs.register_secret(value, expires_at=0.0)  # nothing shortens a secret kept for good
    logs.register_secret("trigger-" + secrets.token_hex(8), now=time.monotonic() + 10**9)
    assert logs._known[value] is None
    assert logs.scrub(value) == "[redacted]"


def test_manager_registers_access_tokens_with_an_expiry(sim, client):
    client.organization()
    (access,) = sim._access
    (refresh,) = sim._refresh
    assert logs._known[access] is not None
    assert logs._known[access] > time.monotonic() + 100  # the lifetime, on the real clock
    assert logs._known[refresh] is None
    assert logs._known[CREDS.client_secret.reveal()] is None
    assert logs.scrub(f"{access} {refresh}") == "[redacted] [redacted]"


def test_a_wall_clock_stepped_back_does_not_block_issuance(sim, client, wall):
    client.organization()
    wall.advance(-3600)  # NTP steps the clock back an hour
    sim.issue_refresh_out_of_band()  # our refresh token is superseded meanwhile
    assert client.organization().id == "org_7d3f2a"
