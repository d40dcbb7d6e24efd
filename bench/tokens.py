"""Auth calls per API call: the token manager against the physical limit and the
published samples' strategy, side by side in one run against the simulator.

    python bench/tokens.py [--calls N] [--seconds T] [--lifetime L] [--concurrency 1,8,64]

Each run replays N delegated calls spread evenly over T seconds by C concurrent
callers, with access tokens that live L seconds (X Booker's are 120 s; a short
L compresses hours of traffic into seconds with the same shape). The manager
runs on a fresh database (a cold start) and must make 1 refresh call and at
most ceil(T / (L - advisory margin)) + 1 access calls, however large C is. The
baseline is what X Booker's published samples do: a refresh and an access call
before every request (2 auth calls per request); under concurrency each of its
refresh calls invalidates the others' tokens, so it also fails requests.

Two fault checks follow. Slow issuance: the refresh endpoint answers after the
token-call timeout while a lookup comes every 15 s (simulated); every request
may mint a token that revokes the last, so at most one may go out a minute and
none may be retried. Scrubber: months of access tokens (one every 90 s) through
the log scrubber, whose per-line and rebuild costs must not grow with uptime;
the pattern that kept every token ever minted is timed alongside.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import logs
from bot.simulator import DEMO_CREDENTIALS, Simulator, SimulatorServer
from bot.store import Store
from bot.xbooker import errors
from bot.xbooker.client import XBookerClient
from bot.xbooker.tokens import Windows
from tests.helpers import CREDS, FakeClock, Sleeps, fast_retry


def replay(calls: int, seconds: float, concurrency: int, call) -> tuple[int, float]:
    """Run ``call`` ``calls`` times at evenly spaced moments; returns (failures, elapsed)."""
    start = time.monotonic() + 0.05
    failures = 0
    lock = threading.Lock()

    def worker(index: int) -> None:
        nonlocal failures
        for n in range(index, calls, concurrency):
            delay = start + seconds * n / calls - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                call()
            except Exception:
                with lock:
                    failures += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures, time.monotonic() - start


def run_manager(url: str, sim: Simulator, args, concurrency: int, db: Path) -> dict:
    sim.reset_counters()
    store = Store(db)
    windows = Windows.for_lifetime(args.lifetime)
    with XBookerClient(url, CREDS, store, windows=windows) as client:
        failures, elapsed = replay(args.calls, args.seconds, concurrency, client.organization)
    store.close()
    return {
        "refresh": sim.count("refresh"),
        "access": sim.count("access"),
        "failures": failures,
        "elapsed": elapsed,
    }


def run_samples(url: str, sim: Simulator, args, concurrency: int) -> dict:
    """The published samples: refresh, then access, then the call, every time."""
    sim.reset_counters()
    c = CREDS
    base = {
        "organization-id": c.organization_id,
        "client-id": c.client_id,
        "User-Agent": "xbooker-bot",
    }
    local = threading.local()

    def call() -> None:
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(timeout=10)
        rt = http.get(
            f"{url}/auth/v1/tokens/refresh",
            headers={**base, "client-secret": c.client_secret.reveal()},
        )
        rt.raise_for_status()
        at = http.get(
            f"{url}/auth/v1/tokens/access",
            headers={**base, "Authorization": "Bearer " + rt.json()["data"]["refreshToken"]},
        )
        at.raise_for_status()
        org = http.get(
            f"{url}/delegated/v1/organization",
            headers={**base, "Authorization": "Bearer " + at.json()["data"]["accessToken"]},
        )
        org.raise_for_status()

    failures, elapsed = replay(args.calls, args.seconds, concurrency, call)
    return {
        "refresh": sim.count("refresh"),
        "access": sim.count("access"),
        "failures": failures,
        "elapsed": elapsed,
    }


def run_slow_issuance(url: str, sim: Simulator, db: Path, minutes: int) -> dict:
    """Lookups every 15 s of simulated time while /tokens/refresh answers too late."""
    sim.reset_counters()
    clock, wall = FakeClock(), FakeClock(1_800_000_000.0)
    store = Store(db)
    client = XBookerClient(
        url,
        CREDS,
        store,
        retry=fast_retry(),
        auth_timeout=httpx.Timeout(0.2, connect=0.2),
        clock=clock,
        wall=wall,
        sleep=Sleeps(),
    )
    sim.latency = 0.3
    worst_burst = 0
    try:
        for _ in range(minutes * 4 + 1):
            before = sim.count("refresh")
            with contextlib.suppress(errors.XBookerError):
                client.organization()
            worst_burst = max(worst_burst, sim.count("refresh") - before)
            clock.advance(15)
            wall.advance(15)
    finally:
        sim.latency = 0
        client.close()
        store.close()
    return {"requests": sim.count("refresh"), "burst": worst_burst}


def run_scrubber(days: int) -> dict:
    """Access tokens every 90 s for ``days``, each kept 3 minutes, through the scrubber."""
    start = time.monotonic()
    tokens = []
    for n in range(days * 24 * 40):
        now = start + 90.0 * n
        token = "xbat_" + secrets.token_urlsafe(32)
        logs.register_secret(token, expires_at=now + 180.0, now=now)
        tokens.append(token)
    line = f"GET /delegated/v1/organization done for {tokens[-1][:6]} in 12 ms " * 3

    def cost(pattern_of, lines: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        pattern = pattern_of()
        rebuild = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(lines):
            pattern.sub("[redacted]", line)
        return rebuild, (time.perf_counter() - t0) / lines

    logs._pattern = None  # time a rebuild, as a new token would cause
    ours = cost(logs._compiled, 200)
    generic = "|".join(f"(?:{g})" for g in logs._GENERIC)
    every = "|".join(f"(?:{re.escape(t)})" for t in sorted(tokens, key=len, reverse=True))
    kept_all = cost(lambda: re.compile(f"{every}|{generic}"), 3)  # slow: a few lines do
    return {
        "tokens": len(tokens),
        "known": len(logs._known),
        "rebuild": ours[0],
        "line": ours[1],
        "old_rebuild": kept_all[0],
        "old_line": kept_all[1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--lifetime", type=float, default=4.0)
    parser.add_argument("--concurrency", default="1,8,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    windows = Windows.for_lifetime(args.lifetime)
    limit = math.ceil(args.seconds / (args.lifetime - windows.advisory))
    floor = math.ceil(args.seconds / (args.lifetime - windows.mandatory))
    print(
        f"{args.calls} calls over {args.seconds:g} s, access tokens live {args.lifetime:g} s "
        f"(advisory {windows.advisory:g} s, mandatory {windows.mandatory:g} s before expiry)"
    )
    print(
        f"limit (docs/architecture.md): refresh 1, access <= {limit} + 1 "
        f"(T / (L - advisory)); floor at the mandatory margin: {floor}"
    )
    print(f"published samples: {2 * args.calls} auth calls (2 per request)\n")
    header = (
        f"{'C':>3}  {'manager refresh':>15} {'access':>6} {'fail':>4}  "
        f"{'samples refresh':>15} {'access':>6} {'fail':>4}  {'auth-call ratio':>15}  "
        f"{'span s':>6}  target"
    )
    print(header)
    ok = True
    sim = Simulator(*DEMO_CREDENTIALS, access_ttl=args.lifetime)
    with SimulatorServer(sim) as server, tempfile.TemporaryDirectory() as folder:
        for index, c in enumerate(levels):
            ours = run_manager(server.url, sim, args, c, Path(folder) / f"run-{index}.db")
            base = run_samples(server.url, sim, args, c)
            ours_auth = ours["refresh"] + ours["access"]
            base_auth = base["refresh"] + base["access"]
            # The replay may run late on a loaded machine: judge against its real span.
            span_limit = max(limit, math.ceil(ours["elapsed"] / (args.lifetime - windows.advisory)))
            met = ours["refresh"] == 1 and ours["access"] <= span_limit + 1 and not ours["failures"]
            ok &= met
            print(
                f"{c:>3}  {ours['refresh']:>15} {ours['access']:>6} {ours['failures']:>4}  "
                f"{base['refresh']:>15} {base['access']:>6} {base['failures']:>4}  "
                f"{ours_auth / base_auth:>15.4f}  {ours['elapsed']:>6.1f}  "
                f"{'met' if met else 'MISSED'}"
            )
        minutes = 10
        slow = run_slow_issuance(server.url, sim, Path(folder) / "slow.db", minutes)
        allowed = minutes + 1  # one at t = 0, then one a minute
        met = slow["requests"] <= allowed and slow["burst"] <= 1
        ok &= met
        print(
            f"\nslow issuance (refresh answers after the token timeout), a lookup every 15 s "
            f"for {minutes} min: {slow['requests']} refresh requests (limit {allowed}, one a "
            f"minute), at most {slow['burst']} per lookup (limit 1)  "
            f"{'met' if met else 'MISSED'}"
        )
    days = 90
    scrub = run_scrubber(days)
    met = scrub["known"] < 100 and scrub["line"] < 0.001
    ok &= met
    print(
        f"scrubber after {days} days ({scrub['tokens']} access tokens): {scrub['known']} values "
        f"known, {scrub['line'] * 1e6:.0f} us a line, rebuild {scrub['rebuild'] * 1e3:.1f} ms; "
        f"keeping every token: {scrub['old_line'] * 1e6:.0f} us a line, rebuild "
        f"{scrub['old_rebuild'] * 1e3:.0f} ms  {'met' if met else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
