from __future__ import annotations

import logging

import pytest

from bot import logs
from bot.simulator import Simulator, SimulatorServer
from bot.store import Store
from bot.xbooker.client import XBookerClient
from tests.helpers import CREDS, FakeClock, Sleeps, fast_retry

logs.install_record_filter()


@pytest.fixture
def sim_server():
    server = SimulatorServer(Simulator()).start()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server) -> Simulator:
    return sim_server.simulator


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "bot.db")
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def make_client(sim_server, store, clock, wall):
    """Build clients against the simulator; all share the test's store and clocks."""
    made: list[XBookerClient] = []

    def make(**kwargs) -> XBookerClient:
        kwargs.setdefault("retry", fast_retry())
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("wall", wall)
        kwargs.setdefault("sleep", Sleeps())
        client = XBookerClient(
            sim_server.url, kwargs.pop("credentials", CREDS), kwargs.pop("store", store), **kwargs
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client) -> XBookerClient:
    return make_client()


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def fake_slack():
    from tests.fake_slack import FakeSlack

    slack = FakeSlack().start()
    yield slack
    slack.stop()


@pytest.fixture
def world(sim_server, fake_slack, tmp_path):
    from tests.world import World

    w = World(sim_server, fake_slack, tmp_path)
    yield w
    w.close()


@pytest.fixture
def cli_log_handler():
    """main() sets up logging to the running test's captured stderr: take it down after."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_xbooker_bot", False):
            root.removeHandler(handler)
