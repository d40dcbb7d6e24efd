"""The X Booker client: typed operations, URL safety, envelopes, and the retry rule."""

from __future__ import annotations

import httpx
import pytest

from bot.xbooker import errors
from bot.xbooker.client import InvalidArgument
from bot.xbooker.models import Organization
from bot.xbooker.transport import read_envelope
from tests.helpers import Sleeps, fast_retry


def test_every_operation_round_trips(sim, client):
    org = client.update_organization({"name": "New Name Ltd", "timezone": "Asia/Tokyo"})
    assert (org.name, org.timezone) == ("New Name Ltd", "Asia/Tokyo")
    page = client.list_members(page=2, limit=100)
    got = (page.page, page.limit, page.total, len(page.members), page.pages)
    assert got == (2, 100, 120, 20, 2)
    admins = client.list_members(role="admin")
    assert {mb.role for mb in admins.members} == {"admin"}
    added = client.add_member("ada@x.example", "member", name="Ada Lovelace")
    assert added.name == "Ada Lovelace" and client.member(added.id) == added
    assert client.change_member_role(added.id, "admin").role == "admin"
    assert client.remove_member(added.id).id == added.id
    with pytest.raises(errors.NotFoundError) as info:
        client.member(added.id)
    assert (info.value.status, info.value.message) == (404, "Member not found")


@pytest.mark.parametrize(
    "member_id",
    [
        "..",
        "../organization",
        "a/b",
        "a?b=c",
        "a#frag",
        "%2e%2e",
        "a b",
        "",
        "x" * 65,
        "mem\x00",
        "mem\n",
        "ünïcode",
        "a.b",
        "a;b",
        "/",
    ],
)
def test_path_injection_never_reaches_x_booker(sim, client, member_id):
    client.organization()
    before = dict(sim.counters)
    calls = (client.member, client.remove_member, lambda i: client.change_member_role(i, "admin"))
    for call in calls:
        with pytest.raises(InvalidArgument):
            call(member_id)
    assert dict(sim.counters) == before


def test_search_text_is_a_query_parameter_not_a_path(sim, client):
    page = client.list_members(query="../../auth/v1/tokens/refresh?x=#")
    assert page.total == 0
    assert sim.count("list members") == 1 and sim.count("refresh") == 1


def test_invalid_arguments_are_refused_before_sending(sim, client):
    for bad in (
        lambda: client.add_member("a@x.example", "boss"),
        lambda: client.update_organization({"id": "x"}),
        lambda: client.update_organization({}),
        lambda: client.list_members(limit=101),
        lambda: client.list_members(page=0),
    ):
        with pytest.raises(InvalidArgument):
            bad()
    assert sum(sim.counters.values()) == 0


def test_organization_accepts_nested_or_bare_data():
    bare = {"id": "o1", "name": "N"}
    assert Organization.parse({"organization": bare}, "x") == Organization.parse(bare, "x")


def _response(status: int, content: bytes, kind: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=content, headers={"content-type": kind})


@pytest.mark.parametrize(
    ("status", "content", "kind", "exc", "text"),
    [
        (502, b"<html>Bad Gateway</html>", "text/html", errors.ServerError, "not JSON (text/html)"),
        (200, b'{"data": ', "application/json", errors.TransportError, "not JSON"),
        (200, b"[1, 2]", "application/json", errors.TransportError, "not JSON"),
        (
            200,
            b'{"success": true, "data": null}',
            "application/json",
            errors.TransportError,
            "without a data object",
        ),
        (
            418,
            b'{"message": "I am a teapot", "data": null}',
            "application/json",
            errors.APIError,
            "418 I am a teapot",
        ),
        (400, b'{"data": null}', "application/json", errors.APIError, "HTTP 400"),
    ],
)
def test_envelope_parsing_never_crashes(status, content, kind, exc, text):
    with pytest.raises(exc) as info:
        read_envelope(_response(status, content, kind), "show organization")
    assert text in str(info.value)


def test_unknown_message_passes_through_verbatim(sim, client, sim_server):
    client.organization()
    sim.fail_next(1, status=429)
    with pytest.raises(errors.APIError) as info:
        client.organization()
    assert info.value.message == "Internal server error" and info.value.status == 429


def test_reads_retry_500s_with_jittered_backoff(sim, make_client):
    sleeps = Sleeps()
    client = make_client(retry=fast_retry(sleeps))
    client.organization()
    sim.fail_next(2)
    assert client.organization().id == "org_7d3f2a"
    assert sim.count("show organization") == 1 + 3
    assert len(sleeps.calls) == 2 and sleeps.calls[1] > sleeps.calls[0]


def test_reads_give_up_after_bounded_retries(sim, client):
    client.organization()
    sim.fail_next(5, html=True)
    with pytest.raises(errors.ServerError) as info:
        client.organization()
    assert "not JSON" in info.value.message
    assert sim.count("show organization") == 1 + 3


@pytest.mark.parametrize("fault", ["drop_next", "truncate_next"])
def test_reads_survive_dropped_and_truncated_answers(sim, client, fault):
    client.organization()
    getattr(sim, fault)(1)
    assert client.list_members().total == 120
    assert sim.count("list members") == 2


def test_writes_are_not_replayed_after_a_500(sim, client):
    client.organization()
    sim.fail_next(1)
    with pytest.raises(errors.OutcomeUnknownError) as info:
        client.add_member("bob@x.example")
    assert (info.value.status, info.value.message) == (500, "Internal server error")
    assert sim.count("add member") == 1


@pytest.mark.parametrize(
    ("status", "html"),
    [(502, False), (502, True), (201, True)],
    ids=["502", "502-html", "2xx-html"],
)
def test_a_write_applied_then_answered_badly_is_outcome_unknown(sim, client, status, html):
    client.organization()
    sim.fail_after_apply(1, status, html=html)
    with pytest.raises(errors.OutcomeUnknownError):
        client.add_member("applied@x.example")
    assert any(m["email"] == "applied@x.example" for m in sim.members.values())
    assert sim.count("add member") == 1


@pytest.mark.parametrize("fault", ["drop_next", "truncate_next"])
def test_writes_are_not_replayed_after_a_dropped_connection(sim, client, fault):
    client.organization()
    getattr(sim, fault)(1)
    with pytest.raises(errors.OutcomeUnknownError) as info:
        client.add_member("bob@x.example")
    assert "may or may not have been applied" in str(info.value)
    assert sim.count("add member") == 1


def test_timeouts_retry_reads_and_never_replay_writes(sim, make_client):
    client = make_client(api_timeout=httpx.Timeout(0.3))
    client.organization()
    sim.latency = 0.6
    with pytest.raises(errors.TransportError) as info:
        client.organization()
    assert "did not answer in time" in info.value.message
    assert sim.count("show organization") == 1 + 3
    with pytest.raises(errors.OutcomeUnknownError):
        client.add_member("slow@x.example")
    assert sim.count("add member") == 1
    sim.latency = 0


def test_connection_refused_is_a_clear_error(store):
    from bot.xbooker.client import XBookerClient
    from tests.helpers import CREDS

    with (
        XBookerClient("http://127.0.0.1:9", CREDS, store, retry=fast_retry()) as client,
        pytest.raises(errors.TransportError) as info,
    ):
        client.organization()
    assert info.value.message == "could not connect to X Booker"


def test_redirects_are_not_followed(store):
    """A redirect would carry the client-secret header to wherever it points."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", "/stolen")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        from bot.xbooker.client import XBookerClient
        from tests.helpers import CREDS

        url = f"http://127.0.0.1:{server.server_address[1]}"
        with (
            XBookerClient(url, CREDS, store, retry=fast_retry()) as client,
            pytest.raises(errors.TransportError),
        ):
            client.organization()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/auth/v1/tokens/refresh"]


class GarblingProxy:
    """A loopback proxy in front of the simulator that passes everything through, but
    answers writes to members with a body its headers say is gzip and is not: X Booker
    did the work, the answer cannot be decoded."""

    def __init__(self, upstream: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _relay(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                answer = httpx.request(
                    self.command, upstream + self.path, headers=headers, content=body
                )
                data, extra = answer.content, {}
                if self.command == "POST" and self.path.endswith("/members"):
                    data, extra = b"this is not gzip", {"Content-Encoding": "gzip"}
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_write_answered_with_an_undecodable_body_is_outcome_unknown(sim, sim_server, store):
    from bot.xbooker.client import XBookerClient
    from tests.helpers import CREDS

    proxy = GarblingProxy(sim_server.url)
    try:
        with XBookerClient(proxy.url, CREDS, store, retry=fast_retry()) as client:
            client.organization()
            with pytest.raises(errors.OutcomeUnknownError):
                client.add_member("garbled@x.example")
        assert any(m["email"] == "garbled@x.example" for m in sim.members.values())
        assert sim.count("add member") == 1
    finally:
        proxy.stop()
