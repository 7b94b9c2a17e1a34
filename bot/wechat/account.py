"""What each account kind may call (WECHAT.md, Account kinds): checked before any request is made, and by
the chat surface to say what the account can do (e.g. a preview on an account without push)."""

from __future__ import annotations

from enum import StrEnum

from bot.settings import AccountKind


class Capability(StrEnum):
    CUSTOMER_SERVICE = "customer_service"
    TEMPLATE = "template"
    SUBSCRIPTION_NOTICE = "subscription_notice"
    MASS_SEND = "mass_send"
    MEDIA = "media"
    QRCODE = "qrcode"
    MENU = "menu"


ALLOWED: dict[AccountKind, frozenset[Capability]] = {
    AccountKind.SERVICE: frozenset(Capability),
    # Parametric QR codes and template messages are verified service-account features.
    AccountKind.SUBSCRIPTION: frozenset(
        {
            Capability.CUSTOMER_SERVICE,
            Capability.SUBSCRIPTION_NOTICE,
            Capability.MASS_SEND,
            Capability.MEDIA,
            Capability.MENU,
        }
    ),
    # Passive replies only: no customer-service API, no templates, no API mass send.
    AccountKind.UNVERIFIED: frozenset({Capability.MEDIA}),
}


def allowed(kind: AccountKind, capability: Capability) -> bool:
    return capability in ALLOWED[kind]
