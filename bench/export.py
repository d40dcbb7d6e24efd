"""`xbooker-bot audit --format csv` on a large log: peak memory, streamed against the
first release's load-everything export, side by side in one run.

    python bench/export.py [--rows 1000000]

Fills a fresh database with N audit rows (synthetic, written in one transaction,
since an export does not check the chain), then runs, each in a process of its
own so that its peak resident memory can be read: the real CLI export to
/dev/null at N/10 and N rows, and the baseline (every row loaded into a list,
then written) at N rows. Flat memory means the export's peak at N is close to
its peak at N/10.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.store import Store  # noqa: E402

BASELINE = """
import csv, io, json, resource, sys
sys.path.insert(0, {root!r})
from bot.store import Store
from bot.export import COLUMNS
rows = list(Store({db!r}).db().query("SELECT * FROM audit ORDER BY id"))
out = open("/dev/null", "w")
writer = csv.writer(out)
for row in rows:
    writer.writerow([row[k] for k in COLUMNS])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

STREAMED = """
import resource, sys
sys.path.insert(0, {root!r})
from bot import export
from bot.store import Store, audit
with open("/dev/null", "w") as out:
    export.write(audit.stream(Store({db!r}), {limit}), "csv", out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def fill(path: Path, count: int) -> None:
    store = Store(path)
    detail = json.dumps({"command": "members add", "args": {"email": "someone@x.example"}})
    now = time.time()
    with store.write() as db:
        db.conn.executemany(
            "INSERT INTO audit (id, at, team_id, actor, source, channel_id, action, outcome, "
            "detail, prev_hash, hash) VALUES (?, ?, 'T1', 'U0ACTOR', 'slack', 'C1', "
            "'members add', 'succeeded', ?, ?, ?)",
            ((i, now + i, detail, "0" * 64, f"{i:064x}") for i in range(1, count + 1)),
        )
    store.close()


def peak_kib(script: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return int(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        started = time.monotonic()
        fill(db, args.rows)
        print(f"filled {args.rows} rows in {time.monotonic() - started:.1f} s")
        tenth = peak_kib(STREAMED.format(root=str(ROOT), db=str(db), limit=args.rows // 10))
        started = time.monotonic()
        full = peak_kib(STREAMED.format(root=str(ROOT), db=str(db), limit=None))
        took = time.monotonic() - started
        base = peak_kib(BASELINE.format(root=str(ROOT), db=str(db)))
    print(f"streamed export, {args.rows // 10} rows: peak {tenth / 1024:8.1f} MiB")
    print(f"streamed export, {args.rows} rows: peak {full / 1024:8.1f} MiB ({took:.1f} s)")
    print(f"baseline (load all), {args.rows} rows: peak {base / 1024:8.1f} MiB")
    print(
        f"ratio streamed/baseline at {args.rows}: {full / base:.3f}; growth x10 rows: "
        f"{full / tenth:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
