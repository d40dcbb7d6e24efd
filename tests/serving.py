"""`xbooker-bot serve` as a process for a test: started on a free port against the
test's simulator and fake Slack, its output kept in a file (a pipe nobody reads
could fill up and stall it), stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers import free_port
from tests.slack_requests import command_body, sign
from tests.world import SIGNING_SECRET, settings_env


class Served:
    def __init__(self, sim_server, fake_slack, folder: Path, **env: str) -> None:
        self.fake_slack = fake_slack
        self.db = folder / "serve.db"
        self.log = folder / "serve.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **settings_env(sim_server.url, fake_slack, str(self.db)),
            "SLACK_TEAM_ID": "T0TEAM",
            "PYTHON_DOTENV_DISABLED": "1",
            **env,
        }
        self._folder = folder
        self._names = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> Served:
        argv = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port"]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*argv, str(self.port)],
                env=self.env,
                cwd=self._folder,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("serve did not start:\n" + self.log.read_text())

    def stop(self) -> str:
        """SIGTERM, wait, and the whole output."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.log.read_text()

    def post(self, text: str, user: str) -> tuple[httpx.Response, str]:
        """A signed slash command; Bolt's response and its response_url path."""
        self._names += 1
        name = f"s{self._names}"
        body = command_body(text, user, "T0TEAM", "C0GENERAL", self.fake_slack.response_url(name))
        headers = sign(SIGNING_SECRET, body)
        return httpx.post(f"{self.url}/slack/events", content=body, headers=headers, timeout=10), (
            f"/response/{name}"
        )

    def ask(self, text: str, user: str) -> dict:
        """What the user sees: the ack body, or else the response_url post."""
        response, path = self.post(text, user)
        assert response.status_code == 200, response.text
        if response.content:
            return response.json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for got, payload in list(self.fake_slack.responses):
                if got == path:
                    return payload
            time.sleep(0.01)
        raise AssertionError(f"no reply to {text!r}:\n{self.log.read_text()[-3000:]}")

    def audit_rows(self) -> int:
        with sqlite3.connect(self.db) as conn:
            return conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]

    def wait_audit_rows(self, count: int) -> None:
        """Until the audit log holds ``count`` rows (a command answered in its ack is
        recorded by its lazy listener a moment later)."""
        deadline = time.monotonic() + 10
        while self.audit_rows() < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.audit_rows() == count
