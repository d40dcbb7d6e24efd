"""``xbooker-bot doctor``: check configuration, tokens and the organization once.

It says precisely what is wrong, quoting X Booker's message verbatim, and never
prints a secret. It uses the stored refresh token and issues one only when none
is stored, because issuing invalidates every other holder's token.
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
    creds = settings.credentials
    assert creds is not None
    print(f"configuration: ok (X Booker at {settings.xbooker_base_url})", file=out)
    key = TokenKey(settings.xbooker_base_url, creds.organization_id, creds.client_id)
    stored = RefreshTokenStore(store, key).load()
    if stored is None:
        print(
            "warning: no refresh token stored for this delegated app; issuing one now. This "
            "invalidates the refresh token of any other process using the same delegated app.",
            file=out,
        )
    else:
        print(f"refresh token: stored (generation {stored.generation})", file=out)
    with XBookerClient(settings.xbooker_base_url, creds, store) as client:
        try:
            organization = client.organization()
        except errors.XBookerError as exc:
            advice = advise(exc)
            status = f" (HTTP {exc.status})" if exc.status is not None else ""
            print(f"error: X Booker said{status}: {one_line(exc.message)}", file=out)
            print(f"  meaning: {advice.meaning}", file=out)
            print(f"  what to do: {advice.action}", file=out)
            return 1
        state = client.tokens.state()
    print(
        f"tokens: ok ({state['refresh_calls']} refresh call(s), "
        f"{state['access_calls']} access call(s))",
        file=out,
    )
    print(f"organization: {one_line(organization.name)} ({one_line(organization.id)})", file=out)
    print("doctor: all checks passed", file=out)
    return 0
