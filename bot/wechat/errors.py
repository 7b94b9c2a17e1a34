"""The WeChat API's error codes as typed exceptions (WECHAT.md): which are retryable, which close a
channel."""

from __future__ import annotations


class WeChatError(Exception):
    """WeChat answered an error code (errcode != 0), or could not be reached."""

    errcode: int = 0
    retryable = False

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class Busy(WeChatError):
    """-1: system busy. Retry with backoff."""

    retryable = True


class InvalidCredential(WeChatError):
    """40001: bad AppSecret or a stale access_token."""


class TokenExpired(WeChatError):
    """42001: access_token expired."""


class NotFollowing(WeChatError):
    """43004: the recipient does not follow the account."""


class DailyQuotaReached(WeChatError):
    """45009: the API's daily quota is used up; back off until tomorrow."""

    retryable = True


class OutsideReplyWindow(WeChatError):
    """45015: outside the 48 h customer-service window. Not retryable: choose another channel."""


class ReplyCountExceeded(WeChatError):
    """45047: customer-service message count exceeded. Not retryable: choose another channel."""


class InvalidMessageType(WeChatError):
    """45162: the account may not send this message type (some reject voice): send text instead."""


class Unreachable(WeChatError):
    """A timeout, connection error, 5xx or a body that is not JSON. Retryable."""

    retryable = True


class NotAllowedForAccount(WeChatError):
    """The account kind (PARTYBOT_WECHAT_ACCOUNT) cannot call this API; no request was made."""


ERRORS: dict[int, type[WeChatError]] = {
    -1: Busy,
    40001: InvalidCredential,
    42001: TokenExpired,
    43004: NotFollowing,
    45009: DailyQuotaReached,
    45015: OutsideReplyWindow,
    45047: ReplyCountExceeded,
    45162: InvalidMessageType,
}


def error_for(errcode: int, errmsg: str = "") -> WeChatError:
    cls = ERRORS.get(errcode, WeChatError)
    return cls(errcode, errmsg)
