"""The simulator's HTTP face: a threaded stdlib server, startable on port 0 from tests.

Faults are real network behaviour: latency delays the answer (the request has
already been handled, as a slow server's would be), a
dropped connection closes the socket without a byte of response, a 500 is a
real 500. ``/_simulator`` takes knobs and reports counters, for a simulator
running in another process (benchmarks, end-to-end tests); it answers only on
loopback.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from bot.simulator.state import Simulator

log = logging.getLogger(__name__)
CONTROL_PATH = "/_simulator"
MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each answer would
    # wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("simulator %s", format % args)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._send(413, {"statusCode": 413, "success": False, "message": "Too large"})
            return
        body = self.rfile.read(length) if length else b""
        if parts.path == CONTROL_PATH:
            self._control(body)
            return
        sim = self.server.simulator
        reply = sim.handle(
            self.command,
            parts.path,
            dict(parse_qsl(parts.query)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.client_address[0],
        )
        if sim.latency:
            # Handled first, answered late: a slow write has still been applied.
            time.sleep(sim.latency)
        if reply.body is None:
            self.close_connection = True
            return
        self._send(reply.status, reply.body, reply.truncate)

    def _control(self, body: bytes) -> None:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._send(403, {"message": "loopback only"})
            return
        sim = self.server.simulator
        if self.command == "POST":
            try:
                sim.apply_knobs(json.loads(body or b"{}"))
            except (ValueError, TypeError, KeyError) as exc:
                self._send(400, {"message": f"bad knobs: {exc}"})
                return
        with sim._lock:
            counters = dict(sim.counters)
        self._send(200, {"counters": counters, "members": len(sim.members)})

    def _send(self, status: int, payload: dict | bytes, truncate: bool = False) -> None:
        if isinstance(payload, bytes):
            data, kind = payload, "text/html"
        else:
            data, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: tuple) -> None:
        # A client that timed out and hung up is a test scenario, not a server fault.
        log.debug("simulator: client %s went away", client_address[0])


class SimulatorServer:
    """Start with :meth:`start` (port 0 picks a free port), stop with :meth:`stop`."""

    def __init__(self, simulator: Simulator | None = None, host: str = "127.0.0.1", port: int = 0):
        self.simulator = simulator or Simulator()
        self._server = _Server((host, port), self.simulator)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="xbooker-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
