"""From one parsed message to one answer: lock, load, normalise, understand, route, handle, persist."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from bot.content import Content
from bot.context import Context, Identity
from bot.nlp import NLP
from bot.replies import Reply, TextReply
from bot.router import Router
from bot.services import Services
from bot.settings import Settings
from bot.wechat import Incoming

log = logging.getLogger(__name__)


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

    def normalize(self, msg: Incoming) -> Incoming:
        if msg.raw_text is None:
            return msg
        return dataclasses.replace(msg, text=self.nlp.normalize(msg.raw_text))

    def understand(self, msg: Incoming, ctx: Context) -> None:
        """Set ctx.number and ctx.intent: a menu click, a menu number, or words."""
        if msg.event == "click" and msg.event_key:
            ctx.intent = self.content.menu_keys.get(msg.event_key)
            return
        if not msg.text:
            return
        ctx.number = self.nlp.number(msg.text)
        if ctx.number is not None:
            if ctx.number == 0:
                # 0 always returns to the menu, and leaves any conversation.
                ctx.intent = "cancel" if ctx.conversation.active else "help"
            elif not ctx.conversation.active:
                items = self.content.menu(ctx.role)
                if 1 <= ctx.number <= len(items):
                    ctx.intent = items[ctx.number - 1].intent
            return
        ctx.intent = self.nlp.intent(msg.text)

    async def dispatch(self, msg: Incoming) -> Answer:
        services = self.services
        async with services.locks.hold(msg.openid):
            now = services.clock.now()
            async with services.db.read() as session:
                conversation = await services.conversations.load(session, msg.openid, now)
            msg = self.normalize(msg)
            ctx = Context(
                identity=Identity(openid=msg.openid),
                conversation=conversation,
                content=self.content,
                nlp=self.nlp,
                db=services.db,
                clock=services.clock,
                settings=self.settings,
                services=services,
                dedupe_key=msg.dedupe_key,
            )
            self.understand(msg, ctx)
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
            return Answer(reply, route.name, msg.text, ctx.forget_user)
