"""Personal information at rest (PIPL): phones encrypted, binding secrets kept only as HMACs.

One key from settings (PARTYBOT_DATA_KEY); a database dump alone reveals no phone number, no binding code
and no QR token. Phones are masked here, on the server, before anything displays them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken

MOBILE = re.compile(r"1[3-9]\d{9}")


def new_key() -> str:
    return Fernet.generate_key().decode()


def check_key(value: str) -> str:
    try:
        Fernet(value.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError("must be a key made by `partybot keygen` (44 characters, URL-safe base64)") from exc
    return value


def normalize_phone(raw: str) -> str | None:
    """An 11-digit mainland mobile number from what people type (spaces, dashes, +86), or None."""
    digits = re.sub(r"[\s\-()（）]", "", raw.strip())
    digits = digits.removeprefix("+86").removeprefix("0086")
    return digits if MOBILE.fullmatch(digits) else None


def mask_phone(phone: str | None, missing: str = "") -> str:
    """138****1234; an empty field shows as `missing` (the caller's wording from content/)."""
    if not phone:
        return missing
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


class Vault:
    def __init__(self, key: str) -> None:
        raw = base64.urlsafe_b64decode(key.encode())
        self._fernet = Fernet(key.encode())
        # A separate key for HMACs, derived so that one setting serves both.
        self._mac_key = hashlib.sha256(b"partybot-mac:" + raw).digest()

    def encrypt_phone(self, phone: str | None) -> str | None:
        return self._fernet.encrypt(phone.encode()).decode() if phone else None

    def decrypt_phone(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None  # encrypted with another key: shown as 未登记 rather than failing the reply

    def mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._mac_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def phone_tail_mac(self, phone: str | None) -> str | None:
        return self.mac("tail", phone[-4:]) if phone else None
