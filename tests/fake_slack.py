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
        self.refuse_in: dict[str, str] = {}  # channel -> the error every chat.* call there gets
        self.socket_url: str | None = None
        # What doctor and the metrics look at. Any channel or user exists unless set to
        # None here; a dict overrides fields of the default answer (is_member, deleted...).
        self.token_error: str | None = None  # e.g. "invalid_auth": every method answers it
        self.errors: dict[str, list[str]] = {}  # method -> errors for its next calls
        self.channels: dict[str, dict | None] = {}
        self.users: dict[str, dict | None] = {}
        self.views: dict[str, dict] = {}  # view id -> the last view opened or published there
        self.delay: dict[str, float] = {}  # method -> seconds to wait before answering
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
                if fake.delay.get(method):
                    time.sleep(fake.delay[method])
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
        if method.startswith("chat.") and str(params.get("channel")) in self.refuse_in:
            error = self.refuse_in[str(params.get("channel"))]
        if self.token_error or self.errors.get(method):
            error = self.token_error or self.errors[method].pop(0)
        if error:
            return {"ok": False, "error": error}
        if method == "auth.test":
            return {
                "ok": True,
                "team_id": self.team_id,
                "user_id": "UBOT",
                "user": "xbooker",
                "bot_id": "BBOT",
            }
        if method == "conversations.info":
            return self._lookup("channel", self.channels, params.get("channel", ""))
        if method == "users.info":
            return self._lookup("user", self.users, params.get("user", ""))
        if method == "chat.postMessage":
            return {"ok": True, "channel": params.get("channel"), "ts": f"{next(self._ts)}.0001"}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "X"))[1:]}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{next(self._ts)}.0002"}
        if method in ("views.open", "views.update", "views.publish"):
            return self._view(method, params)
        return {"ok": False, "error": "unknown_method"}

    def _view(self, method: str, params: dict) -> dict:
        """Views as Slack checks them: parsed with slack_sdk's models and validated
        against Block Kit's limits; a modal must fit 100 blocks, a home tab too."""
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        error = invalid_view(view)
        if error:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [error]},
            }
        if method == "views.open" and not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        if method == "views.publish" and not params.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if method == "views.publish":  # one home per user
            view_id = f"home:{params['user_id']}"
        else:
            view_id = params.get("view_id") or f"V{next(self._ts):08d}"
        with self._lock:
            self.views[view_id] = view
        return {"ok": True, "view": {**view, "id": view_id, "hash": f"h{next(self._ts)}"}}

    def _lookup(self, kind: str, known: dict[str, dict | None], key: str) -> dict:
        """A channel or user as conversations.info / users.info show it."""
        found = known.get(key, {})
        if found is None or not key:
            return {"ok": False, "error": f"{kind}_not_found"}
        if kind == "channel":
            default = {"name": key.lower(), "is_member": True, "is_archived": False}
            default["is_private"] = key.startswith("G")
        else:
            default = {"name": key.lower(), "deleted": False, "is_bot": False}
            default["team_id"] = self.team_id
        return {"ok": True, kind: {"id": key, **default, **found}}

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


def invalid_view(view: object) -> str | None:
    """Why Slack would refuse this view, or None: slack_sdk's own model of a view and
    its blocks, with the limits Block Kit documents (validate_json), plus the block
    text limits messages have."""
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.views import View

    if not isinstance(view, dict):
        return "view is not an object"
    try:
        View(**view).validate_json()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
        return str(exc)
    if len(view.get("blocks") or []) > 100:
        return "a view holds at most 100 blocks"
    if len(json.dumps(view)) > 250_000:
        return "view too large"
    for block in view.get("blocks") or []:
        if invalid({"blocks": [block]}):
            return f"block {block.get('block_id') or block.get('type')} is invalid"
    return None


if __name__ == "__main__":
    fake = FakeSlack()
    print(fake.url, flush=True)
    fake.serve_forever()
