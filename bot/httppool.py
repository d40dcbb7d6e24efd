"""HTTP connections lent out one request at a time, the most recently used first.

httpx's own pool is one pool for every thread of the process. On each request it
walks every connection it keeps, twice, and asks the kernel of each idle one
whether the peer has closed it (a ``poll`` system call); the walk also counts the
idle connections once per connection. On a busy server, where the commands in
flight each keep a connection, that is dozens of system calls per request, and each
hands the interpreter lock to another thread and has to win it back.
``bench/e2e.py`` measured a third fewer voluntary context switches per command, and
a tenth more commands a second, with the pool below.

So the bot keeps a stack of httpx clients (or transports) of one connection each: a
request takes the one on top (or makes one), and puts it back when its response has
been read. A stack, not a queue: under light load the same few connections, still
alive, serve every request, where a queue would rotate through all of them and let
each one's keep-alive run out (a new TLS handshake per request). Past ``idle``
waiting, the least recently used is closed.

``deque``'s ``append``, ``pop`` and ``popleft`` are atomic, so lending takes no lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import httpx

ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)


class _Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=_Closable)
R = TypeVar("R")


class Lender(Generic[T]):
    """A stack of ``make()``'s, each used by one request at a time."""

    def __init__(self, make: Callable[[], T], *, idle: int = 16) -> None:
        """``make()``: a new client or transport of one connection (:data:`ONE_CONNECTION`)."""
        self._make = make
        self._idle: deque[T] = deque()
        self._keep = idle
        self._closed = False

    def __repr__(self) -> str:
        return f"Lender({len(self._idle)} idle)"

    def use(self, send: Callable[[T], R]) -> R:
        """``send(lent)``, which must have read its response when it returns."""
        if self._closed:
            raise RuntimeError("Cannot send a request, as the connections have been closed.")
        try:
            lent = self._idle.pop()
        except IndexError:
            lent = self._make()
        try:
            return send(lent)
        finally:
            self._give_back(lent)

    def _give_back(self, lent: T) -> None:
        if self._closed:
            lent.close()
            return
        self._idle.append(lent)
        if self._closed:  # closed while this one was out: close it with the rest
            self.close()
        elif len(self._idle) > self._keep:
            try:
                oldest = self._idle.popleft()
            except IndexError:  # another thread took them all meanwhile
                return
            oldest.close()

    def close(self) -> None:
        """Close those waiting now, and each lent one when it comes back."""
        self._closed = True
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return
