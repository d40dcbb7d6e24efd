"""A wrapper that keeps credentials out of reprs, f-strings and tracebacks.

Tokens and secrets travel through dataclasses, exceptions and log calls; a plain
``str`` would print itself in any of them. ``Secret`` only gives its value up
through :meth:`reveal`, which makes every place that needs the real value easy
to find by grep, and registers the value with the log scrubber so that even a
careless ``logger.debug(headers)`` cannot leak it.
"""

from __future__ import annotations

import hashlib

from bot import logs


class Secret:
    """An opaque credential; ``repr``/``str`` show a short fingerprint only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        self._value = value
        logs.register_secret(value)

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        """Eight hex digits of SHA-256: enough to tell two tokens apart in logs."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"Secret(sha256:{self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple:
        raise TypeError("secrets are not picklable")
