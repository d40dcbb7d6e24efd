"""``approvals`` with many open requests: the paged SQL list against loading every
open request, side by side in one run on the same database.

    python bench/approvals.py [--open N] [--rounds R]

Fills a fresh database with N open requests (a decision on every third), then
times, R times each and interleaved, (a) the reply ``/xbooker approvals`` gives
(one page read with LIMIT/OFFSET, decisions for that page in one query) and
(b) the baseline it replaced: every open request loaded one by one, each with
its own decisions query, then the first page shown. Reports medians and their
ratio. No network: the list reads only SQLite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_settings
from bot.core.allowlist import AllowList
from bot.core.approvals import PAGE_SIZE, Approvals, Unposted
from bot.core.context import Services
from bot.store import Store
from bot.store import approvals as rows

TEAM = "T0BENCH"


def fill(store: Store, count: int) -> None:
    now = time.time()
    with store.write() as db:
        for i in range(count):
            rid = rows.insert(
                db,
                team_id=TEAM,
                requester="U0REQ",
                command="members role",
                operation="change member role",
                arguments={"text": "members role x admin", "args": {"member": "x", "role": "a"}},
                targets={"member_id": f"mem_{i}", "email": f"m{i}@x.example"},
                preview={"lines": [f"`m{i}@x.example`: member → admin"], "before": {}},
                channel_id="C0APPROVALS",
                approvals_needed=2,
                created_at=now,
                expires_at=now + 86400,
                origin_channel="C0OPS",
                reference="bench",
                nonce="0" * 32,
            )
            if i % 3 == 0:
                rows.add_decision(db, rid, "U0ADMIN", "approve", None, now)


def baseline(store: Store) -> int:
    """What the first release did: every open request, one query each for its decisions."""
    ids = [
        r["id"]
        for r in store.db().query(
            "SELECT id FROM approvals WHERE team_id = ? AND status IN "
            "('pending', 'approved', 'executing') ORDER BY id",
            (TEAM,),
        )
    ]
    loaded = [rows.load(store, rid) for rid in ids]
    return len(json.dumps([r.lines for r in loaded[:PAGE_SIZE]]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.db")
        settings = load_settings({"XBOOKER_BOT_DB": str(Path(folder) / "bench.db")})
        svc = Services(settings, store, AllowList(store, TEAM, ()), xbooker=None)  # type: ignore[arg-type]
        approvals = Approvals(svc, Unposted())
        fill(store, args.open)
        ours, theirs = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            reply = approvals.list_reply(1)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            baseline(store)
            theirs.append(time.perf_counter() - start)
        assert f"({args.open} in all)" in reply.text
        store.close()
    mine, base = statistics.median(ours), statistics.median(theirs)
    print(f"open requests: {args.open}; rounds: {args.rounds}")
    print(f"approvals (paged SQL):      median {mine * 1000:8.2f} ms  (target < 20 ms)")
    print(f"baseline (load every one):  median {base * 1000:8.2f} ms")
    print(f"ratio: {mine / base:.3f} of the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
