"""Bare Bolt apps: the baselines for bench/ack.py and bench/e2e.py.

Served by the same stack as ``xbooker-bot serve`` (gunicorn, one gthread worker,
Bolt's WSGI adapter):

    gunicorn -k gthread --threads 16 'bench.bare_app:make("floor")'

``default`` and ``floor`` only ack, so that ack latency is compared with the least
a Bolt app can do. ``e2e`` also does, per command, the least I/O an answer to
``/xbooker org`` needs (one X Booker GET, one ``response_url`` POST), so that
end-to-end latency is compared with the same network work and nothing else.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

# Same pool size as xbooker-bot's executor (bot.slack.app.WORKERS): Bolt's default
# of 5 threads would cap the baseline's throughput, not measure its work.
E2E_WORKERS = 64


def gunicorn_argv(python: str, mode: str, port: int, *options: str) -> list[str]:
    """The command line that serves ``make(mode)`` on the stack `xbooker-bot serve`
    uses: gunicorn, one gthread worker, as many threads."""
    from bot.slack.serve import THREADS

    return [
        python,
        "-m",
        "gunicorn",
        "-w",
        "1",
        "-k",
        "gthread",
        "--threads",
        str(THREADS),
        *options,
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        f'bench.bare_app:make("{mode}")',
    ]


def make(mode: str) -> SlackRequestHandler:
    """``default``: Bolt's default mode; ``floor``: ``process_before_response=True``;
    ``e2e``: the floor plus a lazy lookup answered through ``response_url``."""
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=(mode in ("floor", "e2e")),
        authorize=lambda enterprise_id, team_id, **_: AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench"
        ),
        **({"listener_executor": ThreadPoolExecutor(E2E_WORKERS)} if mode == "e2e" else {}),
    )

    def ack_only(ack) -> None:
        ack()

    if mode == "e2e":
        app.command("/xbooker")(ack=ack_only, lazy=[_lookup(os.environ)])
    else:
        app.command("/xbooker")(ack_only)
    return SlackRequestHandler(app)


class _AccessToken:
    """One refresh token for the worker's life, access tokens renewed by one caller
    a while before they expire (the others keep using the current one), so that
    the baseline pays for auth about as rarely as xbooker-bot does."""

    def __init__(self, http: httpx.Client, base: str, env, lifetime: float) -> None:
        self._http = http
        self._base = base
        self._ids = {
            "organization-id": env["XBOOKER_ORGANIZATION_ID"],
            "client-id": env["XBOOKER_CLIENT_ID"],
        }
        self._renew_after = 0.75 * lifetime
        self._lock = threading.Lock()
        response = http.get(
            f"{base}/auth/v1/tokens/refresh",
            headers={**self._ids, "client-secret": env["XBOOKER_CLIENT_SECRET"]},
        )
        response.raise_for_status()
        self._refresh = response.json()["data"]["refreshToken"]
        self._renew()

    def _renew(self) -> None:
        obtained = time.monotonic()
        response = self._http.get(
            f"{self._base}/auth/v1/tokens/access",
            headers={**self._ids, "Authorization": f"Bearer {self._refresh}"},
        )
        response.raise_for_status()
        self.headers = {
            **self._ids,
            "Authorization": f"Bearer {response.json()['data']['accessToken']}",
        }
        self._obtained = obtained

    def current(self) -> dict[str, str]:
        if time.monotonic() - self._obtained > self._renew_after and self._lock.acquire(False):
            try:
                self._renew()
            finally:
                self._lock.release()
        return self.headers


def _lookup(env):
    """The lazy listener: one GET of the organization, one POST of its name."""
    base = env["XBOOKER_BASE_URL"].rstrip("/")
    xbooker = httpx.Client(timeout=10, headers={"User-Agent": "bench-bare-app"})
    slack = httpx.Client(timeout=10)
    token = _AccessToken(xbooker, base, env, float(env.get("BENCH_ACCESS_TTL", "120")))

    def lookup(body: dict) -> None:
        response = xbooker.get(f"{base}/delegated/v1/organization", headers=token.current())
        response.raise_for_status()
        name = response.json()["data"]["organization"]["name"]
        slack.post(
            body["response_url"],
            json={"response_type": "ephemeral", "text": f"Organization: {name}"},
        )

    return lookup
