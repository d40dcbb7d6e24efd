"""Per-user rate limits: ``XBOOKER_BOT_USER_RATE`` commands that reach X Booker a
minute, ``XBOOKER_BOT_REQUEST_RATE`` approval requests an hour.

The events live in SQLite (``rate_events``), so that threads, a restart and other
processes on the same file all count the same ones; this process also keeps its
own events of the last window in memory, so a command costs no read of its own
for them:

* **read**: when a command is planned, one statement reads the user's grant and,
  per limit, the events in the window but those this process holds in memory
  (:func:`bot.store.rates.standing`): another process's, this one's before a
  restart, and any it has forgotten (a clock stepped forward and back again).
* **check**: when it is executed, under this process's lock (memory only): those
  events plus this process's own in the window, reserved or recorded. At the limit
  the command is refused with the time the oldest counted event leaves the window;
  otherwise one event is reserved, with a ref unique to this process.
* **record**: the event row is inserted inside the command's own audit
  transaction (the "sending" row of a write, the outcome row of a read, the
  "requested" row of an approval request): ``Services`` finds the command's
  reservation through a context variable set on the thread running it.
* **release**: when the command is done, a reservation whose row was committed stays
  in memory until it leaves the window (it is one of this process's events now), and
  so does a call to X Booker whose row a failing store lost; any other (the command
  stopped before X Booker, a request whose transaction rolled back) is dropped.

Commands answered without X Booker (help, usage, refusals, access, audit,
approvals decisions) never reserve. Another process's events count from the next
plan after they commit, so processes sharing a file could together overshoot by
the commands in flight at that instant; ``serve`` runs one.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.store import audit, rates

if TYPE_CHECKING:
    from bot.core.context import Invocation, Services

OnCommit = Callable[[Callable[[], None]], None]  # Store.on_commit


@dataclass(frozen=True)
class Limit:
    kind: str
    window: float  # seconds
    field: str  # the Settings attribute that sets it
    setting: str  # the variable that sets it
    counted: frozenset[str]  # audit outcomes that mean the event happened
    done: str  # "run N commands that reach X Booker"
    period: str  # "in the last minute"

    def allowed(self, settings: Settings) -> int:
        """Events allowed per window; 0 means no limit."""
        return getattr(settings, self.field)


XBOOKER = Limit(
    "xbooker",
    60.0,
    "user_rate",
    "XBOOKER_BOT_USER_RATE",
    # "refused": a request refused while being prepared had read X Booker already.
    frozenset({"sending", "succeeded", "failed", "outcome unknown", "requested", "refused"}),
    "run {n} command{s} that reach X Booker",
    "in the last minute",
)
REQUEST = Limit(
    "request",
    3600.0,
    "request_rate",
    "XBOOKER_BOT_REQUEST_RATE",
    frozenset({"requested"}),
    "opened {n} approval request{s}",
    "in the last hour",
)
LIMITS = {limit.kind: limit for limit in (XBOOKER, REQUEST)}


class RateLimited(Exception):
    """A user is at a limit; ``retry_after`` is whole seconds until one more fits."""

    def __init__(self, limit: Limit, count: int, allowed: int, retry_after: int) -> None:
        super().__init__(f"rate limit: {allowed} {limit.kind} a {limit.window:.0f} s")
        self.limit, self.count, self.allowed, self.retry_after = limit, count, allowed, retry_after

    @property
    def reason(self) -> str:
        """For the audit row."""
        return f"rate limit: {self.limit.setting}={self.allowed}"

    @property
    def text(self) -> str:
        """For the user."""
        done = self.limit.done.format(n=self.count, s="" if self.count == 1 else "s")
        return (
            f":hourglass: You have {done} {self.limit.period} (the limit is {self.allowed}). "
            f"Try again in {_when(self.retry_after)}."
        )


def _when(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"


@dataclass
class Held:
    """What one running command reserved: a ref per limit, stored with its event."""

    team_id: str
    user_id: str
    at: float
    refs: dict[str, str]  # kind -> ref
    prune: set[str]  # kinds whose events from before the window are to be dropped
    written: set[str] = field(default_factory=set)  # kinds whose row has committed
    reached: bool = False  # the command went on to X Booker (see :func:`reaching`)

    def record_in(self, conn: sqlite3.Connection, entry: audit.Entry, on_commit: OnCommit) -> None:
        """Store the events this audit row shows happened, in its transaction; they count
        as recorded once it has committed (a rolled-back one recorded nothing)."""
        if entry.actor != self.user_id or entry.team_id != self.team_id:
            return
        for kind, ref in self.refs.items():
            limit = LIMITS[kind]
            if kind in self.written or entry.outcome not in limit.counted:
                continue
            expired = self.at - limit.window if kind in self.prune else None
            rates.record(conn, self.team_id, self.user_id, kind, self.at, ref, expired)
            on_commit(lambda kind=kind: self.written.add(kind))


_held: contextvars.ContextVar[Held | None] = contextvars.ContextVar(
    "xbooker_bot_rate_held", default=None
)


def record_in(conn: sqlite3.Connection, entry: audit.Entry, on_commit: OnCommit) -> None:
    """Called for every audit row: stores the running command's events, if any."""
    held = _held.get()
    if held is not None:
        held.record_in(conn, entry, on_commit)


def reaching() -> None:
    """The running command is about to call X Booker: its ``xbooker`` event counts from
    now on, even if no row of it ever commits (a store that fails after the call must
    not make reads unlimited)."""
    held = _held.get()
    if held is not None:
        held.reached = True


SWEEP_EVERY = 1024  # reservations between sweeps of the in-memory events


def _within(events: dict[str, float], since: float) -> dict[str, float]:
    """The events (ref -> time) after ``since``."""
    return {ref: at for ref, at in events.items() if at > since}


class Limiter:
    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._lock = threading.Lock()
        # (team, user, kind) -> {ref: at}: this process's events in the window, reserved
        # by commands running now or recorded by commands that ran.
        self._mine: dict[tuple[str, str, str], dict[str, float]] = {}
        # Refs are this prefix, unique to the process (and to each start of it), and a
        # counter: not a random read per command (a system call, which on a busy server
        # hands the interpreter lock away).
        self._prefix = secrets.token_hex(6)
        self._serial = itertools.count()
        # The limits that apply (kind -> (window, allowed)), from settings that are fixed.
        self._limits = {
            limit.kind: (limit.window, limit.allowed(svc.settings))
            for limit in LIMITS.values()
            if limit.allowed(svc.settings) > 0
        }

    def standing(self, inv: Invocation) -> rates.Standing:
        """The user's grant and the events this process does not hold in memory, read once
        when a command is planned."""
        with self._lock:
            apart = {
                kind: dict(self._mine.get((inv.team_id, inv.user_id, kind), {}))
                for kind in self._limits
            }
        now = self._svc.clock()
        return rates.standing(self._svc.store, inv.team_id, inv.user_id, now, self._limits, apart)

    @contextlib.contextmanager
    def hold(
        self, inv: Invocation, kinds: tuple[str, ...], standing: rates.Standing
    ) -> Iterator[None]:
        """Reserve one event of each of ``kinds`` for the command inside, or raise
        :class:`RateLimited` before it starts."""
        held = self._reserve(inv, kinds, standing)
        if held is None:  # no limit applies
            yield
            return
        token = _held.set(held)
        try:
            yield
        finally:
            _held.reset(token)
            self._release(held)

    def _reserve(
        self, inv: Invocation, kinds: tuple[str, ...], standing: rates.Standing
    ) -> Held | None:
        limits = [LIMITS[k] for k in kinds if k in self._limits]
        if not limits:
            return None
        now = self._svc.clock()
        serial = next(self._serial)
        with self._lock:
            if serial % SWEEP_EVERY == 0:
                self._sweep(now)
            for limit in limits:
                self._check(inv, limit, self._limits[limit.kind][1], now, standing)
            refs = {limit.kind: f"{self._prefix}{serial:x}" for limit in limits}
            prune = {limit.kind for limit in limits if limit.kind in standing.stale}
            held = Held(inv.team_id, inv.user_id, now, refs, prune)
            for kind, ref in refs.items():
                self._mine.setdefault((inv.team_id, inv.user_id, kind), {})[ref] = now
        return held

    def _check(
        self, inv: Invocation, limit: Limit, allowed: int, now: float, standing: rates.Standing
    ) -> None:
        """Raise :class:`RateLimited` if the user has ``allowed`` events in the window."""
        key = (inv.team_id, inv.user_id, limit.kind)
        since = now - limit.window
        # This process's events, as the plan left them out of its count and as they are
        # now (some may have been recorded, or forgotten, since).
        mine = _within({**standing.apart.get(limit.kind, {}), **self._mine.get(key, {})}, since)
        if standing.others.get(limit.kind, 0) + len(mine) < allowed:
            return
        # Over, as the plan counted: count again from every event's time (a read, but
        # only for a refusal), since some may have left the window since the plan, and
        # a reservation the plan saw may have been dropped unrecorded since.
        store = self._svc.store
        now_mine = _within(self._mine.get(key, {}), since)
        events = sorted({**rates.times(store, *key, since), **now_mine}.values())
        if len(events) < allowed:
            return
        # One more fits once all but allowed - 1 of these have left the window.
        frees_at = events[len(events) - allowed] + limit.window
        # Never longer than the window: events stamped ahead (a clock stepped back) must
        # not turn a per-minute limit into an hour's wait.
        wait = min(math.ceil(limit.window), max(1, math.ceil(frees_at - now)))
        raise RateLimited(limit, len(events), allowed, wait)

    def _release(self, held: Held) -> None:
        """A recorded event stays counted until it leaves the window, and so does a call
        to X Booker; any other reservation is dropped."""
        with self._lock:
            for kind, ref in held.refs.items():
                if kind in held.written or (kind == XBOOKER.kind and held.reached):
                    continue
                key = (held.team_id, held.user_id, kind)
                mine = self._mine.get(key, {})
                mine.pop(ref, None)
                if not mine:
                    self._mine.pop(key, None)

    def _sweep(self, now: float) -> None:
        """Forget events that have left their window (the lock is held)."""
        for key in list(self._mine):
            kept = _within(self._mine[key], now - LIMITS[key[2]].window)
            if kept:
                self._mine[key] = kept
            else:
                del self._mine[key]
