"""HTTP connections lent out one request at a time, the most recently used first.

httpx's own pool is one pool for every thread of the process. On each request it
walks every connection it keeps, twice, and asks the kernel of each idle one
whether the peer has closed it (a ``poll`` system call); the walk also counts the
idle connections once per connection. On a busy server, where the commands in
flight each keep a connection, that is dozens of system calls per request, and each
hands the interpreter lock to another thread and has to win it back. An
``httpx.Client``'s own layers (URL merging, cookies, redirects, event hooks) cost a
request about as much CPU again as the transport's work.

So the bot sends through :class:`Transports`: httpx transports of one connection
each, kept on a stack. A request takes the one on top (or makes one), and puts it
back when its response has been read. A stack, not a queue: under light load the
same few connections, still alive, serve every request, where a queue would rotate
through all of them and let each one's keep-alive run out (a new TLS handshake per
request). Past ``idle`` waiting, the least recently used is closed, and so is any
found, when the next one comes back, to have waited longer than a keep-alive lasts
(its peer has hung up by then).

``deque``'s ``append``, ``pop`` and ``popleft`` are atomic, so lending takes no lock.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import httpx

from bot.config import ConfigError

ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)
KEEPALIVE_SECONDS = 5.0  # httpx's own keep-alive expiry
CLOSED = "Cannot send a request, as the connections have been closed."
ROUTES_KEPT = 256  # (scheme, host, port) -> proxy decisions remembered
_UNDECIDED = "undecided"  # a route not in the map (None means direct)


class _Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=_Closable)
R = TypeVar("R")


class Lender(Generic[T]):
    """A stack of ``make()``'s, each used by one request at a time."""

    def __init__(
        self,
        make: Callable[[], T],
        *,
        idle: int = 16,
        expiry: float = KEEPALIVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``make()``: a new client or transport of one connection (:data:`ONE_CONNECTION`)."""
        self._make = make
        self._idle: deque[tuple[T, float]] = deque()  # with the time each came back
        self._keep = idle
        self._expiry = expiry
        self._clock = clock
        self._closed = False

    def __repr__(self) -> str:
        return f"Lender({len(self._idle)} idle)"

    def use(self, send: Callable[[T], R]) -> R:
        """``send(lent)``, which must have read its response when it returns."""
        if self._closed:
            raise RuntimeError(CLOSED)
        try:
            lent, _ = self._idle.pop()
        except IndexError:
            lent = None
        if lent is None:  # made outside the except: its errors are not about the stack
            lent = self._make()
        try:
            return send(lent)
        finally:
            self._give_back(lent)

    def _give_back(self, lent: T) -> None:
        if self._closed:
            lent.close()
            return
        now = self._clock()
        self._idle.append((lent, now))
        if self._closed:  # closed while this one was out: close it with the rest
            self.close()
            return
        # The least recently used waits at the bottom: drop it while there are too
        # many waiting, or it has waited past its keep-alive. Other threads may take
        # from the stack meanwhile: whatever popleft returns is this thread's alone.
        stale = now - self._expiry
        while True:
            try:
                since = self._idle[0][1]
            except IndexError:
                return
            if len(self._idle) <= self._keep and since >= stale:
                return
            try:
                oldest, _ = self._idle.popleft()
            except IndexError:
                return
            oldest.close()

    def close(self) -> None:
        """Close those waiting now, and each lent one when it comes back."""
        self._closed = True
        while True:
            try:
                waiting, _ = self._idle.pop()
            except IndexError:
                return
            waiting.close()


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every connection of the process, made when the first is:
    loading the certificate store costs tens of milliseconds each time, and a context
    may be shared between threads."""
    return httpx.create_ssl_context()


class Transports:
    """One-connection httpx transports for requests to any URL, with the process's one
    TLS context, through the proxy the environment names for the URL: ``HTTPS_PROXY``
    or ``HTTP_PROXY`` by scheme, else ``ALL_PROXY``, unless ``NO_PROXY`` matches the
    host, as Python's ``urllib`` reads them. Every call to X Booker, token calls
    included, goes through one of these, so that all of them leave the same way:
    X Booker binds a refresh token to the address that obtained it."""

    def __init__(self, *, idle: int = 16) -> None:
        """Raises :class:`ConfigError` for a proxy the environment names that httpx
        cannot use (an unknown scheme, SOCKS without its extra): at start-up, not on
        each command."""
        self._idle = idle
        self._proxies = urllib.request.getproxies()
        for kind, proxy in self._proxies.items():
            if kind in ("http", "https", "all"):
                try:
                    self._transport(_with_scheme(proxy)).close()
                except (ValueError, ImportError, httpx.InvalidURL) as exc:
                    # Not the URL: it may hold a password.
                    why = f"is not a proxy this bot can use ({type(exc).__name__})"
                    raise ConfigError(f"{kind.upper()}_PROXY", why) from None
        self._lenders: dict[str | None, Lender[httpx.HTTPTransport]] = {}
        self._routes: dict[tuple[str, str, int | None], str | None] = {}  # URL -> proxy
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"Transports({len(self._lenders)} way(s) out)"

    def use(self, url: httpx.URL, send: Callable[[httpx.HTTPTransport], R]) -> R:
        """``send(transport)`` with a transport for ``url``; it must have read its
        response when it returns (:func:`sent` does)."""
        route = (url.scheme, url.host, url.port)
        proxy = self._routes.get(route, _UNDECIDED)
        if proxy is _UNDECIDED:
            proxy = self._route(*route)
        lender = self._lenders.get(proxy)
        if lender is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(CLOSED)
                lender = self._lenders.setdefault(
                    proxy, Lender(lambda: self._transport(proxy), idle=self._idle)
                )
        return lender.use(send)

    def _route(self, scheme: str, host: str, port: int | None) -> str | None:
        proxy = None
        where = host if port is None else f"{host}:{port}"
        if not urllib.request.proxy_bypass_environment(where, self._proxies):
            proxy = self._proxies.get(scheme) or self._proxies.get("all") or None
        if len(self._routes) >= ROUTES_KEPT:  # a host per signed payload must not grow it
            self._routes.clear()
        self._routes[(scheme, host, port)] = proxy = proxy and _with_scheme(proxy)
        return proxy

    def _transport(self, proxy: str | None) -> httpx.HTTPTransport:
        return httpx.HTTPTransport(verify=_tls(), limits=ONE_CONNECTION, proxy=proxy)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            lenders = list(self._lenders.values())
        for lender in lenders:
            lender.close()


def _with_scheme(proxy: str) -> str:
    """As httpx reads a proxy given without a scheme."""
    return proxy if "://" in proxy else "http://" + proxy


def sent(transport: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
    """``request``'s response, read whole, so that its connection is free again."""
    response = transport.handle_request(request)
    response.request = request
    try:
        response.read()
    finally:
        response.close()
    return response
