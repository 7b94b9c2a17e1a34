"""Voice for elderly members: text → speech → AMR-NB clips WeChat accepts (WECHAT.md: voice ≤ 60 s and
≤ 2 MB, AMR or MP3; partybot keeps clips ≤ 55 s), and an ASR protocol for voice messages without WeChat's
(retiring) recognition.

The default backend is espeak-ng with its `cmn-latn-pinyin` voice, fed tone-numbered pinyin (pypinyin):
its plain `cmn` voice reads tone digits in English. Numbers, dates and times are spelled out first (cn2an).
ffmpeg with libavcodec-extra's OpenCORE encoder makes AMR-NB 12.2 kbit/s. Missing tools: `status()` says so
at start-up and voice degrades to text (no clips).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from typing import Protocol

import cn2an
from pypinyin import Style, lazy_pinyin

MAX_CLIP_S = 55.0  # under WeChat's 60 s, with room for the encoder's rounding
MAX_CLIP_BYTES = 2 * 1024 * 1024
AMR_MAGIC = b"#!AMR\n"
# Bytes per AMR-NB frame (including its one-byte header) by frame type; each frame is 20 ms.
_AMR_FRAME_BYTES = {0: 13, 1: 14, 2: 16, 3: 18, 4: 20, 5: 21, 6: 27, 7: 32, 8: 6, 15: 1}

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])")
# Spoken-form rules (spoken_form applies them, then cn2an spells out the digits left).
_DIGIT_NAMES = "零一二三四五六七八九"
_GROUPED = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?!\d)")  # 1,000 (cn2an reads the comma as a break)
_ISO_DATE = re.compile(r"(?<![\d.])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d|\.\d)")
# Phone numbers: 010-12345678, 400-123-4567, 138-1234-5678; plain runs are caught by _LONG_DIGITS.
_PHONE = re.compile(r"(?<![\d.-])(?:0\d{2,3}-\d{7,8}|[48]00-\d{3}-\d{4}|1\d{2}-\d{4}-\d{4})(?![\d.-])")
# Seven or more digits (not an amount), or a run with a leading zero (0571, 007): read digit by digit.
_LONG_DIGITS = re.compile(r"(?<![\d.,])(?:\d{7,}|0\d{2,})(?![\d.,]|\s*[元块万亿人户])")
_HOTLINE = re.compile(r"(电话|热线|拨打|致电|手机|号码)([：:]?\s*)(\d{3,6})(?![\d.])")  # 拨打12345
_RANGE = re.compile(r"(?<![\d.])(\d+(?:[:：]\d{2})?)\s*[-~～—–]+\s*(\d+(?:[:：]\d{2})?)(?![\d.])")
_CLOCK = re.compile(r"(?<![\d.])(\d{1,2})[:：](\d{2})(?![\d.])")
_TWO_OCLOCK = re.compile(r"(?<![\d.第])2(?=点)")  # 2点 → 两点 (but 第2点 → 第二点)
_WRITTEN_MINUTES = re.compile(r"点0(\d)分")  # 9点05分 → 九点零五分
_MONEY = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?=\s*[元块])")  # 15.50元 → 十五点五元


class TTSBackend(Protocol):
    name: str

    def available(self) -> bool: ...

    async def synthesize(self, text: str) -> bytes:
        """Speech for `text` as WAV (any rate; the encoder resamples)."""
        ...


class ASRBackend(Protocol):
    name: str

    async def recognize(self, audio: bytes, audio_format: str) -> str | None:
        """The words in a voice message (amr/speex), or None when not understood."""
        ...


class VoiceUnavailable(Exception):
    """No speech could be made (a tool is missing or failed); send text only."""


def spoken_form(text: str) -> str:
    """Numbers, dates and times as read aloud: 9:30 → 九点三十分, 14:05 → 十四点零五分, 2026-12-25 →
    二零二六年十二月二十五日, 15.50元 → 十五点五元, 13812345678 → 一三八一二三四五六七八, 12人 → 十二人.
    Years (2026年) and whatever else is left go to cn2an."""
    text = _ISO_DATE.sub(_iso_date, text)
    text = _PHONE.sub(lambda m: "，".join(_digits(group) for group in m.group().split("-")), text)
    text = _LONG_DIGITS.sub(lambda m: _digits(m.group()), text)
    text = _HOTLINE.sub(lambda m: m.group(1) + m.group(2) + _digits(m.group(3)), text)
    text = _GROUPED.sub(lambda m: m.group().replace(",", ""), text)
    text = _RANGE.sub(_range, text)
    text = _CLOCK.sub(_clock, text)
    text = _TWO_OCLOCK.sub("两", text)
    text = _WRITTEN_MINUTES.sub(r"点零\1分", text)
    text = _MONEY.sub(_money, text)
    return str(cn2an.transform(text, "an2cn"))


def _digits(number: str) -> str:
    return "".join(_DIGIT_NAMES[int(d)] for d in number)


def _cardinal(number: str | int) -> str:
    return str(cn2an.an2cn(str(int(number))))


def _iso_date(match: re.Match[str]) -> str:
    year, _, month, day = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return match.group()
    return f"{_digits(year)}年{_cardinal(month)}月{_cardinal(day)}日"


def _range(match: re.Match[str]) -> str:
    """3-5人 → 3到5人 and 10:00-11:30 → 10:00到11:30; not 3-201 (a building and room, say): left to cn2an."""
    low, high = match.groups()
    times = _CLOCK.fullmatch(low) and _CLOCK.fullmatch(high)
    numbers = low.isdigit() and high.isdigit() and int(low) < int(high) and len(high) <= len(low) + 1
    return f"{low}到{high}" if times or numbers else match.group()


def _money(match: re.Match[str]) -> str:
    """15.50元 is said 十五点五元, 15.00元 十五元: the trailing zeros of an amount are not read."""
    yuan, fraction = match.group(1), match.group(2).rstrip("0")
    return f"{yuan}.{fraction}" if fraction else yuan


def _clock(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 24 or minute > 59:
        return match.group()
    spoken = ("两" if hour == 2 else _cardinal(hour)) + "点"
    if minute:
        spoken += ("零" if minute < 10 else "") + _cardinal(minute) + "分"
    return spoken


def to_pinyin(text: str) -> str:
    """Tone-numbered pinyin for espeak-ng's cmn-latn-pinyin voice; punctuation stays for pauses."""
    syllables = lazy_pinyin(spoken_form(text), style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(s.strip() for s in syllables if s.strip())


def amr_duration(data: bytes) -> float:
    """Seconds of AMR-NB audio, counted frame by frame (20 ms each)."""
    if not data.startswith(AMR_MAGIC):
        raise ValueError("not AMR-NB data")
    position, frames = len(AMR_MAGIC), 0
    while position < len(data):
        frame_type = (data[position] >> 3) & 0x0F
        size = _AMR_FRAME_BYTES.get(frame_type)
        if size is None:
            raise ValueError(f"bad AMR frame type {frame_type} at byte {position}")
        position += size
        frames += 1
    return frames * 0.02


async def _run(*argv: str, stdin: bytes | None = None) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    if process.returncode != 0:
        raise VoiceUnavailable(f"{argv[0]} failed: {err.decode(errors='replace')[-300:]}")
    return out


class EspeakTTS:
    name = "espeak-ng"

    def __init__(self, speed: int = 150, voice: str = "cmn-latn-pinyin") -> None:
        self.speed, self.voice = speed, voice

    def available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    async def synthesize(self, text: str) -> bytes:
        return await _run("espeak-ng", "-v", self.voice, "-s", str(self.speed), "--stdout", to_pinyin(text))


class AmrEncoder:
    """ffmpeg → AMR-NB 12.2k, 8 kHz mono."""

    def available(self) -> bool:
        return shutil.which("ffmpeg") is not None

    async def has_amr_encoder(self) -> bool:
        if not self.available():
            return False
        encoders = await _run("ffmpeg", "-hide_banner", "-encoders")
        return b"libopencore_amrnb" in encoders

    async def encode(self, wav: bytes) -> bytes:
        return await _run(
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "wav",
            "-i",
            "pipe:0",
            "-ar",
            "8000",
            "-ac",
            "1",
            "-c:a",
            "libopencore_amrnb",
            "-b:a",
            "12.2k",
            "-f",
            "amr",
            "pipe:1",
            stdin=wav,
        )


@dataclass(frozen=True, slots=True)
class Clip:
    data: bytes
    seconds: float
    text: str


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


class VoiceMaker:
    """Turns a notice into AMR clips of at most MAX_CLIP_S each, split at sentence ends (then clauses,
    then plain length when one sentence is too long), never more clips than asked for."""

    def __init__(self, tts: TTSBackend, encoder: AmrEncoder, max_clip_s: float = MAX_CLIP_S) -> None:
        self.tts, self.encoder, self.max_clip_s = tts, encoder, max_clip_s

    async def status(self) -> str | None:
        """None when voice works; otherwise what is missing (logged at start-up: voice degrades to text)."""
        if not self.tts.available():
            return f"{self.tts.name} is not installed: notices go out as text only"
        # Only whether ffmpeg exists: asking it for its encoders costs a process start. An ffmpeg without
        # the AMR-NB encoder shows up as VoiceUnavailable on the first encode, which degrades the same way.
        if not self.encoder.available():
            return (
                "ffmpeg with the AMR-NB encoder (libavcodec-extra) is not installed: notices go out as text"
            )
        return None

    async def _clip(self, text: str) -> Clip:
        data = await self.encoder.encode(await self.tts.synthesize(text))
        return Clip(data, amr_duration(data), text)

    async def clips(self, text: str, limit: int | None = None) -> list[Clip]:
        """Clips for `text`, in order; at most `limit` (the customer-service allowance left).

        The whole text is spoken once to learn this voice's seconds per syllable; sentences are packed by
        that estimate with a margin; every clip is then measured after encoding and split if over."""
        whole = await self._clip(text)
        if whole.seconds <= self.max_clip_s and len(whole.data) <= MAX_CLIP_BYTES:
            return [whole] if limit is None or limit > 0 else []
        per_syllable = whole.seconds / max(syllables(text), 1)
        budget = self.max_clip_s * 0.85 / per_syllable  # syllables per clip, with room for error
        pieces: list[str] = []
        for sentence in sentences(text):
            pieces.extend(split_long(sentence, budget))
        groups: list[str] = []
        for piece in pieces:
            if groups and syllables(groups[-1]) + syllables(piece) <= budget:
                groups[-1] += piece
            else:
                groups.append(piece)
        made: list[Clip] = []
        while groups and (limit is None or len(made) < limit):
            group = groups.pop(0)
            clip = await self._clip(group)
            if clip.seconds <= self.max_clip_s and len(clip.data) <= MAX_CLIP_BYTES:
                made.append(clip)
            else:
                half = max(len(group) // 2, 1)
                groups[:0] = [group[:half], group[half:]]
        return made


def syllables(text: str) -> int:
    """Spoken syllables (after numbers are spelled out): the unit a clip's length is estimated in."""
    return sum(1 for s in lazy_pinyin(spoken_form(text)) if s.strip() and s.strip().isalpha())


def split_long(sentence: str, budget: float) -> list[str]:
    """A sentence whose estimate exceeds a clip, split at clauses, else in halves, until each fits."""
    if syllables(sentence) <= budget or len(sentence) < 2:
        return [sentence]
    parts = [p for p in _CLAUSE_END.split(sentence) if p] if _CLAUSE_END.search(sentence) else []
    if len(parts) < 2:
        half = len(sentence) // 2
        parts = [sentence[:half], sentence[half:]]
    return [piece for part in parts for piece in split_long(part, budget)]
