"""The webhook benchmark's scenarios: what each sends, from whom, and what a correct answer holds.

Who writes is a `Traffic`: in the cold scenarios every seeded follower (bound member or stranger) once, in a
seeded random order; in the warm ones a pool of WARM_POOL of them, over and over; for `subscribe` new
followers. `RequestFactory` signs (and in safe mode encrypts) each request as WeChat's servers would.
`Answers` are the markers bench/replay.lua looks for in every response and the full check of a sample.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import seed_community

from bot.content import Content
from bot.dev.simulate import sign_request, user_fields
from bot.domain.policy import MENU_ORDER, roles_for
from bot.domain.privacy import Vault
from bot.edge.replies import TextReply
from bot.wechat.wire import Cipher, Incoming, message_xml, render_reply

TOKEN = "partybotbench"
APPID = "wxbench0000000000"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_0123456789ab"
OPENID_LENGTH = 28  # as WeChat's openids
WARM_POOL = 2000  # followers the warm scenarios come from
TRAFFIC_SEED = 11  # the order the followers write in (cold) and who is in the warm pool


# A resident's report naming a building of the seeded community (bench/seed_community.py building_name):
# filed at once (the building is known), a ticket and its first event committed before the answer. Each
# resident names their own building (one of the seeded street's, by openid), as real traffic does: most
# reports open a ticket, a neighbour's later report of the same building's light joins it (merged).
REQUEST_TEXT = "反映 {building}楼道灯坏了好几天了"


def request_text(openid: str, buildings: int) -> str:
    g = int(hashlib.sha256(openid.encode()).hexdigest()[:8], 16) % max(1, buildings)
    return REQUEST_TEXT.format(building=seed_community.building_name(g))


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    partybot: bool
    safe: bool = False
    text: str | None = "帮助"  # the message sent; None: a `subscribe` event
    traffic: str = "new"  # cold (every follower once), warm (a pool of WARM_POOL), new (new followers)
    counts: bool = False  # its targets are the ones that count (else shown for reference)
    min_ratio: float | None = None  # of the bare app's requests/s
    max_p99_ms: float | None = None

    @property
    def subscribe(self) -> bool:
        return self.text is None


SCENARIOS = (
    Scenario("bare", "bare aiohttp, fixed XML (the limit)", partybot=False),
    Scenario("plain-cold", "`帮助`, plaintext, cold", True, traffic="cold", counts=True, min_ratio=0.30,
             max_p99_ms=50.0),
    Scenario("safe-cold", "`帮助`, safe mode (AES), cold", True, safe=True, traffic="cold", counts=True,
             min_ratio=0.20, max_p99_ms=50.0),
    Scenario("info-cold", "`我的信息`, plaintext, cold", True, text="我的信息", traffic="cold", counts=True,
             min_ratio=0.30, max_p99_ms=50.0),
    Scenario("plain-warm", "`帮助`, plaintext, warm (2 000 openids)", True, traffic="warm", min_ratio=0.30,
             max_p99_ms=50.0),
    Scenario("safe-warm", "`帮助`, safe mode, warm (2 000 openids)", True, safe=True, traffic="warm",
             min_ratio=0.20, max_p99_ms=50.0),
    Scenario("subscribe", "`subscribe`, row committed", True, text=None, counts=True, min_ratio=0.05),
    Scenario("request", "`反映 …` from new residents, ticket committed", True, text=REQUEST_TEXT, counts=True,
             min_ratio=0.05),
)  # fmt: skip


# --- who writes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Population:
    """The seeded followers: the bound members (as the database holds them) and the strangers."""

    people: dict[str, seed_community.Person]
    cold: list[str]  # every follower once, in a seeded random order (members and strangers mixed)
    warm: list[str]  # WARM_POOL of them

    @classmethod
    def of(cls, built: seed_community.Built) -> Population:
        people = seed_community.people(built)
        followers = sorted(people) + [seed_community.stranger_openid(i) for i in range(built.strangers)]
        cold = followers.copy()
        random.Random(TRAFFIC_SEED).shuffle(cold)
        warm = random.Random(TRAFFIC_SEED + 1).sample(followers, min(WARM_POOL, len(followers)))
        return cls(people, cold, warm)

    @classmethod
    def empty(cls) -> Population:
        return cls({}, [], [])


class Traffic:
    """Who sends a scenario's requests, by position: request k of the scenario's server comes from
    openid(k). Requests written to a file but never sent (wrk stopped first) do not count: the position
    only moves by what was sent, so the next file starts with followers the server has not seen."""

    def __init__(self, scenario: Scenario, population: Population, run_id: str) -> None:
        self.scenario = scenario
        self.pool = population.cold if scenario.traffic == "cold" else population.warm
        self.people = population.people
        self.run_id = run_id
        self.position = 0

    def openid(self, k: int) -> str:
        if self.scenario.traffic == "new":
            prefix = f"o{self.run_id}f"
            return prefix + str(k).zfill(OPENID_LENGTH - len(prefix))
        if not self.pool:
            raise RuntimeError("no followers seeded")
        return self.pool[k % len(self.pool)]

    def take(self, count: int) -> list[str]:
        return [self.openid(k) for k in range(self.position, self.position + count)]

    def members_in(self, count: int) -> int:
        """How many of the next `count` requests come from bound members."""
        return sum(1 for openid in self.take(count) if openid in self.people)

    def advance(self, sent: int) -> None:
        self.position += sent

    @property
    def repeats(self) -> int:
        """Requests so far from an openid this server had been sent before."""
        if self.scenario.traffic == "new":
            return 0
        return max(0, self.position - len(self.pool))


# --- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    path: str  # /wechat?signature=...
    body: bytes
    openid: str

    def raw(self, port: int) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(self.body)}\r\n\r\n"
        )
        return head.encode() + self.body


class RequestFactory:
    """Builds requests as WeChat's servers would, none ever the same: MsgIds and nonces come from
    counters that only go up during a run."""

    def __init__(self, cipher: Cipher, members: int = 100_000) -> None:
        self.cipher = cipher
        self.buildings = -(-members // seed_community.GROUP_SIZE)  # one building per group of the seed
        self.run_id = secrets.token_hex(3)  # keeps nonces and new followers of separate runs apart
        self._msg_id = int(time.time()) * 1_000_000
        self._nonce = 0

    def build(self, scenario: Scenario, openid: str, timestamp: int) -> Request:
        self._nonce += 1
        nonce = f"{self.run_id}{self._nonce:09d}"
        if scenario.text is None:
            fields = user_fields("event", openid, ACCOUNT, timestamp, None, Event="subscribe")
        else:
            self._msg_id += 1
            text = request_text(openid, self.buildings) if scenario.key == "request" else scenario.text
            fields = user_fields("text", openid, ACCOUNT, timestamp, self._msg_id, Content=text)
        signed = sign_request(
            TOKEN, message_xml(fields), timestamp, cipher=self.cipher if scenario.safe else None, nonce=nonce
        )
        return Request(f"/wechat?{urlencode(signed.query)}", signed.body.encode(), openid)

    def write_records(self, path: Path, scenario: Scenario, port: int, openids: list[str]) -> float:
        """Write a fresh request from each openid for bench/replay.lua; return the seconds it took."""
        started = time.perf_counter()
        timestamp = int(time.time())
        with path.open("wb") as out:
            for openid in openids:
                raw = self.build(scenario, openid, timestamp).raw(port)
                out.write(b"%08d" % len(raw))
                out.write(raw)
        return time.perf_counter() - started


# --- expected answers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answers:
    """What correct answers hold: markers that replay.lua looks for in every response (one of them), the
    first `member_markers` of which mean "answered as a bound member" (0: the markers cannot tell, as in
    safe mode), and the full check of a sample."""

    scenario: Scenario
    content: Content
    people: dict[str, seed_community.Person]
    markers: tuple[str, ...]
    member_markers: int = 0

    def problem(self, openid: str, text: str | None) -> str | None:
        """What is wrong with `text` as the answer to `openid`, or None."""
        person = self.people.get(openid)
        if self.scenario.subscribe:
            return _differs(text, welcome(self.content))
        if self.scenario.key == "request":
            head, category = request_markers(self.content)
            filed = text is not None and text.startswith(head + "R") and category in text
            return None if filed else f"not a filed ticket: {(text or '')[:40]!r}…"
        if self.scenario.text == "我的信息":
            if person is None:
                return _differs(text, not_member(self.content))
            pattern = my_info_pattern(self.content, person)
            return None if text is not None and pattern.fullmatch(text) else f"not {person.name}'s record"
        if person is None:
            return _differs(text, self.content.render_menu("resident"))
        return _differs(text, help_answer(self.content, person))


def _differs(text: str | None, expected: str) -> str | None:
    return None if text == expected else f"expected {expected[:40]!r}…"


def role_of(person: seed_community.Person) -> str:
    """The menu a bound member sees (bot.domain.policy: the highest of their roles)."""
    roles = roles_for(member_post=person.post, is_member=True, is_staff=False, is_admin=False)
    return next(role.value for role in MENU_ORDER if role in roles)


def traits_of(person: seed_community.Person) -> frozenset[str]:
    return frozenset({"mobile"}) if person.kind == "流动" else frozenset()


def help_answer(content: Content, person: seed_community.Person) -> str:
    greeting = content.text("greeting_member", name=person.name) + "\n"
    return greeting + content.render_menu(role_of(person), traits_of(person))


def welcome(content: Content) -> str:
    return content.text("welcome", community=content.community_name, menu=content.render_menu("resident"))


def not_member(content: Content) -> str:
    return content.text("not_member", hint=content.hint("bind", "resident"))


def my_info_pattern(content: Content, person: seed_community.Person) -> re.Pattern[str]:
    """The member's own record: the template's words, with the fields the roster sets for certain (name,
    unit, kind, the phone unmasked) exact and the rest anything."""
    phone = Vault(seed_community.DATA_KEY).decrypt_phone(person.phone_enc)
    known = {
        "name": person.name,
        "unit": person.unit_path.split("/", 1)[-1],
        "kind": person.kind,
        "phone": phone or content.text("phone_unregistered"),
    }
    parts = []
    for literal, name, _, _ in string.Formatter().parse(str(content.texts["my_info"])):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(re.escape(known[name]) if name in known else ".*?")
    return re.compile("".join(parts), re.DOTALL)


def my_info_tail(content: Content) -> str:
    """The words after the record's last field: every member's record ends with them."""
    literals = [literal for literal, _, _, _ in string.Formatter().parse(str(content.texts["my_info"]))]
    return literals[-1] or literals[0]


def answers_for(scenario: Scenario, content: Content, population: Population) -> Answers:
    people = population.people
    if not scenario.partybot:
        return Answers(scenario, content, people, (cdata(bare_text(content)),))
    if scenario.subscribe:
        # The greeting before the menu: the menu alone would also match a `帮助` answer.
        greeting = content.text("welcome", community=content.community_name, menu="")
        return Answers(scenario, content, people, (greeting,))
    if scenario.key == "request":
        return Answers(scenario, content, people, (request_markers(content)[0],))
    if scenario.safe:
        # An encrypted body cannot be read in Lua; the samples are decrypted and checked in full.
        return Answers(scenario, content, people, ("]]></Encrypt><MsgSignature><![CDATA[",))
    if scenario.text == "我的信息":
        member = f"{my_info_tail(content)}]]></Content>"
        return Answers(scenario, content, people, (member, cdata(not_member(content))), member_markers=1)
    # A member's menu ends their answer (after the greeting); a stranger's is the resident menu alone.
    menus = {content.render_menu(role_of(p), traits_of(p)) for p in people.values()}
    markers = tuple(f"{menu}]]></Content>" for menu in sorted(menus))
    return Answers(
        scenario, content, people, (*markers, cdata(content.render_menu("resident"))), len(markers)
    )


def request_markers(content: Content) -> tuple[str, str]:
    """What a filed ticket's answer starts with (before its number) and the category line it holds."""
    head = str(content.texts["req_filed"]).split("{number}")[0]
    return head, content.text("req_category", category="物业维修", place="")


def cdata(text: str) -> str:
    return f"<Content><![CDATA[{text}]]></Content>"


def bare_text(content: Content) -> str:
    """The commonest answer of the cold scenarios (a member's `帮助`: greeting and menu)."""
    return help_answer(content, seed_community.Person("", "王建国", None, "在职", "", None))


def bare_reply(content: Content) -> bytes:
    """bare_text as partybot renders it, so the bare app sends as many bytes."""
    msg = Incoming(openid="o" * OPENID_LENGTH, account=ACCOUNT, kind="text", create_time=0)
    return render_reply(TextReply(bare_text(content)), msg, time.time()).encode()
