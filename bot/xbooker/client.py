"""Typed methods for every operation of docs/xbooker-api.md ("What we assume").

Every call goes straight to httpx transports of one connection each, lent one per
request (:mod:`bot.httppool`): delegated calls with the token manager as their
``httpx.Auth`` (:func:`bot.xbooker.transport.authorized`), token calls with tighter
timeouts so a slow API cannot starve renewals. Redirects are never followed: they
would carry headers such as ``client-secret`` wherever they point. No argument can
change the URL: member ids are validated and every path segment is percent-encoded.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx

from bot.config import XBookerCredentials
from bot.httppool import Transports, sent
from bot.store.database import Store
from bot.store.tokens import RefreshTokenStore, TokenKey
from bot.xbooker.models import Member, MemberPage, Organization
from bot.xbooker.operations import (
    MEMBER_ROLES,
    OPERATIONS,
    ORGANIZATION_FIELDS,
    PAGE_LIMIT_MAX,
    Operation,
)
from bot.xbooker.tokens import TokenManager, Windows, XBookerAuth
from bot.xbooker.transport import (
    USER_AGENT,
    Observer,
    RetryPolicy,
    Unobserved,
    authorized,
    send,
)

MEMBER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
API_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
AUTH_TIMEOUT = httpx.Timeout(8.0, connect=4.0)
# As an httpx client would send them: long member lists may come compressed.
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip"}


class InvalidArgument(ValueError):
    """An argument the client refuses to send; the text says what is wrong."""


def check_member_id(member_id: str) -> str:
    if not isinstance(member_id, str) or not MEMBER_ID.fullmatch(member_id):
        raise InvalidArgument("a member id is 1 to 64 letters, digits, '-' or '_'")
    return member_id


def _segment(value: str) -> str:
    return quote(value, safe="").replace(".", "%2E")


class XBookerClient:
    """The bot's only way to X Booker."""

    def __init__(
        self,
        base_url: str,
        credentials: XBookerCredentials,
        store: Store,
        *,
        windows: Windows | None = None,
        retry: RetryPolicy | None = None,
        api_timeout: httpx.Timeout = API_TIMEOUT,
        auth_timeout: httpx.Timeout = AUTH_TIMEOUT,
        reissue: bool = True,
        **clocks,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_url = self.base_url + "/delegated/v1"
        self._retry = retry or RetryPolicy()
        self._transports = Transports()
        self._timeout = {"timeout": api_timeout.as_dict()}
        self._auth_timeout = {"timeout": auth_timeout.as_dict()}
        key = TokenKey(self.base_url, credentials.organization_id, credentials.client_id)
        self.tokens = TokenManager(
            self._token_call,
            self.base_url,
            credentials,
            RefreshTokenStore(store, key),
            windows=windows,
            retry=self._retry,
            reissue=reissue,
            **clocks,
        )
        self._auth = XBookerAuth(self.tokens, credentials)
        self._observer: Observer = Unobserved()

    def observe(self, observer: Observer) -> None:
        """Report every request, token calls included, to ``observer`` from now on."""
        self._observer = observer
        self.tokens.observer = observer

    def __repr__(self) -> str:
        return f"XBookerClient({self.base_url!r})"

    def close(self) -> None:
        self._transports.close()

    def __enter__(self) -> XBookerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations ------------------------------------------------------------

    def organization(self) -> Organization:
        data = self._call(OPERATIONS["show organization"])
        return Organization.parse(data, "show organization")

    def update_organization(self, fields: dict[str, str]) -> Organization:
        unknown = sorted(set(fields) - set(ORGANIZATION_FIELDS))
        if unknown or not fields:
            raise InvalidArgument("organization fields are " + ", ".join(ORGANIZATION_FIELDS))
        data = self._call(OPERATIONS["update organization"], json=dict(fields))
        return Organization.parse(data, "update organization")

    def list_members(
        self,
        page: int = 1,
        limit: int = 50,
        role: str | None = None,
        query: str | None = None,
    ) -> MemberPage:
        if page < 1 or not 1 <= limit <= PAGE_LIMIT_MAX:
            raise InvalidArgument(f"page starts at 1 and limit is 1 to {PAGE_LIMIT_MAX}")
        params: dict[str, str | int] = {"page": page, "limit": limit}
        if role is not None:
            params["role"] = _role(role)
        if query:
            params["q"] = query
        data = self._call(OPERATIONS["list members"], params=params)
        return MemberPage.parse(data, "list members")

    def member(self, member_id: str) -> Member:
        data = self._call(OPERATIONS["show member"], member_id=member_id)
        return Member.parse(data.get("member"), "show member")

    def add_member(self, email: str, role: str = "member", name: str | None = None) -> Member:
        body: dict[str, str] = {"email": email, "role": _role(role)}
        if name:
            body["name"] = name
        data = self._call(OPERATIONS["add member"], json=body)
        return Member.parse(data.get("member"), "add member")

    def change_member_role(self, member_id: str, role: str) -> Member:
        data = self._call(
            OPERATIONS["change member role"], member_id=member_id, json={"role": _role(role)}
        )
        return Member.parse(data.get("member"), "change member role")

    def remove_member(self, member_id: str) -> Member:
        data = self._call(OPERATIONS["remove member"], member_id=member_id)
        return Member.parse(data.get("member"), "remove member")

    # -- plumbing ----------------------------------------------------------------

    def _token_call(self, url: str, headers: dict[str, str]) -> httpx.Response:
        request = httpx.Request(
            "GET", url, headers={**_HEADERS, **headers}, extensions=self._auth_timeout
        )
        return self._transports.use(request.url, lambda lent: sent(lent, request))

    def _call(
        self,
        op: Operation,
        *,
        member_id: str | None = None,
        params: dict | None = None,
        json: dict | None = None,
    ) -> dict:
        path = op.path
        if "{id}" in path:
            path = path.replace("{id}", _segment(check_member_id(member_id or "")))
        url = self._api_url + path

        def request() -> httpx.Response:
            outgoing = httpx.Request(
                op.method, url, params=params, json=json, headers=_HEADERS, extensions=self._timeout
            )
            return self._transports.use(
                outgoing.url, lambda lent: authorized(lent, outgoing, self._auth)
            )

        return send(
            request,
            operation=op.name,
            idempotent=not op.write,
            policy=self._retry,
            observer=self._observer,
        )


def _role(role: str) -> str:
    if role not in MEMBER_ROLES:
        raise InvalidArgument("an X Booker role is one of " + ", ".join(MEMBER_ROLES))
    return role
