"""Replies that never mislead or vanish: one line per value, every row on exactly one
page, within Slack's limits, and a text-only retry when Slack refuses a reply."""

from __future__ import annotations

import json
import re

import pytest

from bot.core.replies import MAX_MESSAGE, Reply, block_text_size, clip_markup, section
from tests.fake_slack import invalid
from tests.world import ADMIN, OPERATOR, VIEWER

HOSTILE = [
    "Carol* · carol@x.example · member · `mem_0003`\n*Dan Member* · dan@x.example · owner",
    "Eve\u2028X Booker role: owner\u2029",
    "\u202eenimda\u202c Mallory",
    "zero\u200bwidth\u2060joiner",
    "*bold* _it_ ~strike~ `code`",
    "<!channel> <!here> <@U0EVIL> <#C0EVIL>",
    "<https://evil.example|Approve>",
    "\x1b]0;owned\x07\x1b[2Jterminal",
]
# What no value may bring in (our own line breaks between rows are checked by counting).
INVISIBLE = "\u2028\u2029\u202e\u202c\u200b\u2060\x1b\x07"


def add_members(world, names: list[str], role: str = "member") -> list[dict]:
    made = []
    for i, name in enumerate(names):
        member = {
            "id": f"mem_h{i:03d}",
            "name": name,
            "email": f"h{i}@hostile.example",
            "role": role,
            "status": "active",
            "joinedAt": None,
        }
        world.sim.members[member["id"]] = member
        made.append(member)
    return made


def texts(reply: dict, plain: bool = True) -> list[str]:
    """The fallback and every text object; ``plain=False`` leaves out plain_text ones,
    which Slack never parses for markup (a raw ``<!channel>`` there pings no one)."""
    out = [reply["text"]]
    for block in reply.get("blocks", []):
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            shown = isinstance(item, dict) and isinstance(item.get("text"), str)
            if shown and (plain or item.get("type") != "plain_text"):
                out.append(item["text"])
    return out


def test_each_member_is_one_line_with_its_real_role(world):
    made = add_members(world, HOSTILE)
    reply = world.ask('members list "hostile"', user=VIEWER)
    assert invalid(reply) is None
    rows = [line for t in texts(reply)[1:] for line in t.split("\n") if "mem_h" in line]
    assert len(rows) == len(made)  # one line each, no forged second row
    for member, row in zip(made, rows, strict=True):
        assert row.endswith(f"· member · `{member['id']}`")
    for text in texts(reply):
        assert not any(ch in text for ch in INVISIBLE)
        assert not re.search(r"<[!@#h]", text)  # no mention, channel or link markup


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_values_in_every_view(world, name):
    add_members(world, [name])
    world.sim.organization["address"] = name
    replies = [
        world.ask("org", user=VIEWER),
        world.ask("members show mem_h000", user=VIEWER),
        world.ask(f'org update address="{name[:20].replace(chr(34), "")}"', user=OPERATOR),
        world.ask("members remove mem_h000", user=OPERATOR),
        world.ask("approvals", user=OPERATOR),
        world.ask("audit 20"),
    ]
    for call in world.slack.calls_to("chat.postMessage"):
        blocks = call.get("blocks") or []
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        replies.append({"text": call["text"], "blocks": blocks})
    for reply in replies:
        assert invalid(reply) is None
        for text in texts(reply):
            assert not any(ch in text for ch in INVISIBLE), text
        for text in texts(reply, plain=False):
            assert not re.search(r"<[!@#h][^>]*(EVIL|evil|channel|here)", text), text


@pytest.mark.parametrize("name", ["N" * 300, "&<>" * 40], ids=["long", "grows-when-escaped"])
def test_sixty_long_named_members_each_appear_on_exactly_one_page(world, name):
    for member_id in list(world.sim.members):
        del world.sim.members[member_id]
    made = add_members(world, [f"Member {i:02d} {name}" for i in range(60)])
    for member in made:
        member["email"] = "a&b" * 40 + member["email"]
    seen: list[str] = []
    page, pages = 1, None
    while True:
        reply = world.ask(f"members list page={page}", user=VIEWER)
        assert invalid(reply) is None and sum(map(block_text_size, reply["blocks"])) < MAX_MESSAGE
        seen += re.findall(r"`(mem_h\d{3})`", json.dumps(reply["blocks"]))
        footer = [b for b in reply["blocks"] if b["type"] == "context"][-1]["elements"][0]["text"]
        pages = int(re.search(r"Page \d+ of (\d+)", footer).group(1))
        if page == pages:
            assert "next page" not in footer
            break
        assert f"page={page + 1}" in footer
        page += 1
    assert sorted(seen) == sorted(m["id"] for m in made)  # every member exactly once


def test_approvals_with_long_previews_are_each_listed_once(world):
    world.sim.organization["name"] = "O" * 480
    for i in range(23):  # two requesters: one may open 20 requests an hour
        world.handle(f'org update name="{i:02d}{"P" * 470}"', user=(OPERATOR, ADMIN)[i % 2])
    seen = []
    for page in (1, 2):
        reply = world.handle(f"approvals page={page}", user=OPERATOR)
        assert invalid({"blocks": reply.blocks}) is None
        assert "did not fit" not in json.dumps(reply.blocks)
        seen += re.findall(r"\*#(\d+)\*", reply.text)
    assert sorted(map(int, seen)) == list(range(1, 24))


def test_approvals_are_paged(world):
    for i in range(23):  # two requesters: one may open 20 requests an hour
        world.handle(f'org update name="Paged {i}"', user=(OPERATOR, ADMIN)[i % 2])
    first = world.handle("approvals", user=OPERATOR)
    assert "page 1 of 2 (23 in all)" in first.text and "page=2" in json.dumps(first.blocks)
    second = world.handle("approvals page=2", user=OPERATOR)
    assert second.text.count("• *#") == 3


def test_a_refused_reply_is_sent_again_as_text(world):
    world.slack.refuse = ["invalid_blocks"]
    response, path = world.command("org", user=VIEWER)
    assert response.status == 200
    world.executor.drain(10)
    posts = [payload for p, payload in world.slack.responses if p == path]
    assert len(posts) == 2 and "blocks" not in posts[1]
    assert "Harbour Lane Studios" in posts[1]["text"]
    assert "could not be shown here" in posts[1]["text"] and "invalid_blocks" in posts[1]["text"]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 2990 + " <@U0123456789> tail",
        "x" * 2995 + " <!date^1700000000^{date}|2023> tail",
        "x" * 2990 + " `a code span that runs past the end` tail",
        "word " * 700,
        "x" * 2960 + " `aaaa bbbb`" + "y" * 100,
        "x" * 2910
        + " <!date^1796073958^{date_short_pretty} {time}|2026-11-30 21:25 UTC>"
        + "y" * 99,
        "x" * 2995 + "&amp;&lt;&gt;" * 5,
    ],
)
def test_fallback_text_is_cut_only_at_token_boundaries(text):
    cut = clip_markup(text, 3000)
    assert len(cut) <= 3000 and cut.endswith("…")
    assert cut.count("<") == cut.count(">") and cut.count("`") % 2 == 0
    assert cut.rfind("&") <= cut.rfind(";")


def test_an_oversized_reply_says_what_it_left_out():
    reply = Reply("big", [section("y" * 2900) for _ in range(10)])
    assert sum(map(block_text_size, reply.blocks)) <= MAX_MESSAGE
    assert "did not fit one Slack message" in reply.blocks[-1]["elements"][0]["text"]
    assert invalid({"blocks": reply.blocks}) is None


def test_direct_messages_are_sanitised_too(world):
    add_members(world, [HOSTILE[0]])
    rid_text = world.ask("members remove mem_h000", user=OPERATOR)["text"]
    rid = int(rid_text.split("Request *#")[1].split("*")[0])
    world.handle(f"approvals reject {rid} <!channel> *not now*", ADMIN)
    dm = world.slack.calls_to("chat.postMessage")[-1]
    assert dm["channel"].startswith("D")
    blocks = dm["blocks"] if isinstance(dm["blocks"], list) else json.loads(dm["blocks"])
    for text in texts({"text": dm["text"], "blocks": blocks}):
        assert not any(ch in text for ch in INVISIBLE) and "<!channel>" not in text
        assert "*not now*" not in text


def test_fifty_small_blocks_are_kept_whole():
    reply = Reply("fifty", [section(f"line {i}") for i in range(50)])
    assert len(reply.blocks) == 50 and "did not fit" not in json.dumps(reply.blocks)


@pytest.mark.parametrize(
    "text", ["members list --share role=owner", "members list role=owner —share"]
)
def test_share_anywhere_and_as_a_phone_types_it(world, text):
    reply = world.ask(text, user=VIEWER)
    assert reply["response_type"] == "in_channel" and "Members: page 1" in reply["text"]


def test_piled_up_combining_marks_are_cut_to_a_few():
    """A name drawing over the lines around it (hundreds of marks on one letter) keeps
    three marks per letter, as real scripts need at most."""
    from bot.core.replies import esc

    shown = esc("Z" + "\u0336" * 200 + "ed")
    assert shown == "Z" + "\u0336" * 3 + "ed"
