"""The simulator keeps section A of the API contract to the letter, and section B's assumptions.

Messages are typed out here from docs/xbooker-api.md rather than imported, so a typo
in bot/xbooker/messages.py cannot hide behind a matching one in the simulator.
"""

from __future__ import annotations

import httpx
import pytest

from bot.simulator import DEMO_CREDENTIALS

ORG, CID, SECRET = DEMO_CREDENTIALS
UA = {"User-Agent": "xbooker-bot"}


@pytest.fixture
def http():
    with httpx.Client(headers=UA, timeout=5) as client:
        yield client


def refresh(http, url, org=ORG, cid=CID, secret=SECRET, headers=None):
    h = {"organization-id": org, "client-id": cid, "client-secret": secret, **(headers or {})}
    return http.get(f"{url}/auth/v1/tokens/refresh", headers=h)


def access(http, url, rt, cid=CID, headers=None):
    h = {"organization-id": ORG, "client-id": cid, "Authorization": f"Bearer {rt}"}
    return http.get(f"{url}/auth/v1/tokens/access", headers={**h, **(headers or {})})


def tokens(http, url):
    rt = refresh(http, url).json()["data"]["refreshToken"]
    at = access(http, url, rt).json()["data"]["accessToken"]
    return rt, at


def call(http, url, at, method="GET", path="", **kw):
    headers = {"Authorization": f"Bearer {at}", **kw.pop("headers", {})}
    return http.request(method, f"{url}/delegated/v1{path}", headers=headers, **kw)


def expect(response, status, message):
    body = response.json()
    assert response.status_code == status, body
    assert body["message"] == message
    assert body["success"] is False and body["data"] is None and body["statusCode"] == status


def test_refresh_and_access_success_envelope(sim_server, http):
    r = refresh(http, sim_server.url)
    body = r.json()
    assert r.status_code == 200 and body["success"] is True and body["statusCode"] == 200
    assert isinstance(body["message"], str) and body["data"]["refreshToken"]
    a = access(http, sim_server.url, body["data"]["refreshToken"])
    assert a.status_code == 200 and a.json()["data"]["accessToken"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cid": "nope"}, "Client not found, or invalid client id"),
        ({"secret": "wrong-secret"}, "Invalid client secret"),
    ],
)
def test_refresh_errors(sim_server, http, kwargs, message):
    expect(refresh(http, sim_server.url, **kwargs), 400, message)


def test_removed_app_cannot_get_refresh_token(sim_server, sim, http):
    sim.remove_app()
    expect(refresh(http, sim_server.url), 400, "Client not found, or invalid client id")


def test_access_errors(sim_server, sim, http):
    url = sim_server.url
    rt = refresh(http, url).json()["data"]["refreshToken"]
    expect(access(http, url, "not-a-token"), 400, "Invalid refresh token")
    expect(access(http, url, rt, cid="other-client"), 400, "Invalid refresh token")
    # Bound to the caller that obtained it: same IP, another browser.
    expect(
        access(http, url, rt, headers={"User-Agent": "curl/8"}),
        400,
        "You are't permitted to use this access token",
    )
    sim.expire_app()
    expect(
        access(http, url, rt),
        400,
        "Your refresh token is expired, please issue another refresh token first.",
    )


def test_new_refresh_token_supersedes_previous(sim_server, http):
    url = sim_server.url
    old_rt, old_at = tokens(http, url)
    refresh(http, url)
    # Section B: the previous refresh token no longer mints access tokens...
    expect(access(http, url, old_rt), 400, "Invalid refresh token")
    # ...and section A: access tokens from it stop working on delegated calls.
    expect(
        call(http, url, old_at),
        403,
        "No refresh tokens found please get a refresh token first",
    )


def test_delegated_errors(sim_server, sim, http):
    url = sim_server.url
    _, at = tokens(http, url)
    assert call(http, url, at).json()["data"]["organization"]["id"] == ORG
    expect(call(http, url, at, "PUT", "/organization"), 403, "Method not recognized")
    expect(
        call(http, url, at + "x"), 403, "No refresh tokens found please get a refresh token first"
    )
    expect(
        call(http, url, at, headers={"organization-id": "org_wrong"}),
        403,
        "Organization not found, invalid organization id",
    )
    sim.set_scopes({"members:read"})
    expect(call(http, url, at, path="/organization"), 403, "Invalid request scope")
    sim.set_scopes({"organization:read"})
    sim.advance(120)
    expect(call(http, url, at), 403, "Access token expired")


def test_access_token_valid_just_under_two_minutes(sim_server, sim, http):
    _, at = tokens(http, sim_server.url)
    sim.advance(119)
    assert call(http, sim_server.url, at).status_code == 200


@pytest.mark.parametrize("change", ["remove_app", "expire_app"])
def test_removed_or_expired_app_on_delegated_calls(sim_server, sim, http, change):
    _, at = tokens(http, sim_server.url)
    getattr(sim, change)()
    expect(call(http, sim_server.url, at), 403, "Delegated app not found, invalid client id")


def test_calls_with_or_without_extra_headers_and_both_org_urls(sim_server, http):
    url = sim_server.url
    _, at = tokens(http, url)
    plain = call(http, url, at, path="/organization")
    extra = call(
        http, url, at, path="/organization", headers={"organization-id": ORG, "client-id": CID}
    )
    base = call(http, url, at)
    assert plain.json()["data"] == extra.json()["data"] == base.json()["data"]
    expect(
        call(http, url, at, headers={"client-id": "someone-else"}),
        403,
        "Delegated app not found, invalid client id",
    )


def test_members_pagination_filters_and_errors(sim_server, sim, http):
    url = sim_server.url
    _, at = tokens(http, url)
    first = call(http, url, at, path="/organization/members").json()["data"]
    assert first["page"] == 1 and first["limit"] == 50 and first["total"] == 120
    assert len(first["members"]) == 50
    last = call(http, url, at, path="/organization/members", params={"page": 3}).json()["data"]
    assert len(last["members"]) == 20
    owners = call(http, url, at, path="/organization/members", params={"role": "owner"})
    assert {mb["role"] for mb in owners.json()["data"]["members"]} == {"owner"}
    member = first["members"][10]
    found = call(http, url, at, path="/organization/members", params={"q": member["email"]})
    assert [mb["id"] for mb in found.json()["data"]["members"]] == [member["id"]]
    expect(
        call(http, url, at, path="/organization/members", params={"limit": 101}),
        400,
        "Invalid request body",
    )
    expect(call(http, url, at, path="/organization/members/nobody"), 404, "Member not found")
    expect(call(http, url, at, path="/nowhere"), 404, "Route not found")


def test_member_writes_and_assumed_errors(sim_server, sim, http):
    url, members = sim_server.url, "/organization/members"
    _, at = tokens(http, url)
    added = call(http, url, at, "POST", members, json={"email": "new@x.example", "role": "admin"})
    assert added.status_code == 201
    new = added.json()["data"]["member"]
    assert (new["role"], new["status"], new["joinedAt"]) == ("admin", "invited", None)
    expect(
        call(http, url, at, "POST", members, json={"email": "NEW@x.example"}),
        409,
        "Member already exists",
    )
    expect(call(http, url, at, "POST", members, content=b"{not json"), 400, "Invalid request body")
    expect(
        call(http, url, at, "POST", members, json={"email": "a@x.example", "role": "boss"}),
        400,
        "Invalid request body",
    )
    changed = call(http, url, at, "PATCH", f"{members}/{new['id']}", json={"role": "member"})
    assert changed.json()["data"]["member"]["role"] == "member"
    removed = call(http, url, at, "DELETE", f"{members}/{new['id']}")
    assert removed.json()["data"]["member"]["id"] == new["id"]
    owners = [mb for mb in sim.members.values() if mb["role"] == "owner"]
    call(http, url, at, "PATCH", f"{members}/{owners[0]['id']}", json={"role": "admin"})
    expect(
        call(http, url, at, "PATCH", f"{members}/{owners[1]['id']}", json={"role": "admin"}),
        409,
        "Organization must keep at least one owner",
    )
    expect(
        call(http, url, at, "DELETE", f"{members}/{owners[1]['id']}"),
        409,
        "Organization must keep at least one owner",
    )


def test_update_organization_validates_fields(sim_server, http):
    url = sim_server.url
    _, at = tokens(http, url)
    ok = call(http, url, at, "PATCH", "/organization", json={"timezone": "Europe/Paris"})
    assert ok.json()["data"]["organization"]["timezone"] == "Europe/Paris"
    for bad in ({"timezone": "Mars/Olympus"}, {"id": "x"}, {"email": "nope"}, {}):
        expect(call(http, url, at, "PATCH", "/organization", json=bad), 400, "Invalid request body")


def test_faults_and_counters(sim_server, sim, http):
    url = sim_server.url
    sim.fail_next(2)
    assert refresh(http, url).status_code == 500
    assert refresh(http, url).status_code == 500
    assert refresh(http, url).status_code == 200
    sim.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        refresh(http, url)
    assert sim.count("refresh") == 4


def test_control_endpoint_sets_knobs(sim_server, sim, http):
    r = http.post(f"{sim_server.url}/_simulator", json={"latency": 0.01, "access_ttl": 5})
    assert r.status_code == 200 and "counters" in r.json()
    assert sim.latency == 0.01 and sim.access_ttl == 5
