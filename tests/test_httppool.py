"""The lender lends one client per request, most recently used first, keeps at most
``idle`` of them, and never lends a client to two requests at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from bot.httppool import ONE_CONNECTION, Lender
from tests.helpers import LoopbackServer, QuietHandler, run_threads, serving


class _Peers(LoopbackServer):
    """Answers every request, noting the client port it came from (one per connection)."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.gate = threading.Event()  # cleared: requests wait until it is set
        self.gate.set()
        super().__init__(_Handler)

    @property
    def url(self) -> str:
        return self.origin + "/"


class _Handler(QuietHandler):
    server: _Peers

    def do_GET(self) -> None:
        self.server.ports.append(self.client_address[1])
        self.server.gate.wait(10)
        body = b"close" if self.path == "/close" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":  # the server ends the connection after this answer
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def peers() -> Iterator[_Peers]:
    server = _Peers()
    with serving(server):
        yield server


class _Made:
    """The lender's factory, keeping every client it made."""

    def __init__(self) -> None:
        self.clients: list[httpx.Client] = []

    def __call__(self) -> httpx.Client:
        client = httpx.Client(timeout=5, limits=ONE_CONNECTION)
        self.clients.append(client)
        return client


def get(pool: Lender[httpx.Client], url: str) -> httpx.Response:
    return pool.use(lambda client: client.get(url))


def test_one_after_another_reuses_one_connection(peers):
    made = _Made()
    pool = Lender(made)
    try:
        for _ in range(5):
            assert get(pool, peers.url).text == "ok"
    finally:
        pool.close()
    assert len(made.clients) == 1
    assert len(set(peers.ports)) == 1  # one keep-alive connection served all five


def test_concurrent_requests_get_clients_of_their_own(peers):
    made = _Made()
    pool = Lender(made, idle=3)
    peers.gate.clear()  # hold every request until all eight are in
    threading.Timer(0.5, peers.gate.set).start()
    try:
        answers = run_threads(8, lambda: get(pool, peers.url).text)
        assert answers == ["ok"] * 8
        assert len(made.clients) == 8 and len(set(peers.ports)) == 8
        # Eight came back; the five used least recently were closed, three wait.
        assert sum(c.is_closed for c in made.clients) == 5
        assert get(pool, peers.url).text == "ok"
        assert len(made.clients) == 8  # served by one of those waiting
    finally:
        pool.close()
    assert all(c.is_closed for c in made.clients)


def test_most_recently_used_first(peers):
    made = _Made()
    pool = Lender(made)
    peers.gate.clear()
    threading.Timer(0.3, peers.gate.set).start()
    try:
        run_threads(2, lambda: get(pool, peers.url))
        first, second = peers.ports[-2:]
        get(pool, peers.url)
        # The client put back last serves next: its connection has been idle the least.
        assert peers.ports[-1] in (first, second)
        latest = peers.ports[-1]
        get(pool, peers.url)
        assert peers.ports[-1] == latest
    finally:
        pool.close()


def test_a_failed_request_gives_its_client_back(peers):
    made = _Made()
    pool = Lender(made)
    try:
        with pytest.raises(httpx.ConnectError):
            get(pool, "http://127.0.0.1:9/")  # nothing listens on the discard port
        assert get(pool, peers.url).text == "ok"
        assert get(pool, peers.url + "close").text == "close"  # the server hangs up after
        assert get(pool, peers.url).text == "ok"  # the client reconnects
    finally:
        pool.close()
    assert len(made.clients) == 1


def test_closed_pool_refuses_and_closes_what_comes_back(peers):
    made = _Made()
    pool = Lender(made)
    peers.gate.clear()
    lent = threading.Thread(target=lambda: get(pool, peers.url))
    lent.start()
    while not peers.ports:  # the request is in the server: its client is out
        threading.Event().wait(0.01)
    pool.close()
    peers.gate.set()
    lent.join(10)
    assert made.clients and all(c.is_closed for c in made.clients)
    with pytest.raises(RuntimeError, match="closed"):
        get(pool, peers.url)
