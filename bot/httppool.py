"""HTTP clients lent out one request at a time, the most recently used first.

httpx's own pool is one pool for every thread of the process. On each request it
walks every connection it keeps, twice, and asks the kernel of each idle one
whether the peer has closed it (a ``poll`` system call); the walk also counts the
idle connections once per connection. On a busy server, where the commands in
flight each keep a connection, that is dozens of system calls per request, and each
hands the interpreter lock to another thread and has to win it back.
``bench/e2e.py`` measured a third fewer voluntary context switches per command, and
a sixth more commands a second, with the pool below.

So the bot keeps a stack of httpx clients of one connection each: a request takes
the client on top (or makes one), and puts it back when its response has been read.
A stack, not a queue: under light load the same few clients, whose connections are
still alive, serve every request, where a queue would rotate through all of them
and let each connection's keep-alive run out (a new TLS handshake per request).
Past ``idle`` clients waiting, the least recently used is closed.

``deque``'s ``append``, ``pop`` and ``popleft`` are atomic, so lending takes no lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)


class ClientPool:
    """Sends like an ``httpx.Client`` (``request``, ``get``, ``post``, ``close``)."""

    def __init__(self, make: Callable[[httpx.Limits], httpx.Client], *, idle: int = 16) -> None:
        """``make(limits)``: a new client with those connection limits."""
        self._make = make
        self._idle: deque[httpx.Client] = deque()
        self._keep = idle
        self._closed = False

    def __repr__(self) -> str:
        return f"ClientPool({len(self._idle)} idle)"

    def request(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client pool has been closed.")
        try:
            client = self._idle.pop()
        except IndexError:
            client = self._make(ONE_CONNECTION)
        try:
            return client.request(method, url, **kwargs)
        finally:
            self._give_back(client)

    def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def _give_back(self, client: httpx.Client) -> None:
        if self._closed:
            client.close()
            return
        self._idle.append(client)
        if self._closed:  # closed while this client was out: close it with the rest
            self.close()
        elif len(self._idle) > self._keep:
            try:
                oldest = self._idle.popleft()
            except IndexError:  # another thread took them all meanwhile
                return
            oldest.close()

    def close(self) -> None:
        """Close the waiting clients now, and each lent one when it comes back."""
        self._closed = True
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return
