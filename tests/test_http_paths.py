"""The bot's own HTTP path (bot/httppool.py): proxies named by the environment, idle
connections dropped once stale, and peers that answer with what no header may hold."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from bot.httppool import Lender, Transports, sent
from bot.slack.responder import Responder
from bot.xbooker import errors
from tests.helpers import CREDS, FakeClock, LoopbackServer, QuietHandler, fast_retry, serving


class _Proxy(LoopbackServer):
    """A forward proxy for plain HTTP: notes each absolute URL asked of it and fetches it."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        super().__init__(_ProxyHandler)


class _ProxyHandler(QuietHandler):
    server: _Proxy

    def _forward(self) -> None:
        self.server.asked.append(self.path)  # absolute: http://host:port/path
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        # The test's HTTP_PROXY is this process's too: fetch directly.
        answer = httpx.request(
            self.command, self.path, headers=headers, content=body, trust_env=False
        )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PATCH = do_DELETE = _forward


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy()
    with serving(server):
        yield server


def _no_proxy_env(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_api_calls_and_replies_go_through_the_proxy_the_environment_names(
    monkeypatch, proxy, sim_server, store, fake_slack
):
    """Token calls (an httpx client) always honoured HTTP_PROXY; API calls and replies,
    sent through the bot's own transports, must leave the same way."""
    from bot.xbooker.client import XBookerClient

    _no_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.origin)
    with XBookerClient(sim_server.url, CREDS, store, retry=fast_retry()) as client:
        assert client.organization().name
    responder = Responder()
    try:
        assert responder.send(fake_slack.response_url("via"), {"text": "hi"}, "ref")
    finally:
        responder.close()
    paths = [url.split("/", 3)[3] for url in proxy.asked]
    assert "auth/v1/tokens/access" in paths
    assert "delegated/v1/organization" in paths
    assert "response/via" in paths


def test_no_proxy_sends_directly(monkeypatch, proxy, sim_server, store):
    from bot.xbooker.client import XBookerClient

    _no_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.origin)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with XBookerClient(sim_server.url, CREDS, store, retry=fast_retry()) as client:
        assert client.organization().name
    assert proxy.asked == []


def test_one_tls_context_for_every_transport(monkeypatch):
    """Loading the certificate store costs tens of milliseconds: once, not per connection."""
    import ssl

    from httpx._transports import default

    _no_proxy_env(monkeypatch)
    loads = []  # transports that built a TLS context of their own
    original = default.create_ssl_context

    def counted(verify=True, *args, **kwargs):
        if not isinstance(verify, ssl.SSLContext):
            loads.append(verify)
        return original(verify, *args, **kwargs)

    monkeypatch.setattr(default, "create_ssl_context", counted)
    made: list[httpx.HTTPTransport] = []
    transports = Transports(idle=2)
    try:
        barrier = threading.Barrier(4)

        def hold(lent: httpx.HTTPTransport) -> None:
            made.append(lent)
            barrier.wait(5)  # four lent at once: four transports

        url = httpx.URL("https://x.example/")
        threads = [threading.Thread(target=transports.use, args=(url, hold)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        transports.close()
    assert len({id(t) for t in made}) == 4
    assert loads == []


class _Stub:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_connection_idle_past_its_keep_alive_is_closed():
    """Its peer has hung up by then: left on the stack, its socket would sit in
    CLOSE_WAIT until some burst reached that deep."""
    clock = FakeClock()
    made: list[_Stub] = []

    def make() -> _Stub:
        made.append(_Stub())
        return made[-1]

    lender: Lender[_Stub] = Lender(make, idle=16, expiry=5.0, clock=clock)
    barrier = threading.Barrier(3)
    threads = [
        threading.Thread(target=lender.use, args=(lambda _: barrier.wait(5),)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(made) == 3 and not any(s.closed for s in made)
    clock.advance(6.0)
    lender.use(lambda lent: None)  # uses the top one, then finds the two below stale
    assert sum(s.closed for s in made) == 2
    lender.close()
    assert all(s.closed for s in made)


class _BadTokens(LoopbackServer):
    """An X Booker whose token endpoint answers a token with a line break in it."""

    def __init__(self) -> None:
        self.headers_seen: list[dict] = []
        super().__init__(_BadTokensHandler)


class _BadTokensHandler(QuietHandler):
    server: _BadTokens

    def do_GET(self) -> None:
        self.server.headers_seen.append(dict(self.headers))
        data = {"refreshToken": "rt-ok", "accessToken": "at\r\nX-Injected: 1"}
        body = json.dumps({"statusCode": 200, "success": True, "message": "", "data": data})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def test_a_token_that_cannot_be_a_header_is_refused(store):
    from bot.xbooker.client import XBookerClient

    server = _BadTokens()
    url = server.origin
    with (
        serving(server),
        XBookerClient(url, CREDS, store, retry=fast_retry()) as client,
        pytest.raises(errors.TransportError, match="no usable accessToken"),
    ):
        client.organization()
    assert all("X-Injected" not in h for h in server.headers_seen)


def test_a_response_url_whose_host_cannot_be_encoded_is_refused_quietly():
    """A label over 63 characters fails IDNA encoding: an error to log, not to raise."""
    responder = Responder()
    try:
        url = "https://" + "a" * 70 + ".slack.com/commands/x"
        assert responder.send(url, {"text": "hi"}, "ref") is False
    finally:
        responder.close()


class _GzipFront(LoopbackServer):
    """In front of the simulator: compresses each answer whose request accepts gzip."""

    def __init__(self, behind: str) -> None:
        self.behind = behind
        self.compressed: list[str] = []
        super().__init__(_GzipFrontHandler)


class _GzipFrontHandler(QuietHandler):
    server: _GzipFront

    def do_GET(self) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        answer = httpx.get(self.server.behind + self.path, headers=headers, trust_env=False)
        body = answer.content
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
            self.server.compressed.append(self.path)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_api_answers_may_come_compressed(monkeypatch, sim_server, store):
    """Long member lists travel compressed, as they did through an httpx client."""
    from bot.xbooker.client import XBookerClient

    _no_proxy_env(monkeypatch)
    front = _GzipFront(sim_server.url)
    url = front.origin
    with serving(front), XBookerClient(url, CREDS, store, retry=fast_retry()) as client:
        assert client.organization().name
    assert "/delegated/v1/organization" in front.compressed


def test_token_and_api_calls_never_split_between_proxy_and_direct(
    monkeypatch, proxy, sim_server, tmp_path
):
    """X Booker binds a refresh token to the address that obtained it: a NO_PROXY entry
    that matches must send every call direct, token calls included."""
    from bot.store import Store
    from bot.xbooker.client import XBookerClient

    port = httpx.URL(sim_server.url).port
    for n, no_proxy in enumerate((f"127.0.0.1:{port}", "127.0.0.1", "localhost,127.0.0.1")):
        _no_proxy_env(monkeypatch)
        monkeypatch.setenv("HTTP_PROXY", proxy.origin)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        proxy.asked.clear()
        store = Store(tmp_path / f"{n}.db")
        try:
            with XBookerClient(sim_server.url, CREDS, store, retry=fast_retry()) as client:
                assert client.organization().name
        finally:
            store.close()
        assert proxy.asked == [], no_proxy


class _RefusingProxy(LoopbackServer):
    """A proxy that refuses every tunnel (CONNECT) with a 502."""

    def __init__(self) -> None:
        self.connects = 0
        super().__init__(_RefusingHandler)


class _RefusingHandler(QuietHandler):
    server: _RefusingProxy

    def do_CONNECT(self) -> None:
        self.server.connects += 1
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_tunnel_the_proxy_refuses_is_a_connection_never_made(monkeypatch):
    """The request never reached X Booker: a write is retried, never "may or may not
    have been applied"."""
    from bot.xbooker.transport import send

    refusing = _RefusingProxy()
    _no_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", refusing.origin)
    transports = Transports()
    request = httpx.Request("POST", "https://xbooker.example/delegated/v1/members", json={})
    with serving(refusing), pytest.raises(errors.TransportError) as info:
        send(
            lambda: transports.use(request.url, lambda lent: sent(lent, request)),
            operation="add member",
            idempotent=False,
            policy=fast_retry(),
        )
    transports.close()
    assert not isinstance(info.value, errors.OutcomeUnknownError)
    refused = "could not connect to X Booker: the proxy refused (502 Bad Gateway)"
    assert info.value.message == refused
    assert refusing.connects == 3  # retried, as a connection never made is


def test_a_proxy_httpx_cannot_use_stops_start_up_without_showing_its_url(monkeypatch):
    from bot.config import ConfigError

    _no_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", "ftp://operator:hunter2@proxy.example:21")
    with pytest.raises(ConfigError) as info:
        Transports()
    assert str(info.value).startswith("HTTPS_PROXY: is not a proxy this bot can use")
    assert "hunter2" not in str(info.value) and "operator" not in str(info.value)


def test_proxy_decisions_kept_are_bounded(monkeypatch):
    """A host per signed payload (any *.slack.com) must not grow memory for good."""
    from bot.httppool import ROUTES_KEPT

    _no_proxy_env(monkeypatch)
    transports = Transports()
    try:
        for n in range(ROUTES_KEPT * 3):
            url = httpx.URL(f"https://h{n}.slack.com/commands/x")
            transports.use(url, lambda lent: None)
        assert len(transports._routes) <= ROUTES_KEPT
    finally:
        transports.close()
