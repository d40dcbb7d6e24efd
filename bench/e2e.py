"""End-to-end latency of `xbooker-bot serve` against a bare Bolt app doing the same I/O.

    python bench/e2e.py [--rounds 5] [--requests 300] [--rate 20] [--latency 0.02]
                        [--scrape 1] [--against DIR]

End to end is what a user waits for: from the moment a signed `/xbooker org`
command leaves for the server until its answer has reached `response_url`.
Acks alone (bench/ack.py) say nothing about the lazy half, where xbooker-bot
plans, checks roles, calls X Booker, writes an audit row and renders its reply.
The baseline is a bare Bolt app on the same stack (gunicorn, one gthread worker,
serve's thread count, process_before_response=True) whose lazy listener makes
only the two calls an answer needs: one X Booker GET and one response_url POST,
through pooled ``httpx.Client``s, as an app on this stack would write them
(bench/bare_app.py, mode ``e2e``). So the ratio is the price of everything
xbooker-bot does besides the network, less what its own HTTP path saves: it sends
through lent one-connection transports instead (bot/httppool.py), which cost less
CPU per request than a shared client.

Each server has a simulator of its own, answering 20 ms late: a simulator issues
one refresh token per delegated app and issuing one revokes the others, so two
apps sharing one would keep logging each other out. The simulators, the servers
and the response_url receiver (this file's ``--receiver`` mode) each run in a
process of their own, so that none shares the load generator's interpreter lock.

Completion times: the receiver stamps each response_url POST with the system-wide
monotonic clock as soon as it has read the body, and the load generator stamps
each command with the same clock just before sending it; the stamps are fetched
after each run, so measuring adds no round trip to the path measured. The
receiver also streams the id of each answer it records to the load generator
over one open connection, which is how a closed-loop caller knows it may send
its next command. Answers must name the organization: an error reply, which
could be fast, does not count as an answer.

Load: concurrency 1 is one caller sending at a fixed rate (open loop). At 20 a
second one command is in flight at a time, as an answer takes about 30 ms; at
50 a second, X Booker's 20 ms alone would fill the period and commands would
overlap. 16 and 64 are closed loops: each caller sends its next command once
the previous one was answered. Rounds interleave the two servers, alternating which goes first; the
figures are medians over rounds of each run's p50, p99 and answers per second.

Metrics on: while it runs, ``/metrics`` of xbooker-bot is scraped every
``--scrape`` seconds (1 by default: fifteen times Prometheus's usual rate; 0 turns
it off). The per-user rate limits are on at their defaults, so the commands come
from 2,000 users with the viewer role (a user may run 30 a minute), as they would
in a workspace: one user sending hundreds a minute would be refused, which is the
point of the limit.

Cost: for each server, the CPU time its processes spent per answer (user and system,
gunicorn's worker included) and the voluntary context switches per answer, read
from /proc around each run (Linux). A server whose threads share one interpreter
lock is bound by that lock, not by the machine's cores: every blocking call (a
socket, a SQLite statement, a contended lock) hands the lock to another thread and
back, and these hand-overs are where much of a command's cost beyond its Python
code goes.

``--against DIR`` adds a third server: ``xbooker-bot serve`` from another source
tree (say ``git archive HEAD | tar -x -C DIR``) with its own simulator, in the
same interleaved rounds, so that two versions are compared side by side, each
against the same bare app.

The machine this was written on has 2 cores and is shared with other work:
the load generator, both servers, the simulators and the receiver all compete
for them, so absolute figures are low and noisy; the ratios between servers
measured in alternating order are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare_app import gunicorn_argv  # noqa: E402
from bot.simulator.seed import ORGANIZATION  # noqa: E402
from bot.simulator.state import DEMO_CREDENTIALS  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from tests.slack_requests import command_body, sign  # noqa: E402
from tests.world import ADMIN, SIGNING_SECRET  # noqa: E402

TEAM = "T0TEAM"
ANSWER_MARK = ORGANIZATION["name"].encode()
LEVELS = (1, 16, 64)
P99_TARGET = 1.2
RPS_TARGET = 0.95
WAIT_SECONDS = 10.0  # longest a command may take to be answered
RUN_SECONDS = 120.0  # longest one run may take before it stops sending
USERS = [f"U0E2E{n:04d}" for n in range(2000)]  # viewers, so no one meets the rate limit
OURS, BASE, BARE = "xbooker-bot", "base", "bare"
_turn = itertools.count()  # users in turn, across runs: each sends one command in 2,000


# -- the response_url receiver (its own process) ---------------------------------------


class Receiver(ThreadingHTTPServer):
    """Fake Slack for the bench: answers the Web API calls serve makes at start-up,
    and stamps each response_url POST with its arrival time."""

    daemon_threads = True
    request_queue_size = 512  # the servers' reply pools open connections in bursts

    def __init__(self) -> None:
        self.times: dict[str, int] = {}  # id -> arrival, time.monotonic_ns()
        self.wrong: set[str] = set()  # answers that do not name the organization
        self.lock = threading.Lock()
        self.subscribers: list[socket.socket] = []
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    def record(self, key: str, body: bytes, at: int) -> None:
        with self.lock:
            if key in self.times:
                return
            self.times[key] = at
            if ANSWER_MARK not in body:
                self.wrong.add(key)
            line = key.encode() + b"\n"
            for sub in self.subscribers:  # written here: no thread to wake per answer
                with contextlib.suppress(OSError):
                    sub.sendall(line)

    def report(self, prefix: str) -> dict:
        with self.lock:
            times = {k: t for k, t in self.times.items() if k.startswith(prefix)}
            wrong = [k for k in self.wrong if k.startswith(prefix)]
            return {"times": times, "wrong": wrong}


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        at = time.monotonic_ns()
        if self.path.startswith("/response/"):
            self.server.record(self.path[len("/response/") :], body, at)
            self._send(b"ok", "text/plain")
            return
        method = self.path.rsplit("/", 1)[-1]
        answer = {"ok": True}
        if method == "auth.test":
            answer = {"ok": True, "team_id": TEAM, "user_id": "UBOT", "bot_id": "BBOT"}
        self._send(json.dumps(answer).encode(), "application/json")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/subscribe":  # one line per answer, until the client hangs up
            with self.server.lock:  # no answer line can come before the head
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                self.server.subscribers.append(self.connection)
            try:
                while self.rfile.read(1):
                    pass
            finally:
                with self.server.lock:
                    self.server.subscribers.remove(self.connection)
                self.close_connection = True
            return
        report = self.server.report(dict(parse_qsl(parts.query)).get("prefix", ""))
        self._send(json.dumps(report).encode(), "application/json")

    def _send(self, data: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_simulator(latency: float) -> int:
    """``xbooker-bot simulator`` with a listen backlog that 64 callers do not overflow.
    Its stdlib server keeps the default of 5, and the clients' pools (20 idle
    connections) open new ones under 64 concurrent lookups: past the backlog,
    the kernel drops the connect and it is retried a whole second later, which
    measures the simulator's accept queue instead of either server."""
    from bot import cli
    from bot.simulator import server

    server._Server.request_queue_size = 512
    return cli.main(["simulator", "--port", "0", "--latency", str(latency)])


def serve_receiver() -> int:
    server = Receiver()
    print(f"receiver on http://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


# -- processes ---------------------------------------------------------------------------


def clean_env(source: Path = ROOT, **extra: str) -> dict[str, str]:
    """The caller's environment without settings that would point a child elsewhere;
    ``source`` is the tree whose ``bot`` package the child imports."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("XBOOKER_", "SLACK_", "BENCH_"))
    }
    return {
        **env,
        "PYTHON_DOTENV_DISABLED": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(source),
        **extra,
    }


def grant_viewers(db: Path) -> None:
    """The bench's users, granted the viewer role in a server's database (the grants
    table is the same in every version)."""
    conn = sqlite3.connect(db, timeout=15)
    try:
        with conn:
            conn.executemany(
                "INSERT OR IGNORE INTO grants (team_id, user_id, role, granted_by, granted_at) "
                "VALUES (?, ?, 'viewer', 'bench', ?)",
                ((TEAM, user, time.time()) for user in USERS),
            )
    finally:
        conn.close()


class Scraper(threading.Thread):
    """GET ``/metrics`` every ``interval`` seconds until stopped, as Prometheus would."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(name="scraper", daemon=True)
        self.url, self.interval = url, interval
        self.stopped = threading.Event()
        self.scrapes = self.failures = 0

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stopped.wait(self.interval):
                try:
                    ok = client.get(self.url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.scrapes += ok
                self.failures += not ok


class Processes:
    """Every child this bench starts, stopped on the way out whatever happened."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.children: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict, cwd: Path = ROOT) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.children.append((name, proc, log))
        return proc

    def announced_url(self, name: str, proc: subprocess.Popen) -> str:
        """The URL a child prints as the last word of its first line."""
        log = self.folder / f"{name}.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            first = log.read_text().partition("\n")
            if first[1]:
                return first[0].split()[-1]
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"{name} did not start:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 20) -> str:
        text = (self.folder / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for _, proc, _ in self.children:
            if proc.poll() is None:
                proc.terminate()
        for _, proc, _ in self.children:
            try:
                proc.wait(timeout=40)  # serve drains lazy work for up to 20 s
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def cost(pid: int) -> tuple[float, int] | None:
    """CPU seconds (user and system) and voluntary context switches so far of a server:
    the process and its children (gunicorn's worker), from /proc; None where there is
    none. A voluntary switch is a thread that blocked: in a server whose threads share
    one interpreter lock, mostly a hand-over of that lock around a blocking call."""
    tree = [pid]
    try:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        tree.append(int(entry.name))
        seconds, switches = 0.0, 0
        for member in tree:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{member}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches += int(line.split()[1])
    except (OSError, ValueError):
        return None
    return seconds, switches


def wait_up(procs: Processes, name: str, url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            httpx.post(url, timeout=1)  # unsigned: any answer means it is serving
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start:\n{procs.tail(name)}")


def start_all(
    procs: Processes, latency: float, against: Path | None
) -> tuple[str, dict[str, str], dict[str, int]]:
    """The receiver, one simulator per server, and the servers; their URLs and pids."""
    python = sys.executable
    receiver = procs.start(
        "receiver", [python, str(Path(__file__).resolve()), "--receiver"], clean_env()
    )
    trees = {OURS: ROOT, **({BASE: against} if against else {})}
    sims = {}
    for name in [*trees, BARE]:
        argv = [python, str(Path(__file__).resolve()), "--simulator", str(latency)]
        sims[name] = (f"sim-{name}", procs.start(f"sim-{name}", argv, clean_env()))
    slack = procs.announced_url("receiver", receiver)
    sim_urls = {name: procs.announced_url(log, proc) for name, (log, proc) in sims.items()}

    common = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "XBOOKER_ORGANIZATION_ID": DEMO_CREDENTIALS[0],
        "XBOOKER_CLIENT_ID": DEMO_CREDENTIALS[1],
        "XBOOKER_CLIENT_SECRET": DEMO_CREDENTIALS[2],
    }
    servers = {}
    for name, tree in trees.items():
        port = free_port()
        serve_env = clean_env(
            tree,
            **common,
            SLACK_BOT_TOKEN="xoxb-bench-0000-token",
            SLACK_API_URL=slack + "/api/",
            SLACK_TEAM_ID=TEAM,
            XBOOKER_BASE_URL=sim_urls[name],
            XBOOKER_BOT_DB=str(procs.folder / f"e2e-{name}.db"),
            XBOOKER_BOT_ADMINS=ADMIN,
            XBOOKER_BOT_APPROVALS_CHANNEL="C0APPROVALS",
        )
        argv = [python, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = procs.start(name, argv, serve_env, cwd=procs.folder)
        servers[name] = (f"http://127.0.0.1:{port}/slack/events", proc)

    port = free_port()
    argv = gunicorn_argv(python, "e2e", port, "--keep-alive", "5")  # as serve sets it
    proc = procs.start(BARE, argv, clean_env(**common, XBOOKER_BASE_URL=sim_urls[BARE]))
    servers[BARE] = (f"http://127.0.0.1:{port}/slack/events", proc)
    for name, (url, proc) in servers.items():
        wait_up(procs, name, url, proc)
    for name in trees:
        grant_viewers(procs.folder / f"e2e-{name}.db")
    urls = {name: url for name, (url, _) in servers.items()}
    return slack, urls, {name: proc.pid for name, (_, proc) in servers.items()}


# -- load ----------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared bytes: the load
    generator shares two cores with what it measures, and a full HTTP client
    costs it more CPU per command than the bare app spends answering."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        return cls(*await asyncio.open_connection(parts.hostname, parts.port))

    async def post(self, request: bytes) -> int:
        """Send one request; its status, once the whole response has been read."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        self.writer.close()


class Answers:
    """Completion of each command as the receiver sees it, streamed as it happens,
    so that a closed-loop caller sends its next command once the previous one
    was answered without polling for it."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future] = {}
        self.seen: set[str] = set()
        self.subscribed = asyncio.get_running_loop().create_future()

    async def follow(self, slack: str) -> None:
        parts = urlsplit(slack)
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(b"GET /subscribe HTTP/1.1\r\nHost: receiver\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.subscribed.set_exception(exc)
            return
        self.subscribed.set_result(None)
        try:
            while line := await reader.readline():
                key = line.decode().strip()
                self.seen.add(key)
                future = self.waiting.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(None)
        finally:
            writer.close()

    async def wait(self, key: str, timeout: float) -> None:
        if key in self.seen:
            return
        future = self.waiting.setdefault(key, asyncio.get_running_loop().create_future())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, timeout)


def commands(url: str, slack: str, prefix: str, total: int) -> list[tuple[str, bytes]]:
    """Signed requests made ahead of the run, each with a response_url of its own."""
    parts = urlsplit(url)
    made = []
    for n in range(total):
        key = f"{prefix}{n}"
        user = USERS[next(_turn) % len(USERS)]
        body = command_body("org", user, TEAM, "C1", f"{slack}/response/{key}")
        head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{k}: {v}" for k, v in sign(SIGNING_SECRET, body).items()]
        head.append(f"Content-Length: {len(body.encode())}")
        made.append((key, ("\r\n".join(head) + "\r\n\r\n" + body).encode()))
    return made


def run(
    url: str, slack: str, prefix: str, total: int, concurrency: int, rate: float, pid: int = 0
) -> dict:
    """Send ``total`` commands, one caller at ``rate`` a second when ``concurrency``
    is 1, otherwise ``concurrency`` callers in a closed loop; figures in ms and /s,
    and, given the server's ``pid``, its CPU ms and context switches per answer."""
    todo = commands(url, slack, prefix, total)
    sent: dict[str, int] = {}
    before = cost(pid) if pid else None
    failures = asyncio.run(_load(url, slack, todo, sent, concurrency, rate))
    # Stragglers: every sent command gets WAIT_SECONDS to be answered.
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        report = httpx.get(f"{slack}/", params={"prefix": prefix}).json()
        if len(report["times"]) >= len(sent) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    arrived, wrong = report["times"], set(report["wrong"])
    latencies = sorted(
        (arrived[k] - sent[k]) / 1e6 for k in sent if k in arrived and k not in wrong
    )
    answered = len(latencies)
    after = cost(pid) if pid else None
    spent = (
        ((after[0] - before[0]) * 1000 / answered, (after[1] - before[1]) / answered)
        if before and after and answered
        else (float("nan"), float("nan"))
    )
    first = min(sent.values(), default=0)
    last = max((arrived[k] for k in sent if k in arrived), default=first)

    def p(q: float) -> float:
        return latencies[min(answered - 1, int(q * answered))] if latencies else float("nan")

    return {
        "p50": p(0.50),
        "p99": p(0.99),
        "rps": answered / ((last - first) / 1e9) if last > first else 0.0,
        "missing": total - sum(k in arrived for k in sent),
        "wrong": len(wrong),
        "failures": failures,
        "cpu": spent[0],
        "switches": spent[1],
    }


async def _load(
    url: str, slack: str, todo: list, sent: dict[str, int], concurrency: int, rate: float
) -> int:
    failures = 0
    answers = Answers()
    following = asyncio.create_task(answers.follow(slack))
    await asyncio.wait_for(answers.subscribed, 10)
    stop_at = time.monotonic() + RUN_SECONDS
    queue = iter(todo)

    async def send(conn: Connection, key: str, request: bytes) -> bool | None:
        """Whether the ack was a 200; None when the connection can no longer be used."""
        nonlocal failures
        sent[key] = time.monotonic_ns()
        try:
            ok = await asyncio.wait_for(conn.post(request), 10) == 200
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            failures += 1
            return None
        failures += not ok
        return ok

    async def paced() -> None:
        conn = await Connection.open(url)
        try:
            next_at = time.perf_counter()
            for key, request in queue:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at = max(next_at + 1 / rate, time.perf_counter())
                if time.monotonic() > stop_at or await send(conn, key, request) is None:
                    return
        finally:
            conn.close()

    async def closed() -> None:
        conn = await Connection.open(url)
        try:
            for key, request in queue:
                if time.monotonic() > stop_at:
                    return
                acked = await send(conn, key, request)
                if acked is None:
                    return
                if acked:
                    await answers.wait(key, WAIT_SECONDS)
        finally:
            conn.close()

    try:
        await asyncio.gather(
            *([paced()] if concurrency == 1 else [closed() for _ in range(concurrency)])
        )
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    return failures


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="commands per run")
    parser.add_argument("--rate", type=float, default=20.0, help="commands/s at concurrency 1")
    parser.add_argument("--latency", type=float, default=0.02, help="X Booker's, in seconds")
    parser.add_argument(
        "--scrape", type=float, default=1.0, help="seconds between scrapes of /metrics (0: none)"
    )
    parser.add_argument(
        "--against", type=Path, default=None, metavar="DIR", help="another source tree to compare"
    )
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--simulator", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simulator is not None:
        return serve_simulator(args.simulator)
    if args.receiver:
        return serve_receiver()

    def stop_on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        procs = Processes(Path(folder))
        try:
            slack, servers, pids = start_all(procs, args.latency, args.against)
            names = list(servers)
            scraper = None
            if args.scrape > 0:
                scraper = Scraper(servers[OURS].replace("/slack/events", "/metrics"), args.scrape)
                scraper.start()
            print(
                f"X Booker latency {args.latency * 1000:g} ms; {args.requests} commands per run; "
                f"concurrency 1 at {args.rate:g}/s (open loop), {', '.join(map(str, LEVELS[1:]))} "
                f"closed loop; {args.rounds} interleaved rounds",
                flush=True,
            )
            for name, url in servers.items():  # warm up: imports, tokens, connections
                run(url, slack, f"warm-{name}-", 64, 16, args.rate)
            results = {(n, c): [] for n in names for c in LEVELS}
            started = time.monotonic()
            for r in range(args.rounds):
                for c in LEVELS:
                    order = names if (r + c) % 2 == 0 else names[::-1]
                    for name in order:
                        prefix = f"r{r}-c{c}-{name}-"
                        done = run(
                            servers[name], slack, prefix, args.requests, c, args.rate, pids[name]
                        )
                        results[name, c].append(done)
                print(
                    f"round {r + 1}/{args.rounds} done ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
            if scraper is not None:
                scraper.stopped.set()
                scraper.join()
                print(f"\n/metrics scraped {scraper.scrapes} times, {scraper.failures} failed")
                ok &= scraper.failures == 0 and scraper.scrapes > 0
            ok &= report(results, names, args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            procs.stop()
    return 0 if ok else 1


def report(results: dict, names: list[str], args) -> bool:
    ok = True
    for c in LEVELS:
        med = {
            n: {
                k: statistics.median(r[k] for r in results[n, c])
                for k in ("p50", "p99", "rps", "cpu", "switches")
            }
            for n in names
        }
        kind = f"open loop, {args.rate:g}/s" if c == 1 else "closed loop"
        print(f"\nconcurrency {c} ({kind}; medians over {args.rounds} rounds)")
        print(
            f"{'server':<12} {'p50 ms':>8} {'p99 ms':>8} {'answers/s':>10} "
            f"{'missing':>8} {'wrong':>6} {'ack fail':>9} {'CPU ms/ans':>11} {'switches/ans':>13}"
        )
        for n in names:
            m, rs = med[n], results[n, c]
            missing = sum(r["missing"] for r in rs)
            wrong = sum(r["wrong"] for r in rs)
            failures = sum(r["failures"] for r in rs)
            ok &= missing == 0 and wrong == 0 and failures == 0
            print(
                f"{n:<12} {m['p50']:>8.1f} {m['p99']:>8.1f} {m['rps']:>10.1f} "
                f"{missing:>8} {wrong:>6} {failures:>9} {m['cpu']:>11.2f} {m['switches']:>13.0f}"
            )
        for a, b in [(OURS, BARE), (BASE, BARE), (OURS, BASE)]:
            if a in med and b in med:
                x, y = med[a], med[b]
                print(
                    f"{a} / {b}: p50 {x['p50'] / y['p50']:.2f}x  p99 {x['p99'] / y['p99']:.2f}x"
                    f"  throughput {x['rps'] / y['rps']:.2f}x"
                )
        p99 = med[OURS]["p99"] / med[BARE]["p99"]
        rps = med[OURS]["rps"] / med[BARE]["rps"]
        met = p99 <= P99_TARGET and rps >= RPS_TARGET
        print(
            f"target (p99 <= {P99_TARGET}x, throughput >= {RPS_TARGET}x): "
            f"{'met' if met else 'MISSED'}"
        )
        ok &= met
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
