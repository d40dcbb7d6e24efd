"""Names for the process that holds a lease or a claim, and telling when it has died.

A lease (refresh-token issuance) or a claim (an approval being executed) left by
a process that was killed must be taken over at once, not after its expiry: but
taking over a live holder's lease would let two processes act at once. So a name
carries the host, the PID namespace and the pid (a holder is known to be gone
only when all three say so: same host, same namespace, no such process), plus a
random part so that a reused pid, or a second holder in this process, is never
taken for the first.
"""

from __future__ import annotations

import os
import secrets
import socket


def _pid_namespace() -> str:
    """Containers on one host (same hostname with host networking) can have their own
    pid numbers: a pid is only meaningful inside its namespace."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "unknown"


def name() -> str:
    return f"{socket.gethostname()}:{_pid_namespace()}:{os.getpid()}:{secrets.token_hex(4)}"


def gone(holder: str | None) -> bool:
    """True only for a holder of this host and PID namespace whose process is no more;
    anything else (another host or namespace, an older name format, a pid that exists
    or belongs to another user) counts as alive."""
    parts = (holder or "").rsplit(":", 3)
    if len(parts) != 4:
        return False
    host, namespace, pid, _ = parts
    if host != socket.gethostname() or namespace != _pid_namespace() or namespace == "unknown":
        return False
    if not pid.isdigit() or int(pid) <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False
