"""A small fake of Slack's Web API and of ``response_url``, on loopback, port 0.

It records every call (method and parameters) so tests can assert on what the
bot sent, and answers like Slack does for the methods the bot uses.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class FakeSlack:
    def __init__(self, team_id: str = "T0TEAM") -> None:
        self.team_id = team_id
        self.calls: list[tuple[str, dict]] = []
        self.responses: list[tuple[str, dict]] = []
        self.response_status = 200
        self.cut: dict[str, int] = {}  # method -> how many answers to cut off half-way
        self.refuse: list[str] = []  # errors for the next response_url posts to get
        self.socket_url: str | None = None
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode()
                kind = self.headers.get("content-type", "")
                params = json.loads(raw or "{}") if "json" in kind else dict(parse_qsl(raw))
                if self.path.startswith("/response/"):
                    with fake._lock:
                        fake.responses.append((self.path, params))
                        error = fake.refuse.pop(0) if fake.refuse else invalid(params)
                    if error:
                        self._send(400, error.encode(), "text/plain")
                    else:
                        self._send(fake.response_status, b"ok", "text/plain")
                    return
                method = self.path.rsplit("/", 1)[-1]
                with fake._lock:
                    fake.calls.append((method, params))
                    cut = fake.cut.get(method, 0) > 0
                    if cut:
                        fake.cut[method] -= 1
                if cut:  # promise 100 bytes, send 9, hang up: a cut response
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.write(b'{"ok":tru')
                    self.close_connection = True
                    return
                self._send(
                    200, json.dumps(fake.answer(method, params)).encode(), "application/json"
                )

            def do_GET(self):
                # For a fake running in another process (bench/ack.py).
                with fake._lock:
                    count = len(fake.responses)
                self._send(200, json.dumps({"responses": count}).encode(), "application/json")

            def _send(self, status, data, kind):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, method: str, params: dict) -> dict:
        error = invalid(params) if method.startswith("chat.") else None
        if error:
            return {"ok": False, "error": error}
        if method == "auth.test":
            return {"ok": True, "team_id": self.team_id, "user_id": "UBOT", "bot_id": "BBOT"}
        if method == "chat.postMessage":
            return {"ok": True, "channel": params.get("channel"), "ts": f"{next(self._ts)}.0001"}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "X"))[1:]}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        return {"ok": False, "error": "unknown_method"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.url}/response/{name}"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls_to(self, method: str) -> list[dict]:
        with self._lock:
            return [p for m, p in self.calls if m == method]

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def wait_responses(self, count: int, timeout: float = 10.0) -> list[dict]:
        """Poll until ``count`` response_url posts arrived (lazy listeners run on threads)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.responses) >= count:
                    return [p for _, p in self.responses]
            time.sleep(0.01)
        with self._lock:
            got = len(self.responses)
        raise AssertionError(f"expected {count} response_url posts, got {got}")


def invalid(params: dict) -> str | None:
    """Slack's refusal of a message's blocks, for the limits Slack enforces: 50 blocks,
    150 characters a header, 3,000 a section text (2,000 a field), text objects that are
    not empty, and the message's block text as a whole."""
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > 50:
        return "invalid_blocks"
    total = 0
    for block in blocks:
        texts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        limit = 150 if block.get("type") == "header" else 3000
        for item in texts:
            if not isinstance(item, dict):
                continue
            text = item.get("text")
            if isinstance(text, dict):  # a button's label
                text = text.get("text")
            if not isinstance(text, str) or not text:
                return "invalid_blocks"
            if len(text) > (2000 if item in block.get("fields", []) else limit):
                return "invalid_blocks"
            total += len(text)
    return "msg_blocks_too_long" if total > 12_000 else None


if __name__ == "__main__":
    fake = FakeSlack()
    print(fake.url, flush=True)
    fake.serve_forever()
