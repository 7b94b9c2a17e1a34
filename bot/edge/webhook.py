"""The webhook's work, independent of aiohttp: verify, decrypt, parse, dedupe, answer within budget.

Past the reply budget the message is stored as an outbox row *before* `success` is returned (WeChat
does not retry after `success`), and the answer is delivered later from the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import cast

from bot.edge.dedupe import Outcome
from bot.edge.dispatcher import Answer, Dispatcher
from bot.edge.replies import Reply, TextReply
from bot.edge.writebehind import Interaction, LogEntry
from bot.services import Services
from bot.settings import MessageMode, Settings
from bot.wechat.window import interaction_kind
from bot.wechat.wire import (
    BadRequest,
    Cipher,
    Forbidden,
    Incoming,
    check_signature,
    extract_encrypt,
    message_xml,
    parse_incoming,
    render_reply,
)

log = logging.getLogger("partybot.webhook")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str
    content_type: str = "text/plain"


SUCCESS = Response(200, "success")


def openid_hash(openid: str) -> str:
    return hashlib.sha256(openid.encode()).hexdigest()[:12]


OVERRUN = object()  # what a request's waiter holds when the reply budget ended first


class Budget:
    """The reply budget of every message in flight, with one timer for all of them rather than one each
    (a message's deadline is its arrival plus the same budget, so deadlines come in about the order the
    messages do; one that is a few milliseconds out of order waits that long for the one before it): when
    the earliest deadline passes, every waiter whose deadline has passed too gets OVERRUN."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[float, asyncio.Future[object]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, deadline: float, waiter: asyncio.Future[object]) -> None:
        waiting = self._waiting
        while waiting and waiting[0][1].done():  # answered: forget them as the line moves on
            waiting.popleft()
        waiting.append((deadline, waiter))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now, waiting = loop.time(), self._waiting
        while waiting and (waiting[0][1].done() or waiting[0][0] <= now):
            _, waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(OVERRUN)
        if waiting:
            self._timer = loop.call_at(waiting[0][0], self._expire)


class Envelope(Enum):
    """How the message came: plaintext, or encrypted with the current or the previous AES key."""

    PLAIN = "plain"
    CURRENT_KEY = "current"
    PREVIOUS_KEY = "previous"


class Webhook:
    def __init__(self, settings: Settings, dispatcher: Dispatcher, services: Services) -> None:
        self.settings, self.dispatcher, self.services = settings, dispatcher, services
        self.cipher = (
            Cipher(settings.wechat_appid, settings.wechat_aes_key, settings.wechat_aes_key_previous)
            if settings.wechat_aes_key
            else None
        )
        self._normalize = dispatcher.nlp.normalize
        self._tasks: set[asyncio.Task[None] | asyncio.Task[Reply | None]] = set()
        self._budget = Budget()
        self.accepting = True

    # --- GET: the URL verification handshake ----------------------------------------------------

    def verify(self, query: Mapping[str, str]) -> Response:
        try:
            check_signature(
                self.settings.wechat_token,
                query,
                self.services.clock.time(),
                self.settings.signature_max_age_s,
            )
        except Forbidden as exc:
            log.warning("verification refused: %s", exc)
            return Response(403, "forbidden")
        echostr = query.get("echostr")
        if echostr is None:
            return Response(400, "echostr missing")
        if query.get("encrypt_type") == "aes" and self.cipher is not None and "msg_signature" in query:
            # Safe-mode verification (some consoles send an encrypted echostr).
            try:
                check_signature(
                    self.settings.wechat_token,
                    query,
                    self.services.clock.time(),
                    self.settings.signature_max_age_s,
                    encrypt=echostr,
                )
                return Response(200, self.cipher.decrypt(echostr))
            except (Forbidden, BadRequest):
                return Response(403, "forbidden")
        return Response(200, echostr)

    # --- POST: a message or event ---------------------------------------------------------------

    def check(self, query: Mapping[str, str]) -> None:
        """Signature and freshness, before the body is read."""
        check_signature(
            self.settings.wechat_token, query, self.services.clock.time(), self.settings.signature_max_age_s
        )

    def open(self, query: Mapping[str, str], body: bytes) -> tuple[Incoming, Envelope]:
        """Decrypt (safe/compatible mode) and parse."""
        encrypted = query.get("encrypt_type") == "aes"
        if encrypted:
            if self.cipher is None:
                raise BadRequest("encrypted message, but PARTYBOT_WECHAT_AES_KEY is not set")
            encrypt = extract_encrypt(body)
            check_signature(
                self.settings.wechat_token,
                query,
                self.services.clock.time(),
                self.settings.signature_max_age_s,
                encrypt=encrypt,
            )
            xml, previous = self.cipher.open(encrypt)
            return parse_incoming(
                xml, self._normalize
            ), Envelope.PREVIOUS_KEY if previous else Envelope.CURRENT_KEY
        if self.settings.message_mode is MessageMode.SAFE:
            raise Forbidden("plaintext message refused: the account is in safe mode")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("body is not UTF-8") from exc
        return parse_incoming(text, self._normalize), Envelope.PLAIN

    async def receive(
        self, query: Mapping[str, str], msg: Incoming, envelope: Envelope, started: float
    ) -> Response:
        """Answer one parsed message within the reply budget (started: loop time of arrival)."""
        loop = asyncio.get_running_loop()
        deadline = started + self.settings.reply_budget_s
        key = msg.dedupe_key
        services = self.services
        claim = await services.dedupe.claim(key)
        if not claim.owner:
            services.metrics.dedupe_hits.inc()
            outcome = await claim.wait(deadline - loop.time())
            return self.render(outcome.reply if outcome else None, msg, query, envelope)

        services.write_behind.record(
            Interaction(msg.openid, interaction_kind(msg.kind, msg.event), services.clock.now())
        )
        # The handler runs in a task of its own, so that past the budget it goes on while `success` is
        # returned; the request waits for whichever comes first, its answer or the budget's end.
        waiter: asyncio.Future[object] = loop.create_future()
        task = loop.create_task(self._answer(msg, waiter))
        self._track(task)
        self._budget.watch(deadline, waiter)
        result = await waiter
        if result is not OVERRUN:
            reply = cast(Reply | None, result)
            await claim.resolve(Outcome(reply))
            return self.render(reply, msg, query, envelope)

        services.metrics.budget_overruns.inc()
        await services.late_replies.hold(key, msg.openid, {k: v for k, v in msg.fields.items()})
        await claim.resolve(Outcome(None))
        self._track(asyncio.create_task(self._finish_late(key, task)))
        return SUCCESS

    async def _answer(self, msg: Incoming, waiter: asyncio.Future[object]) -> Reply | None:
        """_process, telling the waiting request as soon as the answer is there (unless the budget ended)."""
        try:
            reply = await self._process(msg)
        except asyncio.CancelledError:
            if not waiter.done():
                waiter.cancel()
            raise
        except BaseException as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            raise
        if not waiter.done():
            waiter.set_result(reply)
        return reply

    async def _finish_late(self, key: str, task: asyncio.Task[Reply | None]) -> None:
        reply = await task
        await self.services.late_replies.answer(key, reply)

    async def _process(self, msg: Incoming) -> Reply | None:
        started = time.perf_counter()
        try:
            answer = await self.dispatcher.dispatch(msg)
        except Exception:
            log.exception("dispatch failed for %s", msg.dedupe_key)
            answer = Answer(TextReply(self.dispatcher.content.text("handler_error")), "error", msg.text)
        duration_ms = int((time.perf_counter() - started) * 1000)
        late = duration_ms / 1000 > self.settings.reply_budget_s
        services = self.services
        services.metrics.reply_route(answer.route).inc()
        if log.isEnabledFor(logging.INFO):
            log.info(
                "message handled",
                extra={
                    "dedupe_key": msg.dedupe_key,
                    "openid_hash": openid_hash(msg.openid),
                    "route": answer.route,
                    "duration_ms": duration_ms,
                    "kind": msg.kind,
                    "late": late,
                },
            )
        if not answer.forget_user:
            services.write_behind.log(
                LogEntry(
                    dedupe_key=msg.dedupe_key,
                    openid=msg.openid,
                    kind=msg.kind,
                    event=msg.event,
                    content=(msg.raw_text or msg.event_key or None),
                    route=answer.route,
                    duration_ms=duration_ms,
                    late=late,
                    received_at=services.clock.now(),
                )
            )
        return answer.reply

    def render(
        self, reply: Reply | None, msg: Incoming, query: Mapping[str, str], envelope: Envelope
    ) -> Response:
        if reply is None:
            return SUCCESS
        now = self.services.clock.time()
        xml = render_reply(reply, msg, now)
        if envelope is not Envelope.PLAIN:
            assert self.cipher is not None
            xml = self.cipher.encrypted_reply(
                self.settings.wechat_token,
                xml,
                str(int(now)),
                query.get("nonce", ""),
                previous=envelope is Envelope.PREVIOUS_KEY,
            )
        return Response(200, xml, "application/xml")

    async def recover_abandoned(self, older_than_s: float, owner: str) -> int:
        """Answer late messages whose process died before their handler finished: run them again from
        the stored message (their handler's transaction never committed, so this is the first answer)."""
        recovered = 0
        for fields in await self.services.late_replies.claim_abandoned(older_than_s, owner):
            try:
                msg = parse_incoming(message_xml(fields), self._normalize)
            except BadRequest:
                log.error("abandoned late message cannot be parsed again; left for an operator")
                continue
            reply = await self._process(msg)
            await self.services.late_replies.answer(msg.dedupe_key, reply)
            recovered += 1
        if recovered:
            log.warning("answered %d late messages abandoned by a stopped process", recovered)
        return recovered

    def _track(self, task: asyncio.Task[None] | asyncio.Task[Reply | None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_s: float) -> None:
        """Graceful shutdown: take no more messages, let the ones in flight finish (up to grace_s)."""
        self.accepting = False
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "shutdown: %d messages still running after %.1fs were cancelled; their "
                    "outbox rows stay awaiting-answer",
                    len(pending),
                    grace_s,
                )
                await asyncio.gather(*pending, return_exceptions=True)
