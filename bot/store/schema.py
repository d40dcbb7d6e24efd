"""The database schema as an ordered list of migrations.

Migration N moves a database from schema version N-1 to N. Migrations only ever
append: a released one is never edited, so every database converges on the same
schema whatever version it started from.
"""

MIGRATIONS: list[str] = [
    # 1: the whole first schema.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE grants (
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        granted_by TEXT NOT NULL,
        granted_at REAL NOT NULL,
        PRIMARY KEY (team_id, user_id)
    );
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id TEXT NOT NULL,
        requester TEXT NOT NULL,
        command TEXT NOT NULL,
        operation TEXT NOT NULL,
        arguments TEXT NOT NULL,
        targets TEXT NOT NULL,
        preview TEXT NOT NULL,
        channel_id TEXT,
        message_ts TEXT,
        status TEXT NOT NULL CHECK (status IN (
            'pending', 'approved', 'executing', 'succeeded', 'failed',
            'rejected', 'cancelled', 'expired'
        )),
        approvals_needed INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        settled_at REAL,
        outcome TEXT,
        claimed_by TEXT,  -- the process that claimed it for execution
        claimed_at REAL,
        origin_channel TEXT,  -- where the requester typed the command
        reference TEXT  -- the correlation id shown to users and in the logs
    );
    CREATE INDEX approvals_status ON approvals (status, expires_at);
    CREATE TABLE approval_decisions (
        request_id INTEGER NOT NULL REFERENCES approvals (id),
        user_id TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
        reason TEXT,
        decided_at REAL NOT NULL,
        PRIMARY KEY (request_id, user_id)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        team_id TEXT,
        actor TEXT NOT NULL,
        source TEXT NOT NULL,
        channel_id TEXT,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE refresh_tokens (
        base_url TEXT NOT NULL,
        organization_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        token TEXT NOT NULL,
        generation INTEGER NOT NULL,
        issued_at REAL NOT NULL,
        reissues INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (base_url, organization_id, client_id)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 2: buttons bound to their request; the audit log's keyed head; approvals paged in SQL.
    """
    ALTER TABLE approvals ADD COLUMN nonce TEXT;
    CREATE INDEX approvals_open ON approvals (team_id, status, id);
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_id INTEGER NOT NULL,
        last_hash TEXT NOT NULL,
        row_count INTEGER NOT NULL,
        mac TEXT NOT NULL  -- '' until the first append after this migration seals it
    );
    INSERT INTO audit_head (id, last_id, last_hash, row_count, mac)
        SELECT 1, id, hash, (SELECT COUNT(*) FROM audit), '' FROM audit ORDER BY id DESC LIMIT 1;
    """,
    # 3: when a refresh token was last requested, kept with the lease: an attempt that
    # timed out may still have invalidated the previous token, so the once-a-minute rule
    # counts attempts, and every process sharing the file must see them.
    """
    ALTER TABLE leases ADD COLUMN attempted_at REAL;
    """,
    # 4: reminders sent on open requests; per-user rate-limit events, kept in the file so
    # that threads, processes and a restart all count the same; a keyed fingerprint of the
    # client secret that obtained the stored refresh token (never the secret itself).
    """
    ALTER TABLE approvals ADD COLUMN reminded_half_at REAL;
    ALTER TABLE approvals ADD COLUMN reminded_hour_at REAL;
    CREATE INDEX approvals_requester ON approvals (team_id, requester, id);
    CREATE TABLE rate_events (  -- one B-tree, ordered as every query reads it
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,  -- 'xbooker' (commands reaching X Booker) | 'request'
        at REAL NOT NULL,
        ref TEXT NOT NULL,  -- the in-process reservation it settles, so it is never counted twice
        PRIMARY KEY (team_id, user_id, kind, at, ref)
    ) WITHOUT ROWID;
    ALTER TABLE refresh_tokens ADD COLUMN secret_fingerprint TEXT;
    """,
]
