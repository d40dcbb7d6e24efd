"""The stored refresh token and the lease that serialises its issuance.

Issuing a refresh token invalidates the previous one for every holder, so it is
an app-wide, destructive act. The token is keyed by (base URL, organization id,
client id): pointing the bot at another X Booker or another delegated app never
reuses a token minted for a different one. Processes sharing the file take the
lease row before issuing and compare generations after, so two of them never
issue competing tokens. Wall-clock times are used here because they are
compared across processes.

The lease row outlives each lease: it keeps the time of the last issuance
*attempt*, written before the call goes out. A request that timed out may still
have produced a token (and so invalidated the previous one), so the
once-a-minute rule has to count attempts that left no stored token behind, and
a process that restarts, or another one on the same file, has to see them too.

A lease names its holder's host and pid, so that a lease left by a process that
died (``kill -9`` mid-issuance) is taken over at once instead of blocking every
other process until it expires.

Next to the token the store keeps a fingerprint of the client secret that
obtained it, so that ``doctor`` can say when ``XBOOKER_CLIENT_SECRET`` has
changed since (the next re-issue would then fail, or the secret was rotated and
the token is the old app's). The file travels (backups, replicas) and the secret is
worth more than the token (X Booker binds a refresh token to where it was obtained,
not the secret), so the fingerprint must not let anyone guess the secret offline:
it is scrypt of the secret, salted with a random salt of this database and bound to
the token's key, at a cost (about 50 ms and 16 MiB a try) that makes guessing slow,
and paid only when a token is stored or doctor runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from bot.secret import Secret
from bot.store import holders
from bot.store.database import Store

_SALT_KEY = "secret_fingerprint_salt"


@dataclass(frozen=True)
class TokenKey:
    base_url: str
    organization_id: str
    client_id: str


@dataclass(frozen=True)
class StoredRefresh:
    token: Secret
    generation: int
    issued_at: float
    reissues: int


class GenerationConflict(Exception):
    """Another process stored a newer refresh token first; reload and adopt it."""


class RefreshTokenStore:
    def __init__(self, store: Store, key: TokenKey) -> None:
        self._store = store
        self.key = key
        self._lease_name = f"refresh:{key.base_url}|{key.organization_id}|{key.client_id}"

    def load(self) -> StoredRefresh | None:
        row = self._store.query_one(
            "SELECT token, generation, issued_at, reissues FROM refresh_tokens "
            "WHERE base_url = ? AND organization_id = ? AND client_id = ?",
            (self.key.base_url, self.key.organization_id, self.key.client_id),
        )
        if row is None:
            return None
        return StoredRefresh(
            Secret(row["token"]), row["generation"], row["issued_at"], row["reissues"]
        )

    def save(
        self,
        token: Secret,
        expected_generation: int,
        now: float,
        client_secret: Secret | None = None,
    ) -> StoredRefresh:
        """Store a newly issued token if the stored generation is still the one we saw,
        with the fingerprint of ``client_secret``, the secret that obtained it (None:
        not known, and ``doctor`` says so)."""
        k = self.key
        with self._store.write() as db:
            row = db.conn.execute(
                "SELECT generation, reissues FROM refresh_tokens "
                "WHERE base_url = ? AND organization_id = ? AND client_id = ?",
                (k.base_url, k.organization_id, k.client_id),
            ).fetchone()
            current = row[0] if row else 0
            if current != expected_generation:
                raise GenerationConflict()
            reissues = (row[1] + 1) if row else 0
            fingerprint = None
            if client_secret is not None:
                db.conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    (_SALT_KEY, secrets.token_hex(32)),
                )
                fingerprint = self._fingerprint(db.conn, client_secret)
            db.conn.execute(
                "INSERT INTO refresh_tokens (base_url, organization_id, client_id, token, "
                "generation, issued_at, reissues, secret_fingerprint) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (base_url, organization_id, client_id) DO UPDATE SET "
                "token = excluded.token, generation = excluded.generation, "
                "issued_at = excluded.issued_at, reissues = excluded.reissues, "
                "secret_fingerprint = excluded.secret_fingerprint",
                (
                    k.base_url,
                    k.organization_id,
                    k.client_id,
                    token.reveal(),
                    current + 1,
                    now,
                    reissues,
                    fingerprint,
                ),
            )
        return StoredRefresh(token, current + 1, now, reissues)

    def secret_matches(self, client_secret: Secret) -> bool | None:
        """Whether ``client_secret`` is the one that obtained the stored token; None when
        no token is stored or it was stored without a fingerprint (by an older version)."""
        conn = self._store.db().conn
        row = conn.execute(
            "SELECT secret_fingerprint FROM refresh_tokens "
            "WHERE base_url = ? AND organization_id = ? AND client_id = ?",
            (self.key.base_url, self.key.organization_id, self.key.client_id),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        expected = self._fingerprint(conn, client_secret)
        return expected is not None and hmac.compare_digest(row[0], expected)

    def _fingerprint(self, conn: sqlite3.Connection, client_secret: Secret) -> str | None:
        salt = conn.execute("SELECT value FROM meta WHERE key = ?", (_SALT_KEY,)).fetchone()
        if salt is None:
            return None
        k = self.key
        bound = "\n".join(("client-secret", k.base_url, k.organization_id, k.client_id))
        derived = hashlib.scrypt(
            client_secret.reveal().encode(),
            salt=bytes.fromhex(salt[0]) + bound.encode(),
            n=2**14,
            r=8,
            p=1,
            maxmem=64 * 2**20,
            dklen=32,
        )
        return "scrypt1:" + derived.hex()

    def acquire_lease(self, holder: str, now: float, ttl: float) -> bool:
        """Take the issuance lease unless another holder has a live one.

        A holder that is known to be dead does not have a live lease, whatever its
        expiry says: waiting it out would stall every command for the lease's TTL.
        """
        with self._store.write() as db:
            row = db.conn.execute(
                "SELECT holder, expires_at FROM leases WHERE name = ?", (self._lease_name,)
            ).fetchone()
            if row and row[0] != holder and row[1] > now and not holders.gone(row[0]):
                return False
            db.conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at",
                (self._lease_name, holder, now + ttl),
            )
            return True

    def last_attempt(self) -> float | None:
        """Wall time of the last issuance attempt by any process, or None if none was made."""
        row = self._store.query_one(
            "SELECT attempted_at FROM leases WHERE name = ?", (self._lease_name,)
        )
        return None if row is None else row["attempted_at"]

    def record_attempt(self, holder: str, now: float) -> bool:
        """Note an issuance attempt, committed before the request is sent, so that a
        crash or a timeout cannot lose it. False if ``holder`` no longer holds the lease
        (it lapsed and was taken): the caller must not issue then."""
        with self._store.write() as db:
            cursor = db.conn.execute(
                "UPDATE leases SET attempted_at = ? WHERE name = ? AND holder = ?",
                (now, self._lease_name, holder),
            )
            return cursor.rowcount == 1

    def release_lease(self, holder: str) -> None:
        """Free the lease; the row stays, because it carries the last attempt's time."""
        with self._store.write() as db:
            db.conn.execute(
                "UPDATE leases SET holder = '', expires_at = 0 WHERE name = ? AND holder = ?",
                (self._lease_name, holder),
            )
