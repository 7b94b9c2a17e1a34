"""What one message holds, and a notice too long for one cut into the messages (parts) that carry it."""

from __future__ import annotations

# What one notice holds: a text message carries about 2048 bytes (WECHAT.md, Sizes: a passive reply or a
# customer-service text), and a notice must leave room for what goes around it (您有N条新通知, 请转告…,
# the reply it comes with). About 500 Chinese characters, header included. A longer notice goes as several
# messages (parts), never as several mass sends; an announcement is at most MAX_PARTS of them.
NOTICE_PART_BYTES = 1500
MAX_PARTS = 3
# What MAX_PARTS messages surely hold, in characters, as a secretary is told (3 bytes each; parts end at
# sentence ends, so not quite every byte is used).
MAX_CHARS = MAX_PARTS * NOTICE_PART_BYTES // 3 * 9 // 10 // 100 * 100
SENTENCE_ENDS = frozenset("。！？；!?;\n")


def _sentences(text: str) -> list[str]:
    found, start = [], 0
    for i, char in enumerate(text):
        if char in SENTENCE_ENDS:
            found.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        found.append(text[start:])
    return found


def _prefix_within(text: str, limit: int) -> str:
    size = 0
    for i, char in enumerate(text):
        size += len(char.encode())
        if size > limit:
            return text[:i]
    return text


def split_text(text: str, limit: int = NOTICE_PART_BYTES) -> list[str]:
    """A notice's text as the messages that carry it: one when it fits, else parts cut at sentence ends
    (a sentence longer than a message is cut where it must), each at most `limit` bytes."""
    text = text.strip()
    if len(text.encode()) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for sentence in _sentences(text):
        while len(sentence.encode()) > limit:
            head = _prefix_within(sentence, limit)
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
            sentence = sentence[len(head) :]
        if current and len((current + sentence).encode()) > limit:
            parts.append(current)
            current = ""
        current += sentence
    if current:
        parts.append(current)
    return [part.strip() for part in parts if part.strip()]
