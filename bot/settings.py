"""Settings from PARTYBOT_* environment variables (and an optional .env), validated at start-up."""

from __future__ import annotations

import base64
import binascii
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PARTYBOT_"


class AccountKind(StrEnum):
    """What the account may call (WECHAT.md, Account kinds)."""

    SERVICE = "service"
    SUBSCRIPTION = "subscription"
    UNVERIFIED = "unverified"


class MessageMode(StrEnum):
    """The account's 消息加解密方式: plain (明文), compatible (兼容) or safe (安全)."""

    PLAIN = "plain"
    COMPATIBLE = "compatible"
    SAFE = "safe"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _check_aes_key(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) != 43:
        raise ValueError("must be the 43-character EncodingAESKey from the account's settings")
    try:
        key = base64.b64decode(value + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("is not valid base64 (EncodingAESKey uses A-Z, a-z, 0-9)") from exc
    if len(key) != 32:
        raise ValueError("does not decode to a 32-byte AES key")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = Field(default_factory=lambda: f"sqlite+aiosqlite:///{Path.cwd() / 'partybot.db'}")
    redis_url: str | None = None
    redis_prefix: str = "partybot:"

    wechat_token: str = Field(min_length=3, max_length=32)
    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_aes_key: str | None = None
    wechat_aes_key_previous: str | None = None
    wechat_mode: MessageMode | None = None
    wechat_account: AccountKind = AccountKind.SERVICE
    wechat_api_base: str = "https://api.weixin.qq.com"

    # Encrypts phones and keys binding codes (bot.domain.privacy); `partybot keygen` makes one.
    data_key: str | None = None

    # The secretaries' web console under /console (bot/console). CONSOLE_SECURE_COOKIES: mark its cookie
    # Secure; set it when the console is reached over HTTPS through a TLS-terminating proxy (a request that
    # arrives over TLS itself always gets a Secure cookie).
    console: bool = True
    console_secure_cookies: bool = False
    # Count the dashboard's figures of every unit for this month in the background when the login page is
    # first shown in a process (a street's twelve months take seconds; the secretary logs in meanwhile).
    console_warm: bool = True
    # The web phone simulator under /sim (bot/sim): only with the fake WeChat, i.e. when this is on AND the
    # WeChat API base is a loopback address (`partybot demo` turns it on); never on a real deployment.
    sim: bool = False

    # Voice (bot.voice.cloud.make_tts / make_asr): speech for notices, and recognition of voice messages.
    tts_backend: str = "espeak"  # espeak | tencent | none
    asr_backend: str = "none"  # none | tencent
    tencent_secret_id: str | None = None
    tencent_secret_key: str | None = None
    tencent_region: str = "ap-shanghai"
    tencent_tts_voice: int = 101001  # 智瑜, a Mandarin female voice
    tencent_api_base: str | None = None  # instead of https://<service>.tencentcloudapi.com (tests)

    @field_validator("tts_backend", "asr_backend")
    @classmethod
    def _backend_name(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("espeak", "tencent", "none"):
            raise ValueError(f"must be espeak, tencent or none, not {value!r}")
        return value

    @model_validator(mode="after")
    def _voice_backends(self) -> Settings:
        if self.asr_backend == "espeak":
            raise ValueError(f"{ENV_PREFIX}ASR_BACKEND must be none or tencent (espeak only speaks)")
        for name, backend in (("TTS_BACKEND", self.tts_backend), ("ASR_BACKEND", self.asr_backend)):
            if backend == "tencent" and not (self.tencent_secret_id and self.tencent_secret_key):
                raise ValueError(
                    f"{ENV_PREFIX}{name}=tencent needs {ENV_PREFIX}TENCENT_SECRET_ID and "
                    f"{ENV_PREFIX}TENCENT_SECRET_KEY"
                )
        return self

    # Outbound delivery (DESIGN.md, Outbound delivery). Rates are per API, shared by every worker through
    # Redis when it is configured.
    rate_customer_service_per_s: float = Field(default=200.0, gt=0)
    rate_template_per_s: float = Field(default=50.0, gt=0)
    rate_mass_per_min: int = Field(default=60, ge=1, le=60)
    delivery_concurrency: int = Field(default=20, ge=1, le=200)
    delivery_batch: int = Field(default=200, ge=1, le=5000)
    # A row `sending` longer than this belonged to a worker that died during its call: in doubt.
    delivery_lease_s: float = Field(default=60.0, ge=1)
    # A template (service account) or subscription notice (订阅通知) configured in the account's back office:
    # its id and the field names that carry the title, the time and the sender.
    notice_template_id: str | None = None
    notice_template_fields: str = "thing1,time2,thing3"
    notice_subscription_id: str | None = None
    # Mass sends reach each user at most this many times a month on a service account (WeChat: 4).
    mass_per_user_month: int = Field(default=4, ge=0, le=4)
    # Of those, this many are kept for announcements of the community (社区党委) or above: one from a branch
    # or a group (its audience a unit below the community) is mass-sent only to members with more left.
    mass_reserve_community: int = Field(default=1, ge=0, le=4)
    # A voice message nobody understood is kept this many days (only with the member's consent) so their
    # secretary can listen to it; 0: never kept.
    voice_retention_days: int = Field(default=7, ge=0, le=30)
    # An elderly or unbound member not reached within this many hours: their helper is asked to relay.
    relay_after_h: float = Field(default=24.0, ge=0)
    # 流动党员: a report-in's precise coordinates (kept only with the member's second, separate consent) are
    # deleted this many days after it (housekeeping); without that consent only province/city/district.
    mobile_precise_location_days: int = Field(default=30, ge=1, le=180)
    # 主题党日 of a unit when neither it nor any unit above has a rule in the org file. The 20th: a fixed
    # date elderly members remember, in every month (no short-month clamp), and a week before the 28th's
    # check of held events, so a holiday move, 补学 and the record still fit in the month.
    theme_day_default_rule: str = "每月20日"
    # When a theme day starts unless its secretary sets a time, and the sign-in window around the start.
    theme_day_start: time = time(9, 0)
    sign_in_before_min: int = Field(default=30, ge=0, le=240)
    sign_in_after_min: int = Field(default=180, ge=30, le=24 * 60)
    # Where records' photos (组织生活纪实) are kept, downloaded from WeChat within its 3 days.
    data_dir: Path = Path("data")
    # 学习园地: the community's own folder of materials (Markdown with front matter, beside the ones shipped
    # in content/study), picked up without a restart: looked at at most every STUDY_SCAN_S seconds, on use.
    study_dir: Path | None = None
    study_scan_s: float = Field(default=5.0, ge=0, le=3600)
    # New material goes out weekly (job study_push): the weekday (mon … sun) and the local time, at most
    # STUDY_PUSH_MAX materials a week.
    study_push_weekday: str = "mon"
    study_push_time: time = time(19, 0)
    study_push_max: int = Field(default=3, ge=1, le=20)
    # 党费 (bot.domain.dues): how an amount is rounded to the fen (half_up, half_even, down, up); the first
    # month dues are counted from (YYYY-MM; unset: the month of the first roster import), never before it;
    # the branch's official payment channel (text or a link) shown with reminders.
    dues_rounding: str = "half_up"
    dues_start_month: str | None = None
    dues_payment_channel: str = ""
    # 居民诉求 (bot.domain.requests): a ticket is to be taken within TAKE_HOURS (URGENT: danger to life or
    # property) and solved within SOLVE_DAYS (COMPLEX: marked 复杂); WORKING_DAYS counts working time only
    # (statutory holidays and 调休 from chinesecalendar; urgent tickets always count clock hours). The job's
    # reminders and escalations of non-urgent tickets wait for QUIET_START–QUIET_END (local time). GAS_PHONE:
    # the gas company's emergency number, shown with 119/110/120. Photos are kept PHOTO_RETENTION_DAYS.
    request_take_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    request_take_hours_urgent: float = Field(default=2.0, gt=0, le=48)
    request_solve_days: float = Field(default=7.0, gt=0, le=90)
    request_solve_days_complex: float = Field(default=15.0, gt=0, le=180)
    request_working_days: bool = False
    request_quiet_start: time = time(8, 0)
    request_quiet_end: time = time(20, 0)
    request_gas_phone: str = ""
    request_photo_retention_days: int = Field(default=180, ge=1, le=3650)

    # The demo's time travel only (bot.clock.TravelClock): the server, its fake WeChat and `partybot jobs run
    # --now` read the moment from this file, so moving it moves them all. Unset (production): real time.
    clock_file: Path | None = None

    signature_max_age_s: int = Field(default=300, ge=1, le=86400)
    timezone: str = "Asia/Shanghai"
    reply_budget_s: float = Field(default=4.0, gt=0, le=4.8)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    dedupe_ttl_s: int = Field(default=600, ge=300)
    inbound_retention_days: int = Field(default=30, ge=1)
    waiting_reply_max_days: int = Field(default=7, ge=1)
    conversation_ttl_s: int = Field(default=1800, ge=60)
    # How often a process looks for identity changes made elsewhere (a CLI import, another server): a change
    # is seen within about this long. 0: before every message (tests).
    identity_poll_s: float = Field(default=1.0, ge=0, le=60)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    write_behind_interval_s: float = Field(default=0.2, gt=0)
    # `partybot serve` on uvloop (the `speed` extras): auto (when installed), 1 (required), 0 (asyncio's).
    uvloop: str = "auto"
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)

    @field_validator("uvloop")
    @classmethod
    def _uvloop(cls, value: str) -> str:
        choice = {"auto": "auto", "1": "1", "on": "1", "true": "1", "0": "0", "off": "0", "false": "0"}
        if value.strip().lower() not in choice:
            raise ValueError(f"must be auto, 1 or 0, not {value!r}")
        return choice[value.strip().lower()]

    @field_validator("wechat_aes_key", "wechat_aes_key_previous")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        return _check_aes_key(value)

    @field_validator("data_key")
    @classmethod
    def _data_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        from bot.domain.privacy import check_key

        return check_key(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            value = "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:/// path or a postgresql:// URL")
        return value

    @field_validator("study_push_weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        value = value.strip().lower()[:3]
        if value not in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            raise ValueError("must be one of mon, tue, wed, thu, fri, sat, sun")
        return value

    @field_validator("theme_day_default_rule")
    @classmethod
    def _theme_day_rule(cls, value: str) -> str:
        from bot.domain.importing.values import parse_theme_day

        if parse_theme_day(value) is None:
            raise ValueError(f"{value!r} is not a rule such as 每月20日 or 每月最后一个工作日")
        return value.strip()

    @field_validator("dues_rounding")
    @classmethod
    def _dues_rounding(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("half_up", "half_even", "down", "up"):
            raise ValueError("must be one of half_up, half_even, down, up")
        return value

    @field_validator("dues_start_month")
    @classmethod
    def _dues_start_month(cls, value: str | None) -> str | None:
        import re

        if value is None or not value.strip():
            return None
        found = re.fullmatch(r"(\d{4})-(\d{1,2})", value.strip())
        if found is None or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"{value!r} is not a month such as 2026-01")
        return f"{int(found.group(1)):04d}-{int(found.group(2)):02d}"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _mode_needs_key(self) -> Settings:
        if self.wechat_mode in (MessageMode.SAFE, MessageMode.COMPATIBLE) and not self.wechat_aes_key:
            raise ValueError(
                f"{ENV_PREFIX}WECHAT_MODE={self.wechat_mode.value} needs {ENV_PREFIX}WECHAT_AES_KEY"
            )
        if self.wechat_aes_key and not self.wechat_appid:
            raise ValueError(f"{ENV_PREFIX}WECHAT_APPID is required when {ENV_PREFIX}WECHAT_AES_KEY is set")
        return self

    @property
    def message_mode(self) -> MessageMode:
        """Safe mode when an AES key is set and no mode was named; plain otherwise."""
        if self.wechat_mode is not None:
            return self.wechat_mode
        return MessageMode.SAFE if self.wechat_aes_key else MessageMode.PLAIN

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class SettingsError(Exception):
    """Start-up configuration is wrong; the message names the variable."""


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part != "__root__"]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if loc:
            lines.append(f"{ENV_PREFIX}{loc[0].upper()}: {msg}")
        else:
            lines.append(msg)
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise SettingsError naming the wrong variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from exc
