"""The cost of a ``/metrics`` scrape with many open approval requests.

    python bench/metrics.py [--open N] [--audit N] [--rounds R]

Fills a fresh database with N open requests (as bench/approvals.py does) and an
audit log of ``--audit`` rows, then times R scrapes two ways:

* **in-process**: the exposition ``/metrics`` answers with, from a registry
  holding the series a bot has after weeks of traffic (each command with the
  outcomes it can have, each X Booker operation with a few statuses, every
  histogram), on the empty database and then on the full one: the difference is
  what the size of the database adds (the open-request gauges' indexed counts);
* **over HTTP**: ``xbooker-bot serve`` started on the full database, its
  ``/metrics`` fetched on one keep-alive connection, as Prometheus does.

Target: a scrape under 10 ms with 10,000 open requests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.approvals import TEAM, fill  # noqa: E402
from bot.core import registry  # noqa: E402
from bot.metrics import Metrics  # noqa: E402
from bot.store import Store, audit  # noqa: E402
from bot.xbooker.operations import OPERATIONS  # noqa: E402
from tests.helpers import free_port  # noqa: E402

TARGET_MS = 10.0


def busy(metrics: Metrics) -> None:
    """The label combinations a bot ends up exporting after weeks of traffic."""
    for command in registry.COMMANDS:
        outcomes = ["succeeded", "failed", "refused", "invalid"]
        if command.proposal is not None:
            outcomes.append("requested")
        if command.name in ("approvals approve", "approvals reject"):
            outcomes.append("recorded")
        for outcome in outcomes:
            metrics.audited(audit.Entry("U0BENCH", "slack", command.name, outcome, TEAM))
    for operation in [*OPERATIONS, "get access token", "issue refresh token"]:
        for status in ("200", "404", "500"):
            metrics.call(operation, status, 0.02)
    for kind in ("access", "refresh"):
        for result in ("ok", "refused", "error"):
            metrics.auth(kind, result)
    for seconds in (0.0005, 0.002, 0.05, 1.5):
        metrics.ack_seconds.observe(seconds)
        metrics.command_seconds.observe(seconds * 10)
    metrics.reissued(2)
    metrics.slack_error("chat.postMessage", "not_in_channel")


def fill_audit(store: Store, count: int) -> None:
    """Audit rows in bulk (their chain is not what is measured)."""
    with store.write() as db:
        db.conn.executemany(
            "INSERT INTO audit (at, team_id, actor, source, channel_id, action, outcome, "
            "detail, prev_hash, hash) VALUES (?, ?, 'U0BENCH', 'slack', 'C0OPS', 'org show', "
            "'succeeded', '{}', '', '')",
            ((time.time(), TEAM) for _ in range(count)),
        )


def in_process(store: Store, rounds: int) -> tuple[list[float], int]:
    metrics = Metrics()
    metrics.watch_approvals(store, TEAM, time.time)
    busy(metrics)
    for _ in range(3):  # warm: SQLite's page cache and statements
        body = metrics.exposition()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        metrics.exposition()
        times.append(time.perf_counter() - start)
    return times, body.count(b"\n")


def over_http(db: Path, folder: Path, rounds: int, pending: int) -> tuple[list[float], int]:
    """``xbooker-bot serve`` on ``db``; nothing it is asked contacts Slack or X Booker."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("XBOOKER_", "SLACK_"))},
        "PYTHON_DOTENV_DISABLED": "1",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": "xoxb-bench-0000-token",
        "SLACK_SIGNING_SECRET": "bench-signing-secret",
        "SLACK_TEAM_ID": TEAM,
        "XBOOKER_BASE_URL": "http://127.0.0.1:9",
        "XBOOKER_ORGANIZATION_ID": "org_bench",
        "XBOOKER_CLIENT_ID": "bench-client",
        "XBOOKER_CLIENT_SECRET": "bench-client-secret",
        "XBOOKER_BOT_DB": str(db),
        "XBOOKER_BOT_APPROVALS_CHANNEL": "C0APPROVALS",
    }
    argv = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (folder / "serve.log").open("w") as log:
        proc = subprocess.Popen(argv, env=env, cwd=folder, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/metrics"
    times: list[float] = []
    try:
        with httpx.Client() as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    body = client.get(url).text
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        log = (folder / "serve.log").read_text()
                        raise SystemExit(f"serve did not start:\n{log}") from None
                    time.sleep(0.1)
            assert f'xbooker_bot_approvals_open{{status="pending"}} {pending:.1f}' in body
            for _ in range(rounds):
                start = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - start)
                assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=40)
    return times, body.count("\n")


def line(label: str, times: list[float], lines: int) -> float:
    ordered = sorted(times)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000
    print(f"{label:<52} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({lines} lines)")
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--audit", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        store = Store(folder / "bench.db")
        line("in-process, empty database", *in_process(store, args.rounds))
        fill(store, args.open)
        fill_audit(store, args.audit)
        full = f"{args.open:,} open, {args.audit:,} audit rows"
        worst = line(f"in-process, {full}", *in_process(store, args.rounds))
        store.close()
        scraped = over_http(folder / "bench.db", folder, args.rounds, args.open)
        served = line(f"serve over HTTP, {full}", *scraped)
    met = max(worst, served) < TARGET_MS
    print(f"target (scrape p50 < {TARGET_MS:g} ms): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
