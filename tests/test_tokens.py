"""Token-manager rules (docs/architecture.md), each over real HTTP against the simulator."""

from __future__ import annotations

import threading

import pytest

from bot.store import Store
from bot.xbooker import errors
from bot.xbooker.tokens import Windows
from bot.xbooker.transport import RetryPolicy
from tests.helpers import run_threads


def counts(sim) -> tuple[int, int]:
    return sim.count("refresh"), sim.count("access")


def test_windows_for_two_minute_tokens():
    w = Windows.for_lifetime(120)
    assert (w.lifetime, w.advisory, w.mandatory) == (120, 30, 15)
    tiny = Windows.for_lifetime(2)
    assert 0 < tiny.mandatory < tiny.advisory < tiny.lifetime


def test_cold_start_costs_one_refresh_and_one_access(sim, client):
    client.organization()
    client.list_members()
    assert counts(sim) == (1, 1)


def test_restart_on_same_database_issues_no_refresh_token(sim, sim_server, make_client, tmp_path):
    make_client().organization()
    restarted = make_client()  # a new manager, same database: what a restart does
    restarted.organization()
    assert counts(sim) == (1, 2)


def test_refresh_token_is_keyed_by_base_url_org_and_client(sim, sim_server, store, make_client):
    make_client().organization()
    from bot.store.tokens import RefreshTokenStore, TokenKey

    other = RefreshTokenStore(store, TokenKey("https://elsewhere.example", "org_7d3f2a", "x"))
    assert other.load() is None


def test_token_reused_until_advisory_window(sim, client, clock):
    client.organization()
    clock.advance(89)
    client.organization()
    assert counts(sim) == (1, 1)
    clock.advance(2)  # 91 s: advisory window, renewed by this caller
    client.organization()
    assert counts(sim) == (1, 2)


def test_advisory_renewal_does_not_block_other_callers(sim, client, clock):
    client.organization()
    clock.advance(95)
    sim.latency = 0.4
    first = client.tokens._snapshot
    renewer = threading.Thread(target=client.tokens.token)
    renewer.start()
    while sim.count("access") < 2:  # the renewal request has reached X Booker
        threading.Event().wait(0.005)
    during = client.tokens.token()  # must not wait for the renewal in flight
    renewer.join()
    sim.latency = 0
    assert during is first
    assert client.tokens.token().generation == first.generation + 1


def test_advisory_failure_keeps_current_token(sim, client, clock):
    client.organization()
    clock.advance(95)
    sim.fail_next(3)  # every attempt of the early renewal fails
    client.organization()
    assert counts(sim) == (1, 4)
    assert sim.count("show organization") == 2


def test_32_concurrent_callers_on_expired_token_make_one_access_call(sim, client, clock):
    client.organization()
    clock.advance(200)
    results = run_threads(32, client.organization)
    assert all(r.id == "org_7d3f2a" for r in results), results
    assert counts(sim) == (1, 2)


def test_mandatory_failure_is_shared_not_repeated(sim, client, clock):
    client.organization()
    clock.advance(110)
    sim.fail_next(1000)
    results = run_threads(16, client.tokens.token)
    assert all(isinstance(r, errors.ServerError) for r in results)
    assert sim.count("access") == 1 + 3  # the first token, then one renewal of 3 attempts
    sim.fail_next(0)


def test_access_token_expired_403_renews_once_and_retries(sim, client):
    client.organization()
    sim.access_ttl = 5
    sim.advance(6)  # X Booker now considers our token expired before we do
    results = run_threads(32, client.organization)
    assert all(r.id == "org_7d3f2a" for r in results), results
    assert counts(sim) == (1, 2)
    # Each caller retries at most once (a late one may already get the new token).
    assert 1 + 32 < sim.count("show organization") <= 1 + 32 * 2


def test_second_access_token_expired_is_not_retried_again(sim, client):
    client.organization()
    sim.access_ttl = 0  # every access token is already expired
    with pytest.raises(errors.TokenError) as info:
        client.organization()
    assert info.value.message == "Access token expired"
    assert sim.count("show organization") == 1 + 2


def test_superseded_refresh_token_recovers_with_exactly_one_new_one(sim, client, wall):
    client.organization()
    sim.issue_refresh_out_of_band()
    wall.advance(61)
    assert client.organization().id == "org_7d3f2a"
    assert counts(sim) == (2, 2)  # cold start, then exactly one new refresh token
    assert client.tokens.counters.reissues == 1


def test_reissue_refused_within_a_minute(sim, client, clock, wall):
    client.organization()
    sim.issue_refresh_out_of_band()
    wall.advance(10)
    with pytest.raises(errors.ReissueRefusedError):
        client.organization()
    assert sim.count("refresh") == 1  # ours at cold start only
    wall.advance(60)
    clock.advance(5)  # past the short cache of the refusal
    assert client.organization().id == "org_7d3f2a"


def test_refresh_token_from_another_location_is_replaced(sim, sim_server, store, make_client, wall):
    """`You are't permitted ...` at /tokens/access: this location needs its own token."""
    from bot.secret import Secret
    from bot.store.tokens import RefreshTokenStore, TokenKey
    from tests.helpers import CREDS

    foreign = sim.issue_refresh_out_of_band()  # bound to another caller
    key = TokenKey(sim_server.url, CREDS.organization_id, CREDS.client_id)
    RefreshTokenStore(store, key).save(Secret(foreign), 0, wall() - 3600)
    client = make_client()
    assert client.organization().id == "org_7d3f2a"
    assert counts(sim) == (1, 2)  # one refused access call, one new refresh, one access


def test_two_managers_sharing_a_database_do_not_ping_pong(
    sim, sim_server, make_client, tmp_path, wall
):
    a = make_client(store=Store(tmp_path / "shared.db"))
    b = make_client(store=Store(tmp_path / "shared.db"))
    run_threads(2, lambda: [c.organization() for c in (a, b)])
    assert sim.count("refresh") == 1
    sim.issue_refresh_out_of_band()
    wall.advance(61)
    results = run_threads(16, lambda: (a if threading.get_ident() % 2 else b).organization())
    assert all(r.id == "org_7d3f2a" for r in results), results
    assert sim.count("refresh") == 2  # cold start, one recovery (out-of-band is not HTTP)
    for _ in range(5):
        a.organization()
        b.organization()
    assert sim.count("refresh") == 2


def test_two_processes_sharing_a_database_issue_one_refresh_token(sim, sim_server, tmp_path):
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from bot.store import Store\n"
        "from bot.xbooker.client import XBookerClient\n"
        "from tests.helpers import CREDS\n"
        "c = XBookerClient(sys.argv[1], CREDS, Store(sys.argv[2]))\n"
        "for _ in range(20):\n"
        "    c.organization()\n"
    )
    db = str(tmp_path / "shared.db")
    Store(db).close()  # created once, as serve would have
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, sim_server.url, db], env=env)
        for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert sim.count("refresh") == 1
    assert sim.count("show organization") == 60


def test_app_expired_gets_one_new_refresh_token_then_is_final(sim, client, clock, wall):
    client.organization()
    sim.expire_app()
    clock.advance(200)
    wall.advance(61)
    with pytest.raises(errors.AppUnavailableError) as info:
        client.organization()
    assert info.value.message == (
        "Your refresh token is expired, please issue another refresh token first."
    )
    assert counts(sim) == (2, 3)  # one new refresh token, one more access attempt
    for _ in range(10):  # no retry storm
        with pytest.raises(errors.AppUnavailableError):
            client.organization()
    assert counts(sim) == (2, 3)
    clock.advance(61)
    with pytest.raises(errors.AppUnavailableError):
        client.organization()
    assert sim.count("access") == 4  # at most one attempt a minute


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("client_secret", "Invalid client secret"),
        ("client_id", "Client not found, or invalid client id"),
    ],
)
def test_bad_credentials_are_final(sim, make_client, clock, wall, field, message):
    from bot.config import XBookerCredentials
    from bot.secret import Secret
    from tests.helpers import CREDS

    bad = {
        "organization_id": CREDS.organization_id,
        "client_id": "wrong-client" if field == "client_id" else CREDS.client_id,
        "client_secret": Secret("wrong-secret-123")
        if field == "client_secret"
        else CREDS.client_secret,
    }
    client = make_client(credentials=XBookerCredentials(**bad))
    for _ in range(5):
        with pytest.raises(errors.CredentialsError) as info:
            client.organization()
        assert info.value.message == message
    assert counts(sim) == (1, 0)
    clock.advance(61)
    wall.advance(61)  # the refused request counts as an issuance attempt, too
    with pytest.raises(errors.CredentialsError):
        client.organization()
    assert counts(sim) == (2, 0)


def test_wrong_organization_id_is_reported_verbatim(sim, make_client):
    from bot.config import XBookerCredentials
    from tests.helpers import CREDS

    creds = XBookerCredentials("org_wrong", CREDS.client_id, CREDS.client_secret)
    with pytest.raises(errors.CredentialsError) as info:
        make_client(credentials=creds).organization()
    assert info.value.message == "Organization not found, invalid organization id"
    assert info.value.status == 403


def test_removed_app_is_final(sim, client, clock):
    client.organization()
    sim.remove_app()
    with pytest.raises(errors.AppUnavailableError) as info:
        client.organization()
    assert info.value.message == "Delegated app not found, invalid client id"


def test_access_token_calls_retry_500_bursts(sim, client, clock):
    client.organization()
    clock.advance(200)
    sim.fail_next(2)  # the renewal fails twice, then succeeds
    assert client.organization().id == "org_7d3f2a"
    assert counts(sim) == (1, 1 + 3)


def test_access_token_calls_give_up_after_bounded_retries(sim, client, clock):
    client.organization()
    clock.advance(200)
    sim.fail_next(10)
    with pytest.raises(errors.ServerError):
        client.organization()
    assert counts(sim) == (1, 1 + 3)
    sim.fail_next(0)


def test_refresh_token_500_is_not_retried(sim, client, clock, wall):
    """A 5xx may come after X Booker minted the token: asking again would revoke it."""
    sim.fail_next(1)
    with pytest.raises(errors.ServerError) as info:
        client.organization()
    assert info.value.operation == "issue refresh token"
    assert counts(sim) == (1, 0)
    clock.advance(5)  # past the short cache of the failure
    with pytest.raises(errors.ReissueRefusedError):
        client.organization()
    assert counts(sim) == (1, 0)
    wall.advance(61)
    clock.advance(5)
    assert client.organization().id == "org_7d3f2a"
    assert counts(sim) == (2, 1)


def test_refresh_token_connect_failure_is_retried(store, clock, wall):
    """A refused connection provably never reached X Booker, so issuance may retry it:
    nothing listens on the port until the retry's back-off opens it."""
    from bot.simulator import Simulator, SimulatorServer
    from bot.xbooker.client import XBookerClient
    from tests.helpers import CREDS, free_port

    port = free_port()
    late = Simulator()
    opened: list[SimulatorServer] = []

    def open_port(_seconds: float) -> None:
        if not opened:
            opened.append(SimulatorServer(late, port=port).start())

    retry = RetryPolicy(sleep=open_port, rng=lambda: 0.5)
    client = XBookerClient(
        f"http://127.0.0.1:{port}", CREDS, store, retry=retry, clock=clock, wall=wall
    )
    try:
        assert client.organization().id == "org_7d3f2a"
    finally:
        client.close()
        for server in opened:
            server.stop()
    assert (late.count("refresh"), late.count("access")) == (1, 1)


def test_wall_clock_jump_has_no_effect(sim, client, wall):
    client.organization()
    wall.advance(-86400)
    client.organization()
    wall.advance(10 * 86400)
    client.organization()
    assert counts(sim) == (1, 1)
