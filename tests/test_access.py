"""The allow-list from Slack: grants, revokes, the last admin, configuration admins."""

from __future__ import annotations

from bot.core.allowlist import AccessError, AllowList
from bot.store import audit
from tests.helpers import run_together
from tests.world import ADMIN, ADMIN2, OPERATOR, VIEWER


def test_grant_revoke_and_list(world):
    assert "now has bot role operator" in world.handle("access grant U0CAROL operator").text
    assert world.engine.svc.allowlist.role_of("U0CAROL") == "operator"
    listing = world.handle("access list").text
    assert "<@UADMIN1>: admin (from XBOOKER_BOT_ADMINS)" in listing
    assert "<@U0CAROL>: operator (granted by <@UADMIN1>)" in listing
    assert "no longer has a bot role (was operator)" in world.handle("access revoke U0CAROL").text
    assert world.engine.svc.allowlist.role_of("U0CAROL") is None
    rows = [r for r in audit.rows(world.store) if r["action"].startswith("access ")]
    assert [(r["action"], r["outcome"]) for r in rows if r["actor"] == ADMIN] == [
        ("access grant", "succeeded"),
        ("access list", "succeeded"),
        ("access revoke", "succeeded"),
    ]


def test_configuration_admins_cannot_be_revoked_from_slack(world):
    reply = world.handle(f"access revoke {ADMIN}", user=ADMIN2)
    assert "XBOOKER_BOT_ADMINS" in reply.text
    assert world.engine.svc.allowlist.role_of(ADMIN) == "admin"


def test_last_admin_cannot_be_revoked_or_demoted(store):
    allow = AllowList(store, "T1", ())
    allow.grant("U0A", "admin", "setup")
    for attempt in (lambda: allow.revoke("U0A", "x"), lambda: allow.grant("U0A", "viewer", "x")):
        try:
            attempt()
        except AccessError as exc:
            assert "would leave no bot admin" in str(exc)
        else:
            raise AssertionError("the last admin was removed")


def test_concurrent_revokes_keep_one_admin(store):
    allow = AllowList(store, "T1", ())
    allow.grant("U0A", "admin", "setup")
    allow.grant("U0B", "admin", "setup")
    outcomes: list[str] = []

    def revoke(user: str) -> None:
        try:
            allow.revoke(user, "x")
            outcomes.append("revoked")
        except AccessError:
            outcomes.append("refused")

    run_together([lambda: revoke("U0A"), lambda: revoke("U0B")])
    assert sorted(outcomes) == ["refused", "revoked"]
    assert len(allow.admins()) == 1


def test_grants_are_per_workspace(store):
    AllowList(store, "T1", ()).grant("U0A", "admin", "setup")
    assert AllowList(store, "T2", ()).role_of("U0A") is None


def test_operator_and_viewer_limits(world):
    assert "needs bot role *admin*" in world.handle("access grant U0X viewer", OPERATOR).text
    assert "needs bot role *admin*" in world.handle("access list", VIEWER).text
    assert world.engine.svc.allowlist.role_of("U0X") is None
