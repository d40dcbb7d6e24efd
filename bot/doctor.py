"""``xbooker-bot doctor``: check configuration, X Booker and Slack once.

Every check runs, so one run lists every problem; each problem is one line that
says what is wrong and what to do, X Booker's own message quoted verbatim. The
exit code is 1 if any line is an error (warnings alone leave it 0). No secret is
ever printed.

X Booker: the stored refresh token is used, and one is issued only when none is
stored, because issuing invalidates every other holder's token. Before that, the
configured client secret is compared with the fingerprint of the one that
obtained the stored token (:mod:`bot.store.tokens`). Slack: see
:mod:`bot.slack.checkup`, run when ``SLACK_BOT_TOKEN`` is set.
"""

from __future__ import annotations

from typing import TextIO

from bot.config import Settings, require
from bot.core.text import one_line
from bot.store import Store
from bot.store.tokens import RefreshTokenStore, TokenKey
from bot.xbooker import errors
from bot.xbooker.advice import advise
from bot.xbooker.client import XBookerClient


def run(settings: Settings, store: Store, out: TextIO) -> int:
    require(settings, "XBOOKER_CLIENT_SECRET")
    print(f"configuration: ok (X Booker at {settings.xbooker_base_url})", file=out)
    problems = _xbooker(settings, store, out)
    problems += _slack(settings, store, out)
    if problems:
        print(f"doctor: {problems} error(s): fix the lines marked error above", file=out)
        return 1
    print("doctor: all checks passed", file=out)
    return 0


def _xbooker(settings: Settings, store: Store, out: TextIO) -> int:
    """The refresh token, the secret that obtained it, a token round and one read."""
    creds = settings.credentials
    assert creds is not None  # required by run()
    key = TokenKey(settings.xbooker_base_url, creds.organization_id, creds.client_id)
    refresh = RefreshTokenStore(store, key)
    stored = refresh.load()
    if stored is None:
        print(
            "warning: no refresh token stored for this delegated app; issuing one now. This "
            "invalidates the refresh token of any other process using the same delegated app.",
            file=out,
        )
    else:
        print(f"refresh token: stored (generation {stored.generation})", file=out)
        same = refresh.secret_matches(creds.client_secret)
        if same is False:
            print(
                "warning: the client secret in XBOOKER_CLIENT_SECRET is not the one that "
                "obtained the stored refresh token: if the secret was rotated in X Booker, "
                "the bot issues a token with the new one when X Booker refuses the stored "
                "one; if not, correct XBOOKER_CLIENT_SECRET (the Secret on the app's card in "
                "X Booker) before that happens, or every re-issue will fail",
                file=out,
            )
        elif same is None:
            print(
                "refresh token: stored before this version kept the secret's fingerprint, so "
                "which client secret obtained it is not known",
                file=out,
            )
    # A stored token X Booker refuses is reported, never replaced: replacing it here
    # would invalidate the token of the bot that is running.
    with XBookerClient(settings.xbooker_base_url, creds, store, reissue=False) as client:
        try:
            organization = client.organization()
        except errors.XBookerError as exc:
            advice = advise(exc)
            status = f" (HTTP {exc.status})" if exc.status is not None else ""
            print(
                f"error: X Booker said{status}: {one_line(exc.message)}. {advice.meaning} "
                f"What to do: {advice.action}",
                file=out,
            )
            return 1
        state = client.tokens.state()
    print(
        f"tokens: ok ({state['refresh_calls']} refresh call(s), "
        f"{state['access_calls']} access call(s))",
        file=out,
    )
    print(f"organization: {one_line(organization.name)} ({one_line(organization.id)})", file=out)
    return 0


def _slack(settings: Settings, store: Store, out: TextIO) -> int:
    if settings.slack_bot_token is None:
        print("slack: SLACK_BOT_TOKEN is not set, so the Slack side was not checked", file=out)
        return 0
    from bot.runtime import stored_team_id
    from bot.slack.app import web_client
    from bot.slack.checkup import check

    errors_found = 0
    client = web_client(settings, wait_out_rate_limits=False)
    for finding in check(settings, client, stored_team_id(store)):
        prefix = "" if finding.level == "ok" else f"{finding.level}: "
        print(prefix + finding.text, file=out)
        errors_found += finding.level == "error"
    return errors_found
