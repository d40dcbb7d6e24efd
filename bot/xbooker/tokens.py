"""The token manager: one refresh token, kept; access tokens, shared; renewals, single-flight.

Modelled on botocore's ``RefreshableCredentials``: an immutable snapshot read
without a lock on the fast path; an *advisory* window before expiry in which
one caller renews while the others keep using the current token; a *mandatory*
window in which callers wait for that one renewal. Expiry is measured on an
injectable monotonic clock from just before the request was sent, so wall-clock
jumps and X Booker's clock do not matter.

Renewal rules (docs/architecture.md, "Token manager"):

* ``403 Access token expired`` on a call: renew the access token unless a newer
  one exists already, retry once.
* ``403 No refresh tokens found ...`` on a call, or ``Invalid refresh token`` /
  ``You are't permitted ...`` / ``Your refresh token is expired ...`` at
  ``/tokens/access``: the refresh token is unusable. Adopt a newer one from the
  store if another process has written one, otherwise issue one, under the
  store's lease, at most once a minute (issuing invalidates every other holder).
* Wrong client id / secret / organization, or an app that stays expired after
  one new refresh token, is final: the error is cached for a minute so a burst
  of commands cannot become a burst of auth calls.

Issuing a refresh token is not idempotent: every request that reaches X Booker
may mint a token and so invalidate the one every process is using, whether or
not its answer ever arrives. So an issuance is sent once, retried only when the
connection was never made, and an ambiguous failure (a timeout, a 5xx, a cut
connection) is reported rather than replayed. The attempt is written to the
lease row before the request goes out, and the once-a-minute rule counts those
attempts, not the tokens that made it to the store: otherwise a slow X Booker
would get a fresh request, and revoke the previous token, on every command.

Access tokens are registered with the log scrubber with an expiry, so that
months of renewals do not grow the scrubber's pattern; the refresh token is
long-lived and stays registered for good.

Other parts learn of a re-issue through :attr:`TokenManager.on_reissue` (the
metrics, the log channel): its listeners are called with the new generation once
the token is stored, on the renewing thread but after the manager's lock is
released, so a slow listener delays that one call and never the others.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from bot import logs
from bot.config import XBookerCredentials
from bot.secret import Secret
from bot.store import holders
from bot.store.tokens import GenerationConflict, RefreshTokenStore, StoredRefresh
from bot.xbooker import errors
from bot.xbooker import messages as m
from bot.xbooker.transport import Observer, RetryPolicy, Unobserved, send

log = logging.getLogger(__name__)

ACCESS_LIFETIME = 120.0
REISSUE_INTERVAL = 60.0
FINAL_FAILURE_TTL = 60.0
TRANSIENT_FAILURE_TTL = 3.0
ADVISORY_BACKOFF = 5.0
LEASE_TTL = 30.0
# How long the log scrubber keeps an access token after its lifetime: X Booker
# counts the lifetime from when it handled the request, a little after we did,
# and a call sent just before expiry may log its failure a little after.
SCRUB_GRACE = 60.0
# A token goes into an HTTP header as it is: visible ASCII only (a line break would be
# a header of X Booker's choosing), and bounded.
_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")

# Messages that mean "this refresh token can no longer mint access tokens".
_REFRESH_UNUSABLE = {
    m.INVALID_REFRESH_TOKEN,
    m.NOT_PERMITTED,
    m.REFRESH_EXPIRED,
    m.NO_REFRESH_TOKENS,
}


@dataclass(frozen=True)
class Windows:
    """Seconds before expiry at which renewal becomes advisory, then mandatory."""

    lifetime: float
    advisory: float
    mandatory: float

    @classmethod
    def for_lifetime(cls, lifetime: float = ACCESS_LIFETIME) -> Windows:
        # botocore's ratio scaled to a 2-minute token: 30 s advisory, 15 s mandatory.
        advisory = min(max(0.25 * lifetime, min(10.0, 0.4 * lifetime)), 900.0)
        mandatory = min(max(0.125 * lifetime, min(5.0, 0.2 * lifetime)), 600.0)
        assert 0 < mandatory < advisory < lifetime
        return cls(lifetime, advisory, mandatory)


@dataclass(frozen=True)
class AccessSnapshot:
    token: Secret
    generation: int
    refresh_generation: int
    obtained_at: float
    expires_at: float


@dataclass
class Counters:
    """Auth calls this process made; ``status`` and the benchmark read them."""

    refresh_calls: int = 0
    access_calls: int = 0
    reissues: int = 0


class TokenManager:
    """Hands out access tokens for one delegated app; safe to share between threads."""

    def __init__(
        self,
        get: Callable[[str, dict[str, str]], httpx.Response],
        base_url: str,
        credentials: XBookerCredentials,
        refresh_store: RefreshTokenStore,
        *,
        windows: Windows | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        reissue: bool = True,
    ) -> None:
        """``reissue=False``: never replace a stored refresh token that X Booker refuses
        (for a one-off check such as doctor, whose re-issue would cut off the running
        bot's token); a token is still issued when none is stored."""
        self._reissue = reissue
        self._get = get  # (url, headers) -> the response, read; never follows a redirect
        self._auth_url = base_url.rstrip("/") + "/auth/v1"
        self._credentials = credentials
        self._store = refresh_store
        self.windows = windows or Windows.for_lifetime()
        self._retry = retry or RetryPolicy(sleep=sleep, rng=rng)
        self._clock, self._wall, self._sleep, self._rng = clock, wall, sleep, rng
        self._holder = holders.name()
        self._lock = threading.Lock()
        self._snapshot: AccessSnapshot | None = None
        self._refresh: StoredRefresh | None = None
        self._stale_refresh_generation = 0
        self._access_generation = 0
        self._failure: tuple[errors.XBookerError, float] | None = None
        self._advisory_after = 0.0
        self.counters = Counters()
        self.observer: Observer = Unobserved()
        # Called with the new generation after each re-issue is stored (see the module).
        self.on_reissue: list[Callable[[int], None]] = []
        self._reissued: list[int] = []  # generations not yet announced
        self._reissued_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenManager(client_id={self._credentials.client_id!r})"

    # -- public -------------------------------------------------------------

    def token(self) -> AccessSnapshot:
        """A usable access token, renewing it when the windows say so."""
        snap = self._snapshot
        now = self._clock()
        if snap is not None and now < snap.expires_at - self.windows.advisory:
            return snap
        try:
            if snap is not None and now < snap.expires_at - self.windows.mandatory:
                return self._advisory_renewal(snap, now)
            with self._lock:
                snap = self._snapshot
                now = self._clock()
                if snap is not None and now < snap.expires_at - self.windows.mandatory:
                    return snap
                self._raise_cached_failure(now)
                try:
                    return self._renew()
                except errors.XBookerError as exc:
                    final = isinstance(exc, errors.CredentialsError | errors.AppUnavailableError)
                    ttl = FINAL_FAILURE_TTL if final else TRANSIENT_FAILURE_TTL
                    self._failure = (exc, self._clock() + ttl)
                    raise
        finally:
            self._announce()

    def access_rejected(self, snap: AccessSnapshot) -> None:
        """X Booker said ``Access token expired`` for a call sent with ``snap``."""
        with self._lock:
            if self._snapshot is not None and self._snapshot.generation == snap.generation:
                self._snapshot = None
                self._failure = None

    def refresh_rejected(self, snap: AccessSnapshot) -> None:
        """X Booker said ``No refresh tokens found ...``: the refresh token was superseded."""
        with self._lock:
            if self._snapshot is not None and self._snapshot.generation != snap.generation:
                return
            self._snapshot = None
            self._failure = None
            self._stale_refresh_generation = max(
                self._stale_refresh_generation, snap.refresh_generation
            )

    def state(self) -> dict:
        """Ages and counts for ``status``; never a token."""
        now, wall = self._clock(), self._wall()
        snap, refresh = self._snapshot, self._refresh
        return {
            "access_token_age": None if snap is None else round(now - snap.obtained_at, 1),
            "access_token_left": None if snap is None else round(snap.expires_at - now, 1),
            "refresh_token_age": None if refresh is None else round(wall - refresh.issued_at),
            "refresh_generation": None if refresh is None else refresh.generation,
            "refresh_reissues": None if refresh is None else refresh.reissues,
            **vars(self.counters),
        }

    def _announce(self) -> None:
        """Tell the ``on_reissue`` listeners of re-issues stored since the last call;
        runs with the manager's lock released."""
        if not self._reissued:
            return
        with self._reissued_lock:
            generations, self._reissued = self._reissued, []
        for generation in generations:
            for listener in list(self.on_reissue):
                try:
                    listener(generation)
                except Exception:  # a listener must not fail the call that renewed
                    log.exception("a refresh-token re-issue listener failed")

    # -- renewal (lock held) --------------------------------------------------

    def _advisory_renewal(self, snap: AccessSnapshot, now: float) -> AccessSnapshot:
        if now < self._advisory_after or not self._lock.acquire(blocking=False):
            return snap
        try:
            if self._snapshot is snap:
                try:
                    return self._renew()
                except errors.XBookerError as exc:
                    self._advisory_after = now + ADVISORY_BACKOFF * (0.5 + self._rng())
                    log.warning("early access-token renewal failed (%s); keeping current", exc)
            return self._snapshot or snap
        finally:
            self._lock.release()

    def _raise_cached_failure(self, now: float) -> None:
        if self._failure is None:
            return
        exc, until = self._failure
        if now < until:
            raise type(exc)(exc.message, exc.status, exc.operation)
        self._failure = None

    def _renew(self) -> AccessSnapshot:
        refresh = self._current_refresh()
        if refresh.generation <= self._stale_refresh_generation:
            refresh = self._replace_refresh(refresh, m.NO_REFRESH_TOKENS)
        replaced = False
        while True:
            sent_at = self._clock()
            try:
                access = self._call_access(refresh.token)
            except errors.APIError as exc:
                if exc.message not in _REFRESH_UNUSABLE or replaced:
                    raise
                replaced = True
                try:
                    refresh = self._replace_refresh(refresh, exc.message)
                except errors.ReissueRefusedError:
                    if exc.message == m.REFRESH_EXPIRED:
                        raise exc from None  # the app's expiry is the news, not our rate limit
                    raise
                continue
            self._access_generation += 1
            snap = AccessSnapshot(
                access,
                self._access_generation,
                refresh.generation,
                sent_at,
                sent_at + self.windows.lifetime,
            )
            self._snapshot = snap
            return snap

    def _current_refresh(self) -> StoredRefresh:
        if self._refresh is None:
            stored = self._store.load()
            self._refresh = stored if stored is not None else self._issue(None, "none stored")
        return self._refresh

    def _replace_refresh(self, seen: StoredRefresh, reason: str) -> StoredRefresh:
        stored = self._store.load()
        if stored is not None and stored.generation > seen.generation:
            log.info("adopting refresh token generation %d from the store", stored.generation)
            self._refresh = stored
            return stored
        if not self._reissue:
            raise errors.ReissueRefusedError(
                f"X Booker refused the stored refresh token ({reason}); it was not replaced "
                "here, since a new one would cut off the running bot's: the bot replaces it "
                "itself on its next call to X Booker"
            )
        self._refresh = self._issue(seen, reason)
        return self._refresh

    def _issue(self, seen: StoredRefresh | None, reason: str) -> StoredRefresh:
        """Issue a refresh token under the lease, unless someone else just did.

        The attempt is committed to the lease row before the request is sent, so a
        timeout, a crash or a second process cannot make it look as if none was made.
        """
        deadline = self._clock() + LEASE_TTL
        while not self._store.acquire_lease(self._holder, self._wall(), LEASE_TTL):
            if self._clock() > deadline:
                raise errors.ReissueRefusedError(
                    "another process holds the refresh-token lease; try again shortly"
                )
            self._sleep(0.05 + 0.1 * self._rng())
        try:
            stored = self._store.load()
            seen_generation = seen.generation if seen is not None else 0
            if stored is not None and stored.generation > seen_generation:
                return stored
            self._check_interval(stored, reason)
            if not self._store.record_attempt(self._holder, self._wall()):
                raise errors.ReissueRefusedError(
                    "the refresh-token lease lapsed before the request was sent; try again shortly"
                )
            token = self._call_refresh()
            saved = self._store.save(
                token,
                stored.generation if stored else 0,
                self._wall(),
                self._credentials.client_secret,
            )
        except GenerationConflict:
            # Only possible if our lease lapsed mid-call; the newer token wins.
            winner = self._store.load()
            assert winner is not None
            return winner
        finally:
            self._store.release_lease(self._holder)
        if stored is None:
            log.info("refresh token issued and stored (generation %d)", saved.generation)
        else:
            self.counters.reissues += 1
            with self._reissued_lock:
                self._reissued.append(saved.generation)
            log.warning(
                "refresh token re-issued because X Booker said %r (generation %d, %d "
                "re-issues so far); frequent re-issues mean another holder of this "
                "delegated app or a changing egress IP",
                reason,
                saved.generation,
                saved.reissues,
            )
        return saved

    def _check_interval(self, stored: StoredRefresh | None, reason: str) -> None:
        """At most one issuance attempt a minute, counting the ones that got no answer."""
        now = self._wall()
        if stored is not None:
            age = now - stored.issued_at
            # A negative age is a wall clock stepped back, not a recent issue: waiting
            # for the clock to catch up could take hours.
            if 0 <= age < REISSUE_INTERVAL:
                raise errors.ReissueRefusedError(
                    f"X Booker refused the refresh token ({reason}), but it was issued "
                    f"{age:.0f} s ago and at most one is issued a minute: another process "
                    "may be using this delegated app, or the egress IP changed"
                )
        attempted = self._store.last_attempt()
        if attempted is not None and 0 <= now - attempted < REISSUE_INTERVAL:
            raise errors.ReissueRefusedError(
                f"a new refresh token is needed ({reason}), but one was requested "
                f"{now - attempted:.0f} s ago without a usable answer, and at most one is "
                "requested a minute: each request may invalidate the previous token"
            )

    # -- the two auth calls ---------------------------------------------------

    def _call_refresh(self) -> Secret:
        """One issuance request: retried only if the connection was never made."""
        self.counters.refresh_calls += 1
        secret = {"client-secret": self._credentials.client_secret.reveal()}
        operation = "issue refresh token"
        try:
            value = self._auth_call("refresh", secret, "refreshToken", operation, False)
        except errors.OutcomeUnknownError as exc:
            self.observer.auth("refresh", "error")
            # The transport's word for "maybe applied"; its advice (check the state
            # before retrying) fits a write, not a token. Same facts, token terms.
            if exc.status is not None and exc.status >= 500:
                raise errors.ServerError(exc.message, exc.status, operation) from None
            raise errors.TransportError(
                f"{exc.message.partition(';')[0]} while issuing a refresh token; X Booker "
                "may have issued one anyway (which invalidates the previous one), so none "
                "is requested again for a minute",
                exc.status,
                operation,
            ) from None
        except errors.XBookerError as exc:
            self.observer.auth("refresh", _result(exc))
            raise
        self.observer.auth("refresh", "ok")
        return Secret(value)

    def _call_access(self, refresh: Secret) -> Secret:
        self.counters.access_calls += 1
        bearer = {"Authorization": f"Bearer {refresh.reveal()}"}
        try:
            value = self._auth_call("access", bearer, "accessToken", "get access token", True)
        except errors.XBookerError as exc:
            self.observer.auth("access", _result(exc))
            raise
        self.observer.auth("access", "ok")
        # Registered with an expiry before Secret() registers it for good. The
        # scrubber runs on the real monotonic clock whatever clock this manager was
        # given, so the deadline is the lifetime from now on that clock.
        expires_at = time.monotonic() + self.windows.lifetime + SCRUB_GRACE
        logs.register_secret(value, expires_at=expires_at)
        return Secret(value)

    def _auth_call(
        self, path: str, credential: dict, field: str, operation: str, idempotent: bool
    ) -> str:
        headers = {
            "organization-id": self._credentials.organization_id,
            "client-id": self._credentials.client_id,
            **credential,
        }
        data = send(
            lambda: self._get(f"{self._auth_url}/tokens/{path}", headers),
            operation=operation,
            idempotent=idempotent,
            policy=self._retry,
            observer=self.observer,
        )
        value = data.get(field)
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise errors.TransportError(f"X Booker's answer has no usable {field}", 200, operation)
        return value


class XBookerAuth(httpx.Auth):
    """Plugs the manager into httpx: sets the bearer token, renews and retries once on 403.

    Only the sync flow is implemented: the manager blocks on locks and does I/O,
    which must not happen inside an event loop.
    """

    requires_response_body = True

    def __init__(self, manager: TokenManager, credentials: XBookerCredentials) -> None:
        self._manager = manager
        self._credentials = credentials

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        snap = self._manager.token()
        self._apply(request, snap)
        response = yield request
        if response.status_code != 403:
            return
        response.read()
        message = _message(response)
        if message == m.ACCESS_EXPIRED:
            self._manager.access_rejected(snap)
        elif message == m.NO_REFRESH_TOKENS:
            self._manager.refresh_rejected(snap)
        else:
            return
        snap = self._manager.token()
        self._apply(request, snap)
        yield request

    def _apply(self, request: httpx.Request, snap: AccessSnapshot) -> None:
        request.headers["Authorization"] = f"Bearer {snap.token.reveal()}"
        request.headers["organization-id"] = self._credentials.organization_id
        request.headers["client-id"] = self._credentials.client_id


def _result(exc: errors.XBookerError) -> str:
    """A token call's failure as the metrics name it: X Booker said no, or gave no answer."""
    if isinstance(exc, errors.ServerError | errors.TransportError):
        return "error"
    return "refused"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    return body.get("message", "") if isinstance(body, dict) else ""


__all__ = ["AccessSnapshot", "TokenManager", "Windows", "XBookerAuth"]
