"""The simulated X Booker: delegated apps, tokens, one organization, and test knobs.

What docs/xbooker-api.md says X Booker documents is implemented exactly (status codes and verbatim
messages, refresh tokens bound to the caller, 2-minute access tokens, app
expiry, removed apps, scopes); the assumptions of its section 5 on top. The HTTP layer
(:mod:`bot.simulator.server`) only translates requests to :meth:`handle`.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.simulator import seed
from bot.xbooker import messages as m
from bot.xbooker.operations import (
    MEMBER_ROLES,
    OPERATIONS,
    ORGANIZATION_FIELDS,
    PAGE_LIMIT_MAX,
)

ALL_SCOPES = frozenset({"organization:read", "organization:write", "members:read", "members:write"})
DEMO_CREDENTIALS = ("org_7d3f2a", "demo-client", "demo-secret-not-for-production")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
_MEMBER_PATH = re.compile(r"^/organization/members/([^/]+)$")


HTML_ERROR = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Reply:
    status: int
    body: dict | bytes | None  # bytes: sent as text/html; None: drop the connection
    endpoint: str = "other"
    truncate: bool = False  # announce the full length, send half, close


@dataclass
class DelegatedApp:
    organization_id: str
    client_id: str
    client_secret: str
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    expires_at: float | None = None  # simulated wall time
    removed: bool = False


@dataclass
class _Refresh:
    client_id: str
    binding: tuple[str, str]
    live: bool = True


@dataclass
class _Access:
    client_id: str
    refresh_token: str
    issued_at: float


def envelope(status: int, message: str, data: dict | None = None) -> dict:
    return {"statusCode": status, "success": status < 400, "message": message, "data": data}


def _now_iso(offset: float) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Simulator:
    """Thread-safe simulated X Booker; every public knob is safe to call from tests."""

    def __init__(
        self,
        organization_id: str = DEMO_CREDENTIALS[0],
        client_id: str = DEMO_CREDENTIALS[1],
        client_secret: str = DEMO_CREDENTIALS[2],
        *,
        access_ttl: float = 120.0,
        member_count: int = 120,
    ) -> None:
        self._lock = threading.Lock()
        self.access_ttl = access_ttl
        self.latency = 0.0
        self._offset = 0.0
        self._fail: list[tuple[int, bool, str]] = []
        self._fail_after: list[tuple[str | None, int, bool, str]] = []
        self._drop = 0
        self._truncate = 0
        self.counters: Counter[str] = Counter()
        self.apps: dict[str, DelegatedApp] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._access: dict[str, _Access] = {}
        organization = dict(seed.ORGANIZATION, id=organization_id)
        self.organization = organization
        self.members: dict[str, dict] = {mb["id"]: mb for mb in seed.members(member_count)}
        self.add_app(organization_id, client_id, client_secret)

    def __repr__(self) -> str:
        return f"Simulator(apps={len(self.apps)}, members={len(self.members)})"

    # -- knobs ------------------------------------------------------------------

    def add_app(self, organization_id: str, client_id: str, client_secret: str) -> DelegatedApp:
        with self._lock:
            app = DelegatedApp(organization_id, client_id, client_secret)
            self.apps[client_id] = app
            return app

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (expires access tokens and apps)."""
        with self._lock:
            self._offset += seconds

    def now(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        return time.time() + self._offset

    def fail_next(
        self, count: int, status: int = 500, html: bool = False, message: str = ""
    ) -> None:
        """The next ``count`` requests fail with ``status`` and ``message`` (or an HTML
        page if ``html``), whatever they asked for."""
        with self._lock:
            self._fail.extend([(status, html, message or "Internal server error")] * count)

    def fail_after_apply(
        self,
        count: int,
        status: int = 502,
        html: bool = False,
        message: str = "",
        endpoint: str | None = None,
    ) -> None:
        """The next ``count`` requests (to ``endpoint``, such as "remove member", if given)
        are carried out, then answered with ``status``: a proxy that gave up after X Booker
        did the work, the ambiguous write."""
        with self._lock:
            fault = (endpoint, status, html, message or "Bad gateway")
            self._fail_after.extend([fault] * count)

    def drop_next(self, count: int) -> None:
        """The next ``count`` requests get their connection closed without an answer."""
        with self._lock:
            self._drop += count

    def truncate_next(self, count: int) -> None:
        """The next ``count`` answers are cut off half-way."""
        with self._lock:
            self._truncate += count

    def set_scopes(self, scopes: set[str], client_id: str | None = None) -> None:
        with self._lock:
            self._app(client_id).scopes = set(scopes)

    def expire_app(self, in_seconds: float = -1.0, client_id: str | None = None) -> None:
        with self._lock:
            self._app(client_id).expires_at = self.wall() + in_seconds

    def remove_app(self, client_id: str | None = None) -> None:
        with self._lock:
            self._app(client_id).removed = True

    def issue_refresh_out_of_band(self, client_id: str | None = None) -> str:
        """What another holder of the same delegated app does: supersede our token."""
        with self._lock:
            app = self._app(client_id)
            return self._issue_refresh(app, ("elsewhere", "another-holder"))

    def reset_counters(self) -> None:
        with self._lock:
            self.counters.clear()

    def count(self, endpoint: str) -> int:
        with self._lock:
            return self.counters[endpoint]

    def apply_knobs(self, knobs: dict) -> None:
        """The control endpoint's JSON, for a simulator in another process."""
        if "latency" in knobs:
            self.latency = float(knobs["latency"])
        if "access_ttl" in knobs:
            self.access_ttl = float(knobs["access_ttl"])

        def fault(default_status: int) -> tuple[int, bool, str]:
            status = int(knobs.get("fail_status", default_status))
            return status, bool(knobs.get("fail_html", False)), str(knobs.get("fail_message", ""))

        if "fail_next" in knobs:
            self.fail_next(int(knobs["fail_next"]), *fault(500))
        if "fail_after_apply" in knobs:
            count = int(knobs["fail_after_apply"])
            self.fail_after_apply(count, *fault(502), knobs.get("fail_endpoint"))
        if "drop_next" in knobs:
            self.drop_next(int(knobs["drop_next"]))
        if "truncate_next" in knobs:
            self.truncate_next(int(knobs["truncate_next"]))
        if "scopes" in knobs:
            self.set_scopes(set(knobs["scopes"]))
        if "advance" in knobs:
            self.advance(float(knobs["advance"]))
        if knobs.get("expire_app"):
            self.expire_app()
        if knobs.get("remove_app"):
            self.remove_app()
        if knobs.get("supersede_refresh"):
            self.issue_refresh_out_of_band()
        if knobs.get("reset_counters"):
            self.reset_counters()

    def _app(self, client_id: str | None) -> DelegatedApp:
        return self.apps[client_id] if client_id else next(iter(self.apps.values()))

    # -- requests ----------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        client_ip: str,
    ) -> Reply:
        """Answer one request; ``headers`` keys are lower-case."""
        endpoint = _endpoint_name(method, path)
        with self._lock:
            self.counters[endpoint] += 1
            if self._drop:
                self._drop -= 1
                return Reply(0, None, endpoint)
            if self._fail:
                status, html, message = self._fail.pop(0)
                body = HTML_ERROR if html else envelope(status, message)
                return Reply(status, body, endpoint)
            if path.startswith("/auth/v1/"):
                status, payload = self._auth(method, path, headers, client_ip)
            elif path == "/delegated/v1" or path.startswith("/delegated/v1/"):
                status, payload = self._delegated(
                    method, path[len("/delegated/v1") :], query, headers, body
                )
            else:
                status, payload = 404, envelope(404, m.ROUTE_NOT_FOUND)
            truncate = self._truncate > 0
            self._truncate -= truncate
            if self._fail_after and self._fail_after[0][0] in (None, endpoint):
                _, status, html, message = self._fail_after.pop(0)
                payload = HTML_ERROR if html else envelope(status, message)
        return Reply(status, payload, endpoint, truncate)

    # -- auth API ----------------------------------------------------------------

    def _auth(
        self, method: str, path: str, headers: dict[str, str], client_ip: str
    ) -> tuple[int, dict]:
        if path not in ("/auth/v1/tokens/refresh", "/auth/v1/tokens/access"):
            return 404, envelope(404, m.ROUTE_NOT_FOUND)
        if method != "GET":
            return 403, envelope(403, m.METHOD_NOT_RECOGNIZED)
        binding = (client_ip, headers.get("user-agent", ""))
        app = self.apps.get(headers.get("client-id", ""))
        if path.endswith("/refresh"):
            if app is None or app.removed:
                return 400, envelope(400, m.CLIENT_NOT_FOUND)
            if not secrets.compare_digest(
                headers.get("client-secret", "").encode(), app.client_secret.encode()
            ):
                return 400, envelope(400, m.INVALID_CLIENT_SECRET)
            token = self._issue_refresh(app, binding)
            return 200, envelope(200, "Refresh token generated", {"refreshToken": token})
        presented = _bearer(headers)
        record = self._refresh.get(presented) if presented else None
        if app is None or app.removed or record is None or record.client_id != app.client_id:
            return 400, envelope(400, m.INVALID_REFRESH_TOKEN)
        if not record.live:
            return 400, envelope(400, m.INVALID_REFRESH_TOKEN)
        if record.binding != binding:
            return 400, envelope(400, m.NOT_PERMITTED)
        if app.expires_at is not None and self.wall() >= app.expires_at:
            return 400, envelope(400, m.REFRESH_EXPIRED)
        token = "xbat_" + secrets.token_urlsafe(32)
        self._access[token] = _Access(app.client_id, presented, self.now())
        return 200, envelope(200, "Access token generated", {"accessToken": token})

    def _issue_refresh(self, app: DelegatedApp, binding: tuple[str, str]) -> str:
        for record in self._refresh.values():
            if record.client_id == app.client_id:
                record.live = False
        token = "xbrt_" + secrets.token_urlsafe(40)
        self._refresh[token] = _Refresh(app.client_id, binding)
        return token

    # -- delegated API -------------------------------------------------------------

    def _delegated(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict]:
        path = path.rstrip("/")
        route = _route(path)
        if route is None:
            return 404, envelope(404, m.ROUTE_NOT_FOUND)
        allowed, member_id = route
        if method not in allowed:
            return 403, envelope(403, m.METHOD_NOT_RECOGNIZED)
        denied = self._check_access(headers)
        if isinstance(denied, tuple):
            return denied
        app = denied
        operation = allowed[method]
        scope = OPERATIONS[operation].scope
        if scope not in app.scopes:
            return 403, envelope(403, m.INVALID_SCOPE)
        payload = None
        if method in ("POST", "PATCH"):
            try:
                payload = json.loads(body.decode("utf-8")) if body else None
            except (ValueError, UnicodeDecodeError):
                payload = None
            if not isinstance(payload, dict):
                return 400, envelope(400, m.INVALID_BODY)
        return getattr(self, "_op_" + operation.replace(" ", "_"))(member_id, query, payload)

    def _check_access(self, headers: dict[str, str]) -> DelegatedApp | tuple[int, dict]:
        token = _bearer(headers)
        access = self._access.get(token) if token else None
        if access is None:
            return 403, envelope(403, m.NO_REFRESH_TOKENS)
        record = self._refresh.get(access.refresh_token)
        if record is None or not record.live:
            return 403, envelope(403, m.NO_REFRESH_TOKENS)
        app = self.apps.get(access.client_id)
        expired = app is not None and app.expires_at is not None and self.wall() >= app.expires_at
        if app is None or app.removed or expired:
            return 403, envelope(403, m.APP_NOT_FOUND)
        if "client-id" in headers and headers["client-id"] != app.client_id:
            return 403, envelope(403, m.APP_NOT_FOUND)
        if "organization-id" in headers and headers["organization-id"] != app.organization_id:
            return 403, envelope(403, m.ORGANIZATION_NOT_FOUND)
        if self.now() - access.issued_at >= self.access_ttl:
            return 403, envelope(403, m.ACCESS_EXPIRED)
        return app

    # -- operations (lock held) ------------------------------------------------------

    def _op_show_organization(self, _id, _query, _body) -> tuple[int, dict]:
        return 200, envelope(200, "Organization found", {"organization": dict(self.organization)})

    def _op_update_organization(self, _id, _query, body: dict) -> tuple[int, dict]:
        if not body or any(
            k not in ORGANIZATION_FIELDS or not isinstance(v, str) or len(v) > 500
            for k, v in body.items()
        ):
            return 400, envelope(400, m.INVALID_BODY)
        if "email" in body and not _EMAIL.fullmatch(body["email"]):
            return 400, envelope(400, m.INVALID_BODY)
        if "timezone" in body and body["timezone"] not in zoneinfo.available_timezones():
            return 400, envelope(400, m.INVALID_BODY)
        if "name" in body and not body["name"].strip():
            return 400, envelope(400, m.INVALID_BODY)
        self.organization.update(body)
        self.organization["updatedAt"] = _now_iso(self._offset)
        return 200, envelope(200, "Organization updated", {"organization": dict(self.organization)})

    def _op_list_members(self, _id, query: dict[str, str], _body) -> tuple[int, dict]:
        try:
            page = int(query.get("page", "1"))
            limit = int(query.get("limit", "50"))
        except ValueError:
            return 400, envelope(400, m.INVALID_BODY)
        role = query.get("role")
        if page < 1 or not 1 <= limit <= PAGE_LIMIT_MAX or (role and role not in MEMBER_ROLES):
            return 400, envelope(400, m.INVALID_BODY)
        text = query.get("q", "").lower()
        found = [
            mb
            for mb in self.members.values()
            if (not role or mb["role"] == role)
            and (not text or text in mb["name"].lower() or text in mb["email"].lower())
        ]
        chunk = found[(page - 1) * limit : page * limit]
        data = {"members": copy.deepcopy(chunk), "page": page, "limit": limit, "total": len(found)}
        return 200, envelope(200, "Members found", data)

    def _op_show_member(self, member_id: str, _query, _body) -> tuple[int, dict]:
        member = self.members.get(member_id)
        if member is None:
            return 404, envelope(404, m.MEMBER_NOT_FOUND)
        return 200, envelope(200, "Member found", {"member": dict(member)})

    def _op_add_member(self, _id, _query, body: dict) -> tuple[int, dict]:
        email, role, name = body.get("email"), body.get("role", "member"), body.get("name", "")
        if (
            not isinstance(email, str)
            or not _EMAIL.fullmatch(email)
            or role not in MEMBER_ROLES
            or not isinstance(name, str)
            or len(name) > 200
            or set(body) - {"email", "role", "name"}
        ):
            return 400, envelope(400, m.INVALID_BODY)
        if any(mb["email"].lower() == email.lower() for mb in self.members.values()):
            return 409, envelope(409, m.MEMBER_EXISTS)
        member = {
            "id": f"mem_{secrets.token_hex(5)}",
            "name": name or email.split("@")[0],
            "email": email,
            "role": role,
            "status": "invited",
            "joinedAt": None,
        }
        self.members[member["id"]] = member
        return 201, envelope(201, "Member added", {"member": dict(member)})

    def _op_change_member_role(self, member_id: str, _query, body: dict) -> tuple[int, dict]:
        role = body.get("role")
        if set(body) != {"role"} or role not in MEMBER_ROLES:
            return 400, envelope(400, m.INVALID_BODY)
        member = self.members.get(member_id)
        if member is None:
            return 404, envelope(404, m.MEMBER_NOT_FOUND)
        if member["role"] == "owner" and role != "owner" and self._owners() == 1:
            return 409, envelope(409, m.LAST_OWNER)
        member["role"] = role
        return 200, envelope(200, "Member updated", {"member": dict(member)})

    def _op_remove_member(self, member_id: str, _query, _body) -> tuple[int, dict]:
        member = self.members.get(member_id)
        if member is None:
            return 404, envelope(404, m.MEMBER_NOT_FOUND)
        if member["role"] == "owner" and self._owners() == 1:
            return 409, envelope(409, m.LAST_OWNER)
        del self.members[member_id]
        return 200, envelope(200, "Member removed", {"member": dict(member)})

    def _owners(self) -> int:
        return sum(1 for mb in self.members.values() if mb["role"] == "owner")


def _routes() -> dict[str, dict[str, str]]:
    """Path template -> method -> operation, from the same table the client uses."""
    routes: dict[str, dict[str, str]] = {"": {"GET": "show organization"}}
    for op in OPERATIONS.values():
        routes.setdefault(op.path, {})[op.method] = op.name
    return routes


_ROUTES = _routes()


def _route(path: str) -> tuple[dict[str, str], str | None] | None:
    if path in _ROUTES:
        return _ROUTES[path], None
    match = _MEMBER_PATH.match(path)
    if match:
        return _ROUTES["/organization/members/{id}"], match.group(1)
    return None


def _endpoint_name(method: str, path: str) -> str:
    if path == "/auth/v1/tokens/refresh":
        return "refresh"
    if path == "/auth/v1/tokens/access":
        return "access"
    if path.startswith("/delegated/v1"):
        route = _route(path[len("/delegated/v1") :].rstrip("/"))
        if route is not None and method in route[0]:
            return route[0][method]
    return "other"


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() != "bearer ":
        return None
    return value[7:].strip() or None
