"""Routers and filters (after aiogram 3): one Router per capability, included into a tree.

Include order is priority; within a router its own routes come before its children's; the first
route whose filters all pass handles the message. A filter returns False to refuse, True to accept,
or a dict of data that is merged into ``ctx.match``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.edge.context import Context
from bot.edge.replies import Reply
from bot.wechat.wire import Incoming

Handler = Callable[[Incoming, Context], Awaitable[Reply | None]]
# A bare number claimed by a capability before it opens a menu item: the intent it means, or None.
NumberClaim = Callable[[Incoming, Context], Awaitable[str | None]]
FilterResult = bool | dict[str, Any]
Filter = Callable[[Incoming, Context], FilterResult]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    filters: tuple[Filter, ...]
    handler: Handler


class Router:
    def __init__(self, name: str, *, numbered: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> None:
        """`numbered`: this router's conversations that ask for a number (a choice from a list, a step
        like 回复1提交). In any other conversation a bare menu number leaves it and opens that menu item.
        `optional`: conversations that ask a question the person may ignore (a consent, a call-back phone):
        a message with an intent of its own (党费, 帮助, ...) leaves them and is answered as such."""
        self.name = name
        self._routes: list[Route] = []
        self._children: list[Router] = []
        self._numbered = frozenset(numbered)
        self._optional = frozenset(optional)
        self._claims: list[NumberClaim] = []

    def route(self, *filters: Filter, name: str | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append(Route(f"{self.name}.{name or handler.__name__}", filters, handler))
            return handler

        return register

    def message(self, *filters: Filter, name: str | None = None) -> Callable[[Handler], Handler]:
        """A route for user messages (not events)."""
        return self.route(_is_message, *filters, name=name)

    def event(self, *filters: Filter, name: str | None = None) -> Callable[[Handler], Handler]:
        """A route for events."""
        return self.route(_is_event, *filters, name=name)

    def include(self, *routers: Router) -> Router:
        for router in routers:
            if router is self or router in self._children:
                raise ValueError(f"router {router.name} included twice")
            self._children.append(router)
        return self

    def number_claim(self, claim: NumberClaim) -> NumberClaim:
        """Register `claim`: asked, outside any conversation, what a bare number means before it opens the
        menu item with that number (a 1 answering an open invitation). Keep it cheap: it runs for every bare
        number."""
        self._claims.append(claim)
        return claim

    def claims(self) -> Iterator[NumberClaim]:
        yield from self._claims
        for child in self._children:
            yield from child.claims()

    def takes_numbers(self, conversation: str) -> bool:
        """Whether a conversation of this tree asks for a number."""
        return conversation in self._numbered or any(c.takes_numbers(conversation) for c in self._children)

    def is_optional(self, conversation: str) -> bool:
        """Whether a conversation of this tree asks a question a message meaning something else leaves."""
        return conversation in self._optional or any(c.is_optional(conversation) for c in self._children)

    def routes(self) -> Iterator[Route]:
        yield from self._routes
        for child in self._children:
            yield from child.routes()

    def resolve(self, msg: Incoming, ctx: Context) -> tuple[Route, dict[str, Any]] | None:
        for route in self.routes():
            data: dict[str, Any] = {}
            for check in route.filters:
                result = check(msg, ctx)
                if result is False:
                    break
                if isinstance(result, dict):
                    data.update(result)
            else:
                return route, data
        return None


def _is_message(msg: Incoming, ctx: Context) -> bool:
    return not msg.is_event


def _is_event(msg: Incoming, ctx: Context) -> bool:
    return msg.is_event


# --- declarative filters ------------------------------------------------------------------------


def Kind(*kinds: str) -> Filter:
    """Message kind: text, voice, image, location, video, ..."""
    wanted = frozenset(kinds)
    return lambda msg, ctx: msg.kind in wanted


def Event(*events: str) -> Filter:
    """Event name, case-insensitive: subscribe, unsubscribe, scan, click, ..."""
    wanted = frozenset(e.lower() for e in events)
    return lambda msg, ctx: msg.is_event and msg.event in wanted


def MenuKey(*keys: str) -> Filter:
    """A custom-menu CLICK with one of these EventKeys."""
    wanted = frozenset(keys)
    return lambda msg, ctx: msg.event == "click" and msg.event_key in wanted


def Regex(pattern: str | re.Pattern[str]) -> Filter:
    """The normalised text matches (re.fullmatch); the match is passed as ctx.match['regex']."""
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern

    def check(msg: Incoming, ctx: Context) -> FilterResult:
        found = compiled.fullmatch(msg.text) if msg.text else None
        return {"regex": found} if found else False

    return check


def Intent(*names: str) -> Filter:
    """The intent the dispatcher recognised (text, voice, a menu number or a menu click)."""
    wanted = frozenset(names)
    return lambda msg, ctx: ctx.intent in wanted


def Role(*roles: str) -> Filter:
    """The user has one of these roles (bot.domain.policy.Role values)."""
    wanted = frozenset(roles)
    return lambda msg, ctx: any(role.value in wanted for role in ctx.identity.roles)


def State(*names: str) -> Filter:
    """In one of these conversations; a name ending in '*' matches a prefix; no names: any."""
    exact = frozenset(n for n in names if not n.endswith("*"))
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))

    def check(msg: Incoming, ctx: Context) -> bool:
        name = ctx.conversation.name
        if name is None:
            return False
        return not names or name in exact or name.startswith(prefixes)

    return check


def NoState() -> Filter:
    return lambda msg, ctx: not ctx.conversation.active


def Number() -> Filter:
    """The message is a number ("1", "一", "１"); passed as ctx.match['number']."""
    return lambda msg, ctx: {"number": ctx.number} if ctx.number is not None else False
