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
_CLOCK = re.compile(r"(\d{1,2})[:：](\d{2})")


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
    """Numbers, dates and times as read aloud: 9:30 → 九点三十分, 2026年 → 二零二六年, 12人 → 十二人."""
    text = _CLOCK.sub(lambda m: f"{int(m.group(1))}点{m.group(2)}分", text)
    return str(cn2an.transform(text, "an2cn"))


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
