"""A realistic, deterministic organization for the simulator to serve."""

from __future__ import annotations

import random
import unicodedata

FIRST = [
    "Amara",
    "Bao",
    "Camille",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Kavya",
    "Liam",
    "Mei",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samuel",
    "Tomasz",
    "Uma",
    "Victor",
    "Wanjiru",
    "Xavier",
    "Yara",
    "Zoltan",
]
LAST = [
    "Adeyemi",
    "Bergström",
    "Chen",
    "Dubois",
    "Esposito",
    "Fernández",
    "García",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "O'Brien",
    "Petrov",
    "Quispe",
    "Rossi",
    "Silva",
    "Tanaka",
    "Urquhart",
    "Vargas",
]

ORGANIZATION = {
    "id": "org_7d3f2a",
    "name": "Harbour Lane Studios",
    "email": "admin@harbourlane.example",
    "phone": "+44 20 7946 0321",
    "website": "https://harbourlane.example",
    "address": "12 Harbour Lane, London E14 5AB",
    "timezone": "Europe/London",
    "createdAt": "2023-03-14T09:26:53Z",
    "updatedAt": "2026-10-02T16:40:11Z",
}


def _slug(text: str) -> str:
    """ASCII letters for an email's local part: "Bergström" -> "bergstrom"."""
    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in flat.lower() if c.isalpha()) or "x"


def members(count: int = 120, seed: int = 7) -> list[dict]:
    """``count`` members: two owners, a handful of admins, some still invited."""
    rng = random.Random(seed)
    out: list[dict] = []
    seen: set[str] = set()
    while len(out) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{_slug(first)}.{_slug(last)}@harbourlane.example"
        if email in seen:
            continue
        seen.add(email)
        index = len(out)
        role = "owner" if index < 2 else "admin" if index < 8 else "member"
        invited = index >= 8 and rng.random() < 0.1
        day = 1 + rng.randrange(28)
        month = 1 + rng.randrange(12)
        out.append(
            {
                "id": f"mem_{rng.getrandbits(40):010x}",
                "name": f"{first} {last}",
                "email": email,
                "role": role,
                "status": "invited" if invited else "active",
                "joinedAt": None if invited else f"2024-{month:02d}-{day:02d}T10:00:00Z",
            }
        )
    return out
