"""Plans handed from a form submission's ack to its lazy listener.

Slack must be answered within three seconds, so the ack plans (parse and authorize:
local reads) and the lazy listener executes; handing the plan over means each
command is parsed and authorized once. Both halves run in the same process for
the same payload, keyed by what Slack sends in both.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from bot.core.engine import Plan


class Plans:
    """Plans made by acks, waiting for their lazy listeners. Bounded: plans whose
    listener never ran are dropped oldest first (a listener that finds no plan does
    nothing, as when its ack refused the submission)."""

    def __init__(self, limit: int = 1024) -> None:
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def put(self, key: str, plan: Plan) -> None:
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self._limit:
                self._plans.popitem(last=False)

    def take(self, key: str) -> Plan | None:
        with self._lock:
            return self._plans.pop(key, None)
