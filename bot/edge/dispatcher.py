"""From one parsed message to one answer: lock, load, normalise, understand, route, handle, persist."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from bot.content import Content
from bot.edge.context import Context
from bot.edge.nlp import NLP
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Router
from bot.outbound.waiting import Waiting, mark_sent_with_reply, waiting_for
from bot.services import Services
from bot.settings import Settings
from bot.wechat.account import Capability, allowed
from bot.wechat.wire import Incoming

log = logging.getLogger(__name__)

# A passive text reply holds about 2048 bytes (WECHAT.md, Sizes).
PASSIVE_TEXT_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Answer:
    reply: Reply | None
    route: str
    text: str  # the normalised text routed on (for the log)
    forget_user: bool = False


class Dispatcher:
    def __init__(
        self, root: Router, settings: Settings, content: Content, nlp: NLP, services: Services
    ) -> None:
        self.root, self.settings, self.content, self.nlp, self.services = (
            root,
            settings,
            content,
            nlp,
            services,
        )

    def understand(self, msg: Incoming, ctx: Context) -> None:
        """Set ctx.number and ctx.intent: a menu click, a menu number, or words."""
        if msg.event == "click" and msg.event_key:
            ctx.intent = self.content.menu_keys.get(msg.event_key)
            return
        if not msg.text:
            return
        ctx.number = self.nlp.number(msg.text, normalized=True)
        if ctx.number is not None:
            conversation = ctx.conversation
            if ctx.number == 0:
                # 0 always returns to the menu, and leaves any conversation.
                ctx.intent = "cancel" if conversation.active else "help"
                return
            if conversation.active and self.root.takes_numbers(str(conversation.name)):
                return  # a choice or a step the conversation asked for
            item = self.content.item_at(ctx.role, ctx.number, ctx.traits)
            if item is not None:
                # A menu number opens that item, also from a conversation that asked for no number.
                conversation.clear()
                ctx.intent = item.intent
            return
        ctx.intent = self.nlp.intent(msg.text)
        conversation = ctx.conversation
        if (
            ctx.intent not in (None, "cancel")
            and conversation.active
            and self.root.is_optional(str(conversation.name))
        ):
            conversation.clear()  # an optional question ignored: the message means what it says

    async def dispatch(self, msg: Incoming) -> Answer:
        services = self.services
        async with services.locks.hold(msg.openid):
            now = services.clock.now()
            conversation = await services.conversations.load(msg.openid, now)
            waiting: list[Waiting] = []
            voice: list[int] = []
            if self._replyable(msg) and services.waiting.may_have(msg.openid):
                async with services.db.read() as session:
                    waiting, voice = await waiting_for(session, msg.openid)
            ctx = Context(
                identity=await services.identities.lookup(msg.openid),
                conversation=conversation,
                content=self.content,
                nlp=self.nlp,
                db=services.db,
                clock=services.clock,
                settings=self.settings,
                services=services,
                dedupe_key=msg.dedupe_key,
            )
            if msg.kind == "voice" and not msg.text and msg.media_id:
                msg, ctx.voice_audio = await self._recognise(msg)
            self.understand(msg, ctx)
            if ctx.number is not None and not ctx.conversation.active:
                for claim in self.root.claims():
                    if (claimed := await claim(msg, ctx)) is not None:
                        ctx.intent = claimed
                        break
            found = self.root.resolve(msg, ctx)
            if found is None:
                return Answer(None, "unrouted", msg.text)
            route, data = found
            ctx.match, ctx.route = data, route.name
            try:
                reply = await route.handler(msg, ctx)
            except Exception:
                log.exception("handler %s failed for %s", route.name, msg.dedupe_key)
                services.metrics.handler_errors.labels(route.name).inc()
                return Answer(TextReply(self.content.text("handler_error")), route.name, msg.text)
            if ctx.conversation.changed:
                await services.conversations.save(msg.openid, ctx.conversation, services.clock.now())
            if (waiting or voice) and not ctx.forget_user:
                reply = await self._with_waiting(msg.openid, reply, waiting, voice)
            return Answer(reply, route.name, msg.text, ctx.forget_user)

    async def _recognise(self, msg: Incoming) -> tuple[Incoming, bytes | None]:
        """A voice message WeChat did not recognise (its recognition is being retired): download the
        audio (kept 3 days by WeChat) and ask the configured recogniser."""
        services = self.services
        if services.asr is None:
            return msg, None
        audio = await services.download_voice(msg.media_id, msg.dedupe_key)
        if audio is None:
            return msg, None
        words = await services.asr.recognize(audio, msg.fields.get("Format") or "amr")
        if not words:
            return msg, audio
        return replace(msg, text=self.nlp.normalize(words), raw_text=words), audio

    @staticmethod
    def _replyable(msg: Incoming) -> bool:
        """Whether the user sees a passive reply to this (not to VIEW, LOCATION reports, job events)."""
        return not msg.is_event or msg.event in ("click", "subscribe", "scan")

    async def _with_waiting(
        self, openid: str, reply: Reply | None, waiting: list[Waiting], voice: list[int]
    ) -> Reply | None:
        """Put what could not be pushed (no customer-service API, the window closed) in front of this reply:
        late answers, then notices, as many as fit in one passive text reply (~2048 bytes, WECHAT.md
        Sizes). A voice-mode member's clips follow as customer-service messages (this message opened the
        window)."""
        if reply is not None and not isinstance(reply, TextReply):
            waiting = []  # a voice or image reply cannot carry text; the texts wait for the next one
        tail = reply.text if isinstance(reply, TextReply) else ""
        voice_follows = allowed(self.settings.wechat_account, Capability.CUSTOMER_SERVICE)
        late = [w for w in waiting if w.kind == "late_reply"]
        notes = [w for w in waiting if w.kind != "late_reply"]
        chosen: list[Waiting] = []

        def render(items: list[Waiting]) -> str:
            sections = []
            answers = [w.text for w in items if w.kind == "late_reply"]
            if answers:
                sections.append("\n".join([self.content.text("waiting_prefix"), *answers]))
            news = [w.text for w in items if w.kind != "late_reply"]
            if news:
                head = self.content.text("notices_waiting_prefix", count=len(news))
                numbered = news if len(news) == 1 else [f"{i}. {t}" for i, t in enumerate(news, 1)]
                if not voice_follows and any(w.voice for w in items):
                    # No customer-service API: the audio is a passive reply the member asks for.
                    numbered.append(self.content.text("voice_listen_hint"))
                sections.append("\n".join([head, *numbered]))
            if tail:
                sections.append(tail)
            return "\n\n".join(sections)

        for item in [*late, *notes]:
            if len(render([*chosen, item]).encode()) > PASSIVE_TEXT_LIMIT:
                break
            chosen.append(item)
        # Without customer-service messages, waiting voice stays for `听语音`: nothing to write for it.
        voice = voice if voice_follows else []
        if not chosen and not voice:
            return reply
        await mark_sent_with_reply(
            self.services.db,
            [w.id for w in chosen],
            voice,
            self.services.clock.now(),
            voice_follows=voice_follows,
        )
        if len(chosen) == len(waiting):
            self.services.waiting.discard(openid)
        if not chosen:
            return reply
        return TextReply(render(chosen))
