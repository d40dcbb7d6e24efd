"""``xbooker-bot audit``: the audit log as a table, CSV or JSON.

It reads the audit table and nothing else, so an export can be handed to an
auditor without exposing the stored refresh token.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from bot.core.text import one_line
from bot.store.audit import describe

COLUMNS = ("id", "at", "team_id", "actor", "source", "channel_id", "action", "outcome", "detail")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: object) -> object:
    return one_line(value) if isinstance(value, str) else value


def write(rows: Iterable[dict], fmt: str, out: TextIO) -> None:
    """Write rows as they come (a row is read, written and dropped): memory stays flat
    whatever the size of the log."""
    records = (
        {
            **{k: row[k] for k in COLUMNS},
            "at": _iso(row["at"]),
            "summary": describe(row["detail"]),
            "hash": row["hash"],
        }
        for row in rows
    )
    if fmt == "json":  # ASCII: no control or direction character reaches a viewer raw
        out.write("[")
        for index, record in enumerate(records):
            out.write(("," if index else "") + "\n  " + json.dumps(record))
        out.write("\n]\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow([*COLUMNS, "summary", "hash"])
        for r in records:
            cells = [json.dumps(r[k]) if k == "detail" else _cell(r[k]) for k in COLUMNS]
            writer.writerow([*cells, one_line(r["summary"]), r["hash"]])
    else:  # a terminal: every value one line, no escape sequences
        for r in records:
            out.write(
                one_line(
                    f"{r['id']:>6}  {r['at']}  {r['actor']:<14} {r['source']:<8} "
                    f"{r['action']:<20} {r['outcome']:<16} {r['summary']}"
                )
                + "\n"
            )
