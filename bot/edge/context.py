"""What a handler gets besides the message: who the user is, their conversation, the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.content import Content
from bot.domain.policy import Identity
from bot.edge.conversation import Conversation
from bot.edge.nlp import NLP
from bot.settings import Settings
from models.db import Database

if TYPE_CHECKING:
    from bot.services import Services


@dataclass(slots=True)
class Context:
    identity: Identity
    conversation: Conversation
    content: Content
    nlp: NLP
    db: Database
    clock: Clock
    settings: Settings
    services: Services
    dedupe_key: str
    # Filled by the dispatcher before routing: the recognised intent and a menu number, if any.
    intent: str | None = None
    number: int | None = None
    # Data returned by the matching route's filters (a regex match, ...).
    match: dict[str, Any] = field(default_factory=dict)
    route: str = ""
    # A voice message's audio, when the dispatcher downloaded it for recognition.
    voice_audio: bytes | None = None
    # Set by a handler that erased the user's WeChat-side data: keep the message out of the log.
    forget_user: bool = False

    @property
    def openid(self) -> str:
        return self.identity.openid

    @property
    def role(self) -> str:
        return self.identity.role

    def text(self, key: str, **values: object) -> str:
        return self.content.text(key, **values)

    @property
    def traits(self) -> frozenset[str]:
        return self.identity.traits

    def menu(self) -> str:
        """The menu this person sees (their role's, less the items that do not apply to them)."""
        return self.content.render_menu(self.role, self.traits)

    def hint(self, name: str) -> str:
        """How this person reaches a menu item: its number in their menu, or the words for it."""
        return self.content.hint(name, self.role, self.traits)

    def enter(self, name: str, **data: Any) -> None:
        self.conversation.enter(name, self.clock.now(), self.settings.conversation_ttl_s, **data)
