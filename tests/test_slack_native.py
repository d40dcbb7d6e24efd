"""App Home, forms and page buttons, through signed Slack payloads only.

Each test drives the bot the way Slack would: a signed ``app_home_opened`` event,
signed ``block_actions`` from App Home or a message, signed ``view_submission``s of
the very views the bot opened (as the fake Slack recorded and validated them with
slack_sdk's Block Kit models).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from bot.core import home
from bot.core.cards import APPROVE, REJECT
from bot.core.home import CANCEL, OPEN_FORM
from bot.slack.payloads import NEXT, PREVIOUS
from tests.fake_slack import invalid_view
from tests.slack_surfaces import home_click, home_opened, message_click, submit
from tests.world import ADMIN, ADMIN2, NOBODY, OPERATOR, VIEWER, World


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError("timed out waiting")


def published(world: World, user: str, after: int = 0) -> dict:
    """The newest home published for ``user`` once more than ``after`` were."""

    def found():
        homes = [p for p in world.slack.calls_to("views.publish") if p["user_id"] == user]
        return homes[-1]["view"] if len(homes) > after else None

    view = wait_for(found)
    return json.loads(view) if isinstance(view, str) else view


def home_showing(world: World, user: str, text: str) -> dict:
    """The newest home of ``user`` once it shows ``text``: homes are also republished in
    the background as requests change, so the newest may briefly be an older state."""

    def found():
        view = published(world, user)
        return view if text in home_text(view) else None

    return wait_for(found)


def publishes(world: World, user: str) -> int:
    return sum(p["user_id"] == user for p in world.slack.calls_to("views.publish"))


def opened_view(world: World, count: int = 1) -> tuple[str, dict]:
    """The id and view of the ``count``-th modal the bot opened."""
    wait_for(lambda: len(world.slack.calls_to("views.open")) >= count)
    view_id = sorted((k for k in world.slack.views if not k.startswith("home:")), key=str)[-1]
    return view_id, world.slack.views[view_id]


def home_text(view: dict) -> str:
    return json.dumps(view)


def told(world: World, user: str, count: int = 1) -> list[dict]:
    """Answers sent without a response_url: ephemeral in a channel, or a DM."""

    def found():
        got = [p for p in world.slack.calls_to("chat.postEphemeral") if p.get("user") == user]
        got += [p for p in world.slack.calls_to("chat.postMessage") if p.get("channel") == user]
        return got if len(got) >= count else None

    return wait_for(found)


def buttons(view: dict) -> list[dict]:
    out = []
    for block in view["blocks"]:
        out += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            out.append(block["accessory"])
    return out


# -- App Home ----------------------------------------------------------------------------------


def test_home_shows_the_role_pending_requests_and_the_organization(world):
    world.ask("members role amara.garcia@harbourlane.example admin", OPERATOR)
    rid = world.approvals.list_reply().text.split("#")[1].split("*")[0]
    assert home_opened(world, ADMIN).status == 200
    view = home_showing(world, ADMIN, "Needs your approval (1)")
    assert invalid_view(view) is None
    text = home_text(view)
    assert "Your bot role: *admin*" in text
    assert "Needs your approval (1)" in text
    assert f"#{rid}" in text
    assert "Harbour Lane" in text  # the organization card
    assert "Audit log" in text  # admins see the latest rows
    actions = {b["action_id"] for b in buttons(view)}
    assert {APPROVE, REJECT, f"{OPEN_FORM}:members add"} <= actions

    home_opened(world, OPERATOR)
    mine = home_showing(world, OPERATOR, f"#{rid}")
    assert "Your requests" in home_text(mine) and f"#{rid}" in home_text(mine)
    assert CANCEL in {b["action_id"] for b in buttons(mine)}
    assert "Needs your approval" not in home_text(mine)
    assert "Audit log" not in home_text(mine)


def test_home_without_a_role_says_how_to_get_one_and_shows_nothing_else(world):
    home_opened(world, NOBODY)
    view = published(world, NOBODY)
    assert "no bot role" in home_text(view)
    assert not buttons(view)
    assert "Harbour Lane" not in home_text(view)


def test_homes_share_one_organization_read_and_survive_x_booker_down(world, sim):
    world.ask("org", VIEWER)  # tokens issued; count only what the homes cost
    before = sim.count("show organization")
    for user in (ADMIN, ADMIN2, OPERATOR, VIEWER):
        home_opened(world, user)
        published(world, user)
    assert sim.count("show organization") - before == 1

    sim.fail_next(10, status=503)
    built = home.build(world.engine.svc, world.approvals, ADMIN)
    text = json.dumps(built.blocks)
    assert "could not be read" in text and "Your bot role" in text and "Needs your approval" in text


def test_the_messages_tab_and_another_workspace_publish_nothing(world):
    home_opened(world, ADMIN, tab="messages")
    home_opened(world, ADMIN, team="T0OTHER")
    home_opened(world, VIEWER)  # a later event that does publish, to wait for
    published(world, VIEWER)
    assert publishes(world, ADMIN) == 0


def test_home_stays_within_limits_with_many_long_requests(sim_server, fake_slack, tmp_path):
    world = World(sim_server, fake_slack, tmp_path, XBOOKER_BOT_REQUEST_RATE="0")
    try:
        _many_long_requests(world)
    finally:
        world.close()


def _many_long_requests(world: World) -> None:
    name = "x" * 190
    for n in range(30):
        world.ask(f'members add m{n}@x.example owner name="{name}{n}"', OPERATOR)
    home_opened(world, ADMIN)
    view = home_showing(world, ADMIN, "Needs your approval (30)")
    assert invalid_view(view) is None
    assert "and 20 more" in home_text(view)


# -- forms -----------------------------------------------------------------------------------------


def test_add_member_form_from_home_errors_on_the_field_then_adds(world, sim):
    home_opened(world, OPERATOR)
    published(world, OPERATOR)
    home_click(world, OPERATOR, f"{OPEN_FORM}:members add", "members add")
    view_id, view = opened_view(world)
    assert view["callback_id"] == "xbooker_form"
    assert invalid_view(view) is None

    bad = submit(world, OPERATOR, view_id, {"email": "not-an-email"})
    assert bad.status == 200
    body = json.loads(bad.body)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"email"}
    assert "not an email address" in body["errors"]["email"]
    assert not any(m["email"] == "not-an-email" for m in sim.members.values())

    good = submit(world, OPERATOR, view_id, {"email": "new.person@x.example", "name": "New Person"})
    assert good.status == 200 and not good.body  # the modal closes
    answer = told(world, OPERATOR)[-1]
    assert "Added new.person@x.example" in answer["text"]
    added = [m for m in sim.members.values() if m["email"] == "new.person@x.example"]
    assert len(added) == 1 and added[0]["role"] == "member"
    rows = world.engine.svc.store.db().execute(
        "SELECT action, outcome, detail FROM audit WHERE action = 'members add'"
    )
    assert [(a, o) for a, o, _ in rows.fetchall()][-1] == ("members add", "succeeded")


def test_typed_command_without_arguments_opens_a_prefilled_form(world):
    response, _ = world.command("members role amara.garcia@harbourlane.example", OPERATOR)
    assert response.status == 200 and not response.body  # no usage lesson: a form
    _, view = opened_view(world)
    member = next(b for b in view["blocks"] if b.get("block_id") == "member")
    assert member["element"]["initial_value"] == "amara.garcia@harbourlane.example"
    assert json.loads(view["private_metadata"])["channel"] == "C0GENERAL"


def test_org_update_form_shows_the_current_values_and_sends_only_changes(world, sim):
    response, _ = world.command("org update", OPERATOR)
    assert response.status == 200
    wait_for(lambda: world.slack.calls_to("views.update"))
    view_id, view = opened_view(world)
    name = next(b for b in view["blocks"] if b.get("block_id") == "name")
    assert name["element"]["initial_value"] == sim.organization["name"]
    assert invalid_view(view) is None

    unchanged = json.loads(submit(world, OPERATOR, view_id, {}).body)
    assert unchanged["errors"] == {"name": "change at least one field"}

    submit(world, OPERATOR, view_id, {"phone": "+44 20 7946 0000"})
    answer = told(world, OPERATOR)[-1]  # org update needs approval by default
    assert "needs approval" in answer["text"]
    request = world.approvals.load(int(re.search(r"#(\d+)", answer["text"]).group(1)))
    assert request.args == {"fields": {"phone": "+44 20 7946 0000"}}


def test_a_form_for_a_command_the_user_may_not_run_is_refused(world, sim):
    home_click(world, VIEWER, f"{OPEN_FORM}:members add", "members add")
    home_opened(world, OPERATOR)  # something to wait for after the refused click
    published(world, OPERATOR)
    assert not world.slack.calls_to("views.open")


def test_a_forged_form_submission_is_checked_like_typing(world, sim):
    """A view claiming to be our form, submitted by someone without the role: the
    engine refuses it, audits it, and nothing reaches X Booker."""
    home_click(world, OPERATOR, f"{OPEN_FORM}:members add", "members add")
    view_id, _ = opened_view(world)
    before = len(sim.members)
    submit(world, VIEWER, view_id, {"email": "sneaky@x.example"})
    answer = told(world, VIEWER)[-1]
    assert "needs bot role *operator*" in answer["text"]
    assert len(sim.members) == before


# -- approvals from App Home ----------------------------------------------------------------


def _request_by_form(world: World) -> int:
    world.command("members role amara.garcia@harbourlane.example", OPERATOR)
    view_id, _ = opened_view(world)
    submit(world, OPERATOR, view_id, {"role": "admin"})
    answer = told(world, OPERATOR)[-1]
    return int(re.search(r"#(\d+)", answer["text"]).group(1))


def test_role_change_by_form_approved_from_home_refreshes_both_homes(world, sim):
    rid = _request_by_form(world)
    home_opened(world, ADMIN2)
    home = home_showing(world, ADMIN2, "Needs your approval (1)")
    approve = next(b for b in buttons(home) if b["action_id"] == APPROVE)
    assert approve["value"].startswith(f"{rid}:")
    before_requester = publishes(world, OPERATOR)
    before_admin = publishes(world, ADMIN2)

    home_click(world, ADMIN2, APPROVE, approve["value"], f"approval-{rid}")
    wait_for(lambda: world.approvals.load(rid).status == "succeeded")
    member = next(m for m in sim.members.values() if m["email"].startswith("amara.garcia"))
    assert member["role"] == "admin"
    # One approval republishes the homes as the request moves (executing, succeeded):
    # wait for the homes that show where it ended.
    wait_for(lambda: "succeeded" in home_text(published(world, OPERATOR, before_requester)))

    def awaiting_admin() -> str:
        text = home_text(published(world, ADMIN2, before_admin))
        return text.split("Needs your approval")[1].split("Your")[0]

    # The homes are refreshed one after another: the admin's may land after the requester's.
    wait_for(lambda: f"#{rid}" not in awaiting_admin())
    answer = told(world, ADMIN2)[-1]  # the clicker is told in a DM (a home has no thread)
    assert answer["channel"] == ADMIN2


def test_home_buttons_keep_the_nonce_rule(world):
    rid = _request_by_form(world)
    home_click(world, ADMIN2, APPROVE, f"{rid}:{'0' * 32}", f"approval-{rid}")
    answer = told(world, ADMIN2)[-1]
    assert "does not belong to the current request" in answer["text"]
    assert world.approvals.load(rid).status == "pending"
    rows = world.engine.svc.store.db().execute(
        "SELECT outcome, detail FROM audit WHERE action = 'approvals approve'"
    )
    assert any(o == "refused" and "button not from" in d for o, d in rows.fetchall())


def test_requester_cancels_from_home_and_cannot_approve_their_own(world):
    rid = _request_by_form(world)
    request = world.approvals.load(rid)
    home_click(world, OPERATOR, APPROVE, f"{rid}:{request.nonce}", f"approval-{rid}")
    assert "needs bot role *admin*" in told(world, OPERATOR, 2)[-1]["text"]
    home_click(world, OPERATOR, CANCEL, f"{rid}:{request.nonce}", f"mine-{rid}")
    wait_for(lambda: world.approvals.load(rid).status == "cancelled")


def test_reject_asks_for_a_reason_in_a_modal_then_rejects(world):
    rid = _request_by_form(world)
    request = world.approvals.load(rid)
    opened = len(world.slack.calls_to("views.open"))
    home_click(world, ADMIN2, REJECT, f"{rid}:{request.nonce}", f"approval-{rid}")
    view_id, view = opened_view(world, opened + 1)
    assert view["callback_id"] == "xbooker_reject_reason"
    assert world.approvals.load(rid).status == "pending"  # nothing decided by the click

    empty = json.loads(submit(world, ADMIN2, view_id, {"reason": "  "}).body)
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    submit(world, ADMIN2, view_id, {"reason": "not during the audit <!channel>"})
    wait_for(lambda: world.approvals.load(rid).status == "rejected")
    assert world.approvals.load(rid).rejecter == (ADMIN2, "not during the audit <!channel>")


def test_reject_from_a_card_keeps_the_card_binding(world):
    from tests.world import click

    rid = _request_by_form(world)
    click(world, rid, ADMIN2, REJECT)
    view_id, view = opened_view(world, 2)
    meta = json.loads(view["private_metadata"])
    assert meta["channel"] == "C0APPROVALS" and meta["home"] is False
    submit(world, ADMIN2, view_id, {"reason": "wrong person entirely"})
    wait_for(lambda: world.approvals.load(rid).status == "rejected")


# -- page buttons ----------------------------------------------------------------------------


def _page_buttons(payload: dict) -> dict[str, str]:
    return {
        e["action_id"]: e["value"]
        for b in payload["blocks"]
        if b.get("block_id") == "pages"
        for e in b["elements"]
    }


def _members(payload: dict) -> list[str]:
    return re.findall(r"`(mem_[A-Za-z0-9_-]+)`", json.dumps(payload["blocks"]))


def test_paging_120_members_with_next_and_previous_shows_each_once(world, sim):
    assert len(sim.members) == 120
    first = world.ask("members list", VIEWER)
    seen = list(_members(first))
    payload, pages = first, 1
    while NEXT in _page_buttons(payload):
        name = f"page{pages}"
        url = world.slack.response_url(name)
        message_click(world, VIEWER, NEXT, _page_buttons(payload)[NEXT], url)
        payload = world.wait_response(f"/response/{name}")
        assert payload["replace_original"] is True
        seen += _members(payload)
        pages += 1
    assert pages > 1
    assert sorted(seen) == sorted(sim.members) and len(seen) == len(set(seen)) == 120
    back_url = world.slack.response_url("back")
    message_click(world, VIEWER, PREVIOUS, _page_buttons(payload)[PREVIOUS], back_url)
    back = world.wait_response("/response/back")
    assert f"page {pages - 1} of {pages}" in json.dumps(back)


def test_a_page_button_runs_nothing_but_a_page(world, sim):
    before = len(sim.members)
    message_click(
        world, ADMIN, NEXT, "members add evil@x.example owner", world.slack.response_url("evil")
    )
    reply = world.wait_response("/response/evil")
    assert "does not turn a page" in reply["text"] and reply["replace_original"] is False
    assert len(sim.members) == before


def test_a_page_button_after_a_revoke_is_refused_without_replacing_the_page(world):
    world.engine.svc.allowlist.revoke(VIEWER, "test")
    message_click(world, VIEWER, NEXT, "members list page=2", world.slack.response_url("late"))
    reply = world.wait_response("/response/late")
    assert reply["replace_original"] is False and "no bot role" in reply["text"]


@pytest.mark.parametrize("command", ["members list --share"])
def test_shared_answers_have_no_page_buttons(world, command):
    payload = world.ask(command, VIEWER)
    assert "pages" not in json.dumps(payload["blocks"])


def _turn_all_pages(world: World, user: str, first: dict, pattern: str) -> tuple[list[str], int]:
    """Click Next until there is none; every id the pages show, and how many pages."""
    seen, payload, pages = re.findall(pattern, json.dumps(first["blocks"])), first, 1
    while NEXT in _page_buttons(payload):
        name = f"turn{pages}-{time.monotonic_ns()}"
        message_click(
            world, user, NEXT, _page_buttons(payload)[NEXT], world.slack.response_url(name)
        )
        payload = world.wait_response(f"/response/{name}")
        assert payload["replace_original"] is True
        seen += re.findall(pattern, json.dumps(payload["blocks"]))
        pages += 1
    return seen, pages


def test_approvals_and_audit_page_with_buttons(world):
    emails = sorted(m["email"] for m in world.sim.members.values())[:25]
    for i, email in enumerate(emails):  # two requesters: each may open 20 requests an hour
        world.handle(f"members remove {email}", user=(OPERATOR, ADMIN)[i % 2])
    first = world.ask("approvals", OPERATOR)
    seen, pages = _turn_all_pages(world, OPERATOR, first, r"\*#(\d+)\*")
    assert pages >= 2
    assert sorted(map(int, seen)) == list(range(1, 26))

    total = world.engine.svc.store.db().execute("SELECT MAX(id) FROM audit").fetchone()[0]
    first = world.ask("audit 7", ADMIN)
    seen, pages = _turn_all_pages(world, ADMIN, first, r"`#(\d+)`")
    assert pages == -(-total // 7)
    assert sorted(map(int, seen)) == list(range(1, total + 1))  # each row exactly once


# -- what the hostile review found ---------------------------------------------------------


def test_home_shows_the_privilege_and_the_whole_change_next_to_approve(world):
    world.ask("members add mallory@evil.example owner", OPERATOR)
    world.ask('org update name="New Name" email=attacker@evil.example', OPERATOR)
    home_opened(world, ADMIN)
    text = home_text(home_showing(world, ADMIN, "Needs your approval (2)"))
    assert "GRANTS X BOOKER ROLE OWNER" in text
    assert "attacker@evil.example" in text and "New Name" in text


def test_a_change_too_long_for_the_home_has_no_buttons_there(world):
    for field in ("name", "address"):
        world.sim.organization[field] = "A" * 480
    world.sim.organization["website"] = "https://" + "a" * 470
    website = "https://" + "b" * 470
    world.ask(f'org update address="{"B" * 480}" name="{"C" * 480}" website={website}', OPERATOR)
    request = world.approvals.load(1)
    assert sum(map(len, request.lines)) > home.MAX_ENTRY
    home_opened(world, ADMIN)
    view = home_showing(world, ADMIN, "too long to show here")
    assert "too long to show here" in home_text(view)
    assert not [b for b in buttons(view) if b["action_id"] == APPROVE]


def test_org_form_leaves_out_values_it_cannot_show_and_sends_only_changes(world, sim):
    sim.organization["address"] = "1 Harbour Lane\nLondon E1 6AN"
    sim.organization["name"] = "N" * 520
    sim.organization["website"] = "harbourlane.example"  # not what we would accept typed
    world.command("org update", OPERATOR)
    wait_for(lambda: world.slack.calls_to("views.update"))
    view_id, view = opened_view(world)
    shown = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert "address" not in shown and "name" not in shown and "website" in shown
    assert "Not editable here" in json.dumps(view)
    submit(world, OPERATOR, view_id, {"phone": "+44 20 7946 0000"})
    answer = told(world, OPERATOR)[-1]
    request = world.approvals.load(int(re.search(r"#(\d+)", answer["text"]).group(1)))
    assert request.args["fields"] == {"phone": "+44 20 7946 0000"}


@pytest.mark.parametrize("quote", ['"', "“", "”", "„"])
def test_form_values_with_quotes_are_refused_on_their_field(world, quote):
    world.command("members add", OPERATOR)
    view_id, _ = opened_view(world)
    value = f"Robert {quote}Bob{quote} Smith"
    body = json.loads(
        submit(world, OPERATOR, view_id, {"email": "r@x.example", "name": value}).body
    )
    assert list(body["errors"]) == ["name"]


def test_a_refused_form_is_audited(world):
    world.command("members add", OPERATOR)
    view_id, _ = opened_view(world)
    submit(world, OPERATOR, view_id, {"email": "nope"})
    rows = (
        world.engine.svc.store.db()
        .execute("SELECT outcome, detail FROM audit WHERE action = 'members add'")
        .fetchall()
    )
    assert rows and rows[-1][0] == "invalid" and "not an email address" in rows[-1][1]


def test_share_on_a_form_command_gets_its_usage_not_a_form(world):
    reply = world.ask("members role --share", OPERATOR)
    assert "--share is only for" in reply["text"]
    assert not world.slack.calls_to("views.open")


def test_reject_by_someone_who_may_not_opens_no_form(world):
    rid = _request_by_form(world)
    opened = len(world.slack.calls_to("views.open"))
    from tests.world import click

    click(world, rid, OPERATOR, REJECT)
    answer = wait_for(
        lambda: [p for _, p in world.slack.responses if "needs bot role" in p["text"]]
    )
    assert "*admin*" in answer[-1]["text"]
    assert len(world.slack.calls_to("views.open")) == opened
    assert world.approvals.load(rid).status == "pending"


def test_a_failed_form_update_leaves_the_open_form_alone(world):
    world.slack.cut["views.update"] = 1
    _, path = world.command("org update", OPERATOR)
    opened_view(world)
    world.command("members list", VIEWER)  # something later to wait for
    wait_for(lambda: len(world.slack.responses) >= 1)
    assert not [p for got, p in world.slack.responses if got == path]  # no usage lesson


def test_homes_do_not_queue_behind_a_slow_x_booker():
    """One read in flight; everyone else is answered at once (the last value, or a
    failure), and a failure is kept for a while rather than retried by every home."""
    import threading

    from bot.xbooker import errors

    started, release, calls = threading.Event(), threading.Event(), []

    def slow_failing_read():
        calls.append(1)
        started.set()
        release.wait(10)
        raise errors.TransportError("X Booker did not answer in time", None)

    cache = home.OrganizationCache(slow_failing_read, ttl=30, patience=0.05)
    outcomes: list[BaseException] = []

    def first_caller():
        try:
            cache()
        except errors.XBookerError as exc:
            outcomes.append(exc)

    first = threading.Thread(target=first_caller)
    first.start()
    started.wait(5)
    for _ in range(5):  # while the read hangs: answered at once, no second read
        with pytest.raises(errors.XBookerError, match="being asked"):
            cache()
    release.set()
    first.join(5)
    assert len(outcomes) == 1  # the first caller got the read's own failure
    with pytest.raises(errors.XBookerError, match="in time"):
        cache()  # the failure is kept: no new read
    assert len(calls) == 1


def test_a_burst_of_changes_costs_each_home_a_few_publishes_not_one_per_change(world):
    """Each change makes its requester's and every admin's home due; with Slack slow,
    homes due more than once are published once, by at most two threads."""
    world.slack.delay["views.publish"] = 0.2
    emails = sorted(m["email"] for m in world.sim.members.values())[:30]
    for i, email in enumerate(emails):  # 30 requests: 30 changes, each concerning 3 homes
        world.handle(f"members remove {email}", user=(OPERATOR, ADMIN)[i % 2])
    assert "Your bot role" in json.dumps(world.ask("status", VIEWER))  # answered meanwhile
    world.executor.drain(30)
    homes = world.slack.calls_to("views.publish")
    assert len(homes) < 30  # not 30 changes x (requester + admins)
    assert {h["user_id"] for h in homes} == {OPERATOR, ADMIN, ADMIN2}


def test_a_home_built_during_the_first_read_waits_for_it_briefly():
    """Homes published at the same moment (a change refreshes several) all get the
    organization the first read brings, not a warning that it is being read."""
    import threading

    started, calls = threading.Event(), []

    def slow_read():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return "the organization"

    cache = home.OrganizationCache(slow_read, ttl=30, patience=5)
    got: list[object] = []
    first = threading.Thread(target=lambda: got.append(cache()))
    first.start()
    started.wait(5)
    assert cache() == "the organization"
    first.join(5)
    assert got == ["the organization"] and len(calls) == 1
