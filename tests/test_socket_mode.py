"""Socket Mode against a local WebSocket server standing in for Slack."""

from __future__ import annotations

import json
import queue
import threading

from websockets.sync.server import serve

from bot.config import load_settings
from bot.slack import socket as socket_mode
from bot.slack.app import DrainingExecutor, build_app
from tests.slack_requests import command_body
from tests.world import ADMIN


def test_slash_command_over_socket_mode(world):
    received: queue.Queue = queue.Queue()
    outgoing: queue.Queue = queue.Queue()

    def handler(ws) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1}))
        while True:
            try:
                message = outgoing.get(timeout=0.05)
                ws.send(message)
            except queue.Empty:
                pass
            try:
                received.put(ws.recv(timeout=0.05))
            except TimeoutError:
                continue
            except Exception:
                return

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.socket.getsockname()[1]
    world.slack.socket_url = f"ws://127.0.0.1:{port}/link"
    settings = load_settings({**world.env, "SLACK_APP_TOKEN": "xapp-test-token"})
    executor = DrainingExecutor()
    app = build_app(settings, world.engine, client=world.web, executor=executor, socket_mode=True)
    handler_ = socket_mode.connect(app, "xapp-test-token")
    try:
        from urllib.parse import parse_qsl

        payload = dict(
            parse_qsl(command_body("org", ADMIN, "T0TEAM", "C1", world.slack.response_url("sock")))
        )
        outgoing.put(
            json.dumps(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": payload,
                }
            )
        )
        ack = json.loads(received.get(timeout=10))
        assert ack["envelope_id"] == "env-1"
        reply = world.wait_response("/response/sock")
        assert "Harbour Lane Studios" in reply["text"]
        help_payload = {**payload, "text": "help", "response_url": world.slack.response_url("h")}
        outgoing.put(
            json.dumps(
                {
                    "envelope_id": "env-2",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": help_payload,
                }
            )
        )
        ack = json.loads(received.get(timeout=10))
        assert ack["envelope_id"] == "env-2" and "members list" in ack["payload"]["text"]
        assert world.slack.calls_to("apps.connections.open")
    finally:
        handler_.close()
        executor.drain(5)
        server.shutdown()
