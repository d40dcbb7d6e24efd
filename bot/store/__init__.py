"""The SQLite store: one file for grants, approvals, audit and the refresh token."""

from bot.store.database import Store, StoreError

__all__ = ["Store", "StoreError"]
