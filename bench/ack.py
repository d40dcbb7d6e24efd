"""Slack ack latency of `xbooker-bot serve` against bare Bolt apps, side by side.

    python bench/ack.py [--rounds 5] [--requests 300]

Three servers on the same stack (gunicorn, one gthread worker with 16 threads,
Bolt's WSGI adapter): `xbooker-bot serve`, a bare Bolt app in Bolt's default
mode, and a bare app with process_before_response=True whose handler only acks
(the floor). The X Booker simulator and the fake Slack run in processes of
their own. Signed `/xbooker org` commands are sent at concurrency 1 (one at a
time, 100 a second: the latency a user sees) and 16 (closed loop, as fast as
16 callers go: the busy case) in interleaved rounds; the figures are medians
over rounds of each round's p50, p99 and throughput, and the ratios of
xbooker-bot's to the floor's and to the default mode's. Unlike the bare apps,
xbooker-bot really does the lookup after each ack (X Booker call, audit row,
reply through response_url), so its acks share the machine with that work.
Then, with the simulator answering 2 s late, 60 concurrent lookups must all be
acked in under 3 s and all answered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare_app import gunicorn_argv  # noqa: E402
from bot.simulator.state import DEMO_CREDENTIALS  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from tests.slack_requests import command_body, sign  # noqa: E402
from tests.world import ADMIN, SIGNING_SECRET  # noqa: E402


class Remote:
    """The simulator or the fake Slack in a process of its own, so that their work
    does not share the load generator's interpreter lock."""

    def __init__(self, *argv: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        line = self.proc.stdout.readline().strip()
        self.url = line.split()[-1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Slack(Remote):
    def __init__(self) -> None:
        super().__init__(sys.executable, "-m", "tests.fake_slack")

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def responses(self) -> int:
        return httpx.get(f"{self.url}/").json()["responses"]


def wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stdout.read()}")
        try:
            httpx.post(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def start_servers(env: dict, folder: Path) -> dict[str, tuple[str, subprocess.Popen]]:
    servers = {}
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    servers["xbooker-bot"] = (f"http://127.0.0.1:{port}/slack/events", serve)
    for mode in ("default", "floor"):
        port = free_port()
        proc = subprocess.Popen(
            gunicorn_argv(sys.executable, mode, port),
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        servers[mode] = (f"http://127.0.0.1:{port}/slack/events", proc)
    for url, proc in servers.values():
        wait_up(url, proc)
    return servers


def burst(
    url: str, slack: Slack, total: int, concurrency: int, pace: float = 0.0, text: str = "org"
):
    """Send ``total`` signed commands from ``concurrency`` threads; latencies in ms.
    With ``pace``, each thread starts a request every ``pace`` seconds (open loop)
    instead of right after the previous answer."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    per_thread = total // concurrency

    def worker(index: int) -> None:
        nonlocal failures
        with httpx.Client(timeout=10) as http:
            next_at = time.perf_counter()
            for n in range(per_thread):
                body = command_body(
                    text,
                    ADMIN,
                    "T0TEAM",
                    "C1",
                    slack.response_url(f"b{index}-{n}-{time.monotonic_ns()}"),
                )
                headers = sign(SIGNING_SECRET, body)
                if pace:
                    time.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at = max(next_at + pace, time.perf_counter())
                start = time.perf_counter()
                response = http.post(url, content=body, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(elapsed)
                    failures += response.status_code != 200

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"p50": p(0.50), "p99": p(0.99), "rps": len(latencies) / wall, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=320)
    args = parser.parse_args()
    sim = Remote(
        sys.executable,
        "-m",
        "bot",
        "simulator",
        "--port",
        "0",
        env={"PYTHON_DOTENV_DISABLED": "1", "LOG_LEVEL": "WARNING"},
    )
    slack = Slack()
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench-0000-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url + "/api/",
            "SLACK_TEAM_ID": "T0TEAM",
            "XBOOKER_BASE_URL": sim.url,
            "XBOOKER_ORGANIZATION_ID": DEMO_CREDENTIALS[0],
            "XBOOKER_CLIENT_ID": DEMO_CREDENTIALS[1],
            "XBOOKER_CLIENT_SECRET": DEMO_CREDENTIALS[2],
            "XBOOKER_BOT_DB": str(Path(folder) / "b.db"),
            "XBOOKER_BOT_ADMINS": ADMIN,
            "XBOOKER_BOT_APPROVALS_CHANNEL": "C0APPROVALS",
            "PYTHON_DOTENV_DISABLED": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        servers = start_servers(env, Path(folder))
        try:
            for url, _ in servers.values():  # warm up: imports, tokens, connections
                burst(url, slack, 32, 4)
            for concurrency in (1, 16):
                results: dict[str, list[dict]] = {name: [] for name in servers}
                for _ in range(args.rounds):
                    for name, (url, _) in servers.items():
                        if concurrency == 1:  # one at a time, 100 a second
                            result = burst(url, slack, args.requests // 4, 1, pace=0.01)
                        else:  # as fast as 16 callers go
                            result = burst(url, slack, args.requests, concurrency)
                        results[name].append(result)
                med = {
                    name: {k: statistics.median(r[k] for r in rs) for k in ("p50", "p99", "rps")}
                    for name, rs in results.items()
                }
                failures = sum(r["failures"] for rs in results.values() for r in rs)
                print(f"\nconcurrency {concurrency} ({args.rounds} interleaved rounds, medians)")
                print(f"{'server':<12} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
                for name, m in med.items():
                    print(f"{name:<12} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['rps']:>8.0f}")
                ours, floor, default = med["xbooker-bot"], med["floor"], med["default"]
                for label, base in (("floor", floor), ("default", default)):
                    print(
                        f"xbooker-bot / {label:<8} p50 {ours['p50'] / base['p50']:.2f}x  "
                        f"p99 {ours['p99'] / base['p99']:.2f}x  "
                        f"throughput {ours['rps'] / base['rps']:.2f}x"
                    )
                if concurrency == 1:
                    met = ours["p50"] <= 2 * floor["p50"]
                    print(f"target: p50 within 2x of the floor: {'met' if met else 'MISSED'}")
                else:
                    met = ours["p99"] <= 1.5 * floor["p99"]
                    print(f"target: p99 within 1.5x of the floor: {'met' if met else 'MISSED'}")
                ok &= met and failures == 0
            # 60 concurrent lookups while X Booker answers 2 s late.
            url = servers["xbooker-bot"][0]
            time.sleep(2)  # let earlier lookups finish answering
            before = slack.responses()
            httpx.post(f"{sim.url}/_simulator", json={"latency": 2.0})
            result = burst(url, slack, 60, 60)
            started = time.monotonic()
            answered = 0
            while time.monotonic() - started < 30:
                answered = slack.responses() - before
                if answered >= 60:
                    break
                time.sleep(0.05)
            took = time.monotonic() - started
            httpx.post(f"{sim.url}/_simulator", json={"latency": 0})
            slowest = result["p99"]
            met = slowest < 3000 and answered == 60 and result["failures"] == 0
            print(
                f"\nX Booker 2 s late, 60 concurrent lookups: slowest ack {slowest:.1f} ms, "
                f"{answered}/60 answered ({took:.1f} s after the last ack): "
                f"{'met' if met else 'MISSED'}"
            )
            ok &= met
        finally:
            for _, proc in servers.values():
                proc.terminate()
            for _, proc in servers.values():
                proc.wait(timeout=40)
            sim.stop()
            slack.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
