"""The bot's Prometheus series (``GET /metrics``), one registry per running app.

Most series are counted where the fact is certain, at no cost to the path of a
command: commands, decisions and audit rows when an audit row's transaction has
committed (:meth:`Metrics.audited`, called by ``Services.audit_in`` through the
store's ``on_commit``); X Booker requests and token calls by the adapter's
:class:`~bot.xbooker.transport.Observer` hook; re-issues by the token manager's
``on_reissue``; Slack API errors by :class:`~bot.slack.metered.MeteredWebClient`.
The open requests are read at scrape time with indexed counts
(:mod:`bot.store.stats`), so a scrape costs the same whatever the size of the
audit log.

No label carries a user id, an email, a channel or a secret: labels are command
names and outcomes from the registry, X Booker operations and HTTP statuses,
Slack method names and error codes.

Each app builds its own :class:`Metrics` with its own registry (tests run several
apps in one process; the library's global registry would mix them).

A scrape's cost is the library's, per line of text (bench/metrics.py), so lines
are kept few: no ``_created`` series (Prometheus tells a reset without them, and
they doubled a scrape), and per-operation histograms with a handful of buckets.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bot.store import Store, audit, stats
from bot.store.database import fault_kind

log = logging.getLogger(__name__)

PREFIX = "xbooker_bot_"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Sources of audit rows written for a user's own command (not an approval's execution,
# not the bot's own sweeps, not the shell).
COMMAND_SOURCES = frozenset({"slack", "console"})
DECISIONS = {"approvals approve": "approve", "approvals reject": "reject"}
# Slack must be acked within 3 s; most acks take a millisecond.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 3.0)
COMMAND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
XBOOKER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

disable_created_metrics()


class Metrics:
    """Every series of one app, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            PREFIX + "commands",
            "Commands by command and outcome (one per command, counted when its audit row "
            "is committed; 'sending' rows are not counted, their outcome is)",
            ["command", "outcome"],
            registry=r,
        )
        self.decisions = Counter(
            PREFIX + "approval_decisions",
            "Approve and reject decisions on approval requests, by outcome",
            ["decision", "outcome"],
            registry=r,
        )
        self.audit_rows = Counter(PREFIX + "audit_rows", "Audit rows committed", registry=r)
        self.rate_limited = Counter(
            PREFIX + "rate_limited",
            "Commands refused by a per-user rate limit (xbooker: XBOOKER_BOT_USER_RATE, "
            "request: XBOOKER_BOT_REQUEST_RATE)",
            ["limit"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            PREFIX + "ack_seconds",
            "Time to answer a request from Slack at /slack/events (the ack; Slack allows 3 s)",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.command_seconds = Histogram(
            PREFIX + "command_seconds",
            "From a command's arrival to its reply being ready (the work done after the ack)",
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.xbooker_requests = Counter(
            PREFIX + "xbooker_requests",
            "Requests to X Booker, token calls included, by operation and HTTP status "
            "(or timeout, connect_error, dropped); each retry counts",
            ["operation", "status"],
            registry=r,
        )
        self.xbooker_seconds = Histogram(
            PREFIX + "xbooker_request_seconds",
            "Latency of requests to X Booker by operation",
            ["operation"],
            buckets=XBOOKER_BUCKETS,
            registry=r,
        )
        self.auth_calls = Counter(
            PREFIX + "auth_calls",
            "Token calls to X Booker by kind (access, refresh) and result (ok, refused, error)",
            ["kind", "result"],
            registry=r,
        )
        self.reissues = Counter(
            PREFIX + "refresh_token_reissues",
            "Refresh tokens re-issued by this process because X Booker refused the stored one",
            registry=r,
        )
        self.store_faults = Counter(
            PREFIX + "store_faults",
            "Commands the bot's database failed (locked past its busy timeout, disk full, "
            "I/O error), by kind; these leave no audit row, so no other series counts them",
            ["kind"],
            registry=r,
        )
        self.slack_errors = Counter(
            PREFIX + "slack_api_errors",
            "Slack Web API calls that failed, by method and Slack's error code (or the "
            "exception's type when Slack gave no answer)",
            ["method", "error"],
            registry=r,
        )

    # -- hooks -----------------------------------------------------------------------

    def audited(self, entry: audit.Entry) -> None:
        """An audit row was committed."""
        self.audit_rows.inc()
        if entry.source not in COMMAND_SOURCES or entry.outcome == "sending":
            return
        self.commands.labels(entry.action, entry.outcome).inc()
        decision = DECISIONS.get(entry.action)
        if decision is not None:
            self.decisions.labels(decision, entry.outcome).inc()

    def call(self, operation: str, status: str, seconds: float) -> None:
        """:class:`bot.xbooker.transport.Observer`: one request to X Booker."""
        self.xbooker_requests.labels(operation, status).inc()
        self.xbooker_seconds.labels(operation).observe(seconds)

    def auth(self, kind: str, result: str) -> None:
        """:class:`bot.xbooker.transport.Observer`: one token call."""
        self.auth_calls.labels(kind, result).inc()

    def reissued(self, generation: int) -> None:
        """A ``TokenManager.on_reissue`` listener."""
        self.reissues.inc()

    def store_fault(self, exc: Exception) -> None:
        """The bot's database failed a command (its answer said so); no audit row says
        it, since writing one is what failed."""
        self.store_faults.labels(fault_kind(exc)).inc()

    def slack_error(self, method: str, error: str) -> None:
        """A ``MeteredWebClient.on_error`` listener."""
        self.slack_errors.labels(method, error).inc()

    def watch_approvals(self, store: Store, team_id: str, clock: Callable[[], float]) -> None:
        """Export the open requests of ``team_id``, read from ``store`` at each scrape."""
        self.registry.register(_OpenApprovals(store, team_id, clock))

    # -- exposition ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every series, as a scrape gets it."""
        return generate_latest(self.registry)


class _OpenApprovals(Collector):
    """Open requests by state, and when the first pending one expires, read at scrape
    time: always right (whatever process changed them), and an indexed count each."""

    def __init__(self, store: Store, team_id: str, clock: Callable[[], float]) -> None:
        self._store = store
        self._team = team_id
        self._clock = clock

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        opened, expiry = self._families()
        try:
            for status, count in stats.open_approvals(self._store, self._team).items():
                opened.add_metric([status], count)
            first = stats.next_expiry(self._store, self._team)
        except sqlite3.Error as exc:  # a scrape must still show the other series
            log.warning("metrics: could not count open approval requests: %s", exc)
            return
        yield opened
        if first is not None:
            expiry.add_metric([], first - self._clock())
            yield expiry

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                PREFIX + "approvals_open",
                "Approval requests not yet final, by state (pending, approved, executing)",
                labels=["status"],
            ),
            GaugeMetricFamily(
                PREFIX + "approval_next_expiry_seconds",
                "Seconds until the first pending approval request expires (absent when none "
                "is pending; negative until the sweeper expires it)",
            ),
        )
