"""Tencent Cloud speech for bot.voice.speech: TextToVoice (TTS, API version 2019-08-23) speaks notices and
SentenceRecognition (一句话识别, ASR, 2019-06-14) understands voice messages.

Calls are API 3.0 JSON POSTs signed with TC3-HMAC-SHA256 ("签名方法 v3"): a canonical request (method, URI
"/", empty query, the signed headers in lower case, the payload's SHA-256) is hashed into a string to sign
with the timestamp and the credential scope `<UTC date>/<service>/tc3_request`, and signed with a key
derived from the secret by HMAC-SHA256 over the date, the service and "tc3_request". No SDK: hashlib and
hmac here, aiohttp for the calls.

TextToVoice takes at most 150 Chinese characters a call: longer text goes in several calls, cut at sentence
ends, and the WAV answers are joined into one WAV.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import json
import logging
import uuid
import wave
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from bot.clock import Clock, SystemClock
from bot.settings import ENV_PREFIX, Settings
from bot.voice.speech import ASRBackend, EspeakTTS, TTSBackend, VoiceUnavailable, sentences, spoken_form

log = logging.getLogger(__name__)

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = ("content-type", "host", "x-tc-action")
TTS_VERSION = "2019-08-23"
ASR_VERSION = "2019-06-14"
MAX_TTS_CHARS = 150  # per TextToVoice call; a full-width punctuation mark counts as one character
_CLAUSE_MARKS = "，,、：:；;"
# WeChat voice messages: AMR-NB is 8 kHz (the telephone model), WeChat's Speex is 16 kHz.
_ASR_ENGINES = {"amr": "8k_zh", "speex": "16k_zh"}


# --- TC3-HMAC-SHA256 ----------------------------------------------------------------------------


def canonical_request(
    headers: Mapping[str, str], payload: bytes, signed: Sequence[str] = SIGNED_HEADERS, method: str = "POST"
) -> str:
    """Step 1: the request as signed; URI "/" and no query string (API 3.0 JSON POSTs)."""
    lower = {name.lower(): value for name, value in headers.items()}
    names = sorted(name.lower() for name in signed)
    canonical_headers = "".join(f"{name}:{lower[name].strip().lower()}\n" for name in names)
    hashed_payload = hashlib.sha256(payload).hexdigest()
    return "\n".join([method, "/", "", canonical_headers, ";".join(names), hashed_payload])


def credential_scope(timestamp: int, service: str) -> str:
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d}/{service}/tc3_request"


def string_to_sign(timestamp: int, service: str, canonical: str) -> str:
    """Step 2."""
    hashed = hashlib.sha256(canonical.encode()).hexdigest()
    return "\n".join([ALGORITHM, str(timestamp), credential_scope(timestamp, service), hashed])


def signature(secret_key: str, timestamp: int, service: str, to_sign: str) -> str:
    """Step 3: the signing key is derived from the secret through the date, the service and "tc3_request"."""
    key = ("TC3" + secret_key).encode()
    for part in credential_scope(timestamp, service).split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    payload: bytes,
    signed: Sequence[str] = SIGNED_HEADERS,
) -> str:
    """Step 4: the Authorization header."""
    to_sign = string_to_sign(timestamp, service, canonical_request(headers, payload, signed))
    return (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope(timestamp, service)}, "
        f"SignedHeaders={';'.join(sorted(name.lower() for name in signed))}, "
        f"Signature={signature(secret_key, timestamp, service, to_sign)}"
    )


# --- the API ------------------------------------------------------------------------------------


class TencentError(Exception):
    """An API error (Response.Error) or a failed call (code "Network" / "BadResponse")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class TencentCloud:
    """Signed Tencent Cloud API 3.0 calls, on the aiohttp session given or on one of its own (see close()).
    `api_base` (e.g. http://127.0.0.1:8123, for tests) replaces https://<service>.tencentcloudapi.com."""

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        region: str = "ap-shanghai",
        http: aiohttp.ClientSession | None = None,
        api_base: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.secret_id, self.secret_key, self.region = secret_id, secret_key, region
        self.api_base = api_base
        self.clock = clock or SystemClock()
        self._http, self._owns_http = http, http is None

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def call(
        self, service: str, version: str, action: str, params: Mapping[str, Any], timeout_s: float = 15.0
    ) -> dict[str, Any]:
        """The `Response` object of `action`; raises TencentError."""
        url = URL(self.api_base or f"https://{service}.tencentcloudapi.com").with_path("/")
        payload = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self.clock.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": url.raw_authority,
            "X-TC-Action": action,
            "X-TC-Version": version,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        headers["Authorization"] = authorization(
            self.secret_id, self.secret_key, service, timestamp, headers, payload
        )
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            async with self._http.post(
                url, data=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TencentError("Network", f"{action} failed: {exc!r}") from exc
        response = body.get("Response") if isinstance(body, dict) else None
        if not isinstance(response, dict):
            raise TencentError("BadResponse", f"{action} answered without a Response object")
        error = response.get("Error")
        if isinstance(error, dict):
            raise TencentError(str(error.get("Code", "Unknown")), str(error.get("Message", "")))
        return response


# --- text to speech -----------------------------------------------------------------------------


def text_chunks(text: str, limit: int = MAX_TTS_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` characters, one TextToVoice call each: whole sentences packed
    together; a longer sentence is cut after its last clause mark that fits (else at `limit`)."""
    pieces: list[str] = []
    for sentence in sentences(text):
        while len(sentence) > limit:
            cut = max((i + 1 for i, ch in enumerate(sentence[:limit]) if ch in _CLAUSE_MARKS), default=limit)
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        pieces.append(sentence)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + len(piece) <= limit:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks


def join_wavs(parts: Sequence[bytes]) -> bytes:
    """One WAV holding the parts' audio in order; they must share channels, sample width and rate."""
    shape: tuple[int, int, int] | None = None
    frames: list[bytes] = []
    try:
        for part in parts:
            with wave.open(io.BytesIO(part), "rb") as reader:
                this = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
                if shape is not None and this != shape:
                    raise VoiceUnavailable(f"WAV parts differ: {this} after {shape}")
                shape = this
                frames.append(reader.readframes(reader.getnframes()))
    except (wave.Error, EOFError) as exc:
        raise VoiceUnavailable(f"not WAV audio: {exc}") from exc
    if shape is None:
        raise VoiceUnavailable("no audio to join")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(shape[0])
        writer.setsampwidth(shape[1])
        writer.setframerate(shape[2])
        writer.writeframes(b"".join(frames))
    return out.getvalue()


class TencentTTS:
    """TextToVoice. The default voice is 101001 (智瑜, a Mandarin female voice); speed -1 is 0.8×, easier
    for elderly listeners to follow."""

    name = "tencent-tts"

    def __init__(
        self,
        cloud: TencentCloud,
        voice_type: int = 101001,
        speed: float = -1,
        sample_rate: int = 16000,
        max_chars: int = MAX_TTS_CHARS,
        parallel: int = 4,
    ) -> None:
        self.cloud, self.voice_type, self.speed = cloud, voice_type, speed
        self.sample_rate, self.max_chars = sample_rate, max_chars
        self._gate = asyncio.Semaphore(parallel)  # Tencent's default limit is 20 requests a second

    def available(self) -> bool:
        return bool(self.cloud.secret_id and self.cloud.secret_key)

    async def close(self) -> None:
        await self.cloud.close()

    async def synthesize(self, text: str) -> bytes:
        chunks = text_chunks(spoken_form(text), self.max_chars)
        if not chunks:
            raise VoiceUnavailable("nothing to say")
        results = await asyncio.gather(*(self._speak(chunk) for chunk in chunks), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return join_wavs([result for result in results if isinstance(result, bytes)])

    async def _speak(self, chunk: str) -> bytes:
        params = {
            "Text": chunk,
            "SessionId": str(uuid.uuid4()),
            "VoiceType": self.voice_type,
            "Speed": self.speed,
            "Codec": "wav",
            "SampleRate": self.sample_rate,
        }
        async with self._gate:
            try:
                response = await self.cloud.call("tts", TTS_VERSION, "TextToVoice", params)
            except TencentError as exc:
                raise VoiceUnavailable(f"Tencent TTS {exc.code}: {exc.message}") from exc
        audio = response.get("Audio")
        if not isinstance(audio, str) or not audio:
            raise VoiceUnavailable("Tencent TTS answered no audio")
        try:
            return base64.b64decode(audio, validate=True)
        except binascii.Error as exc:
            raise VoiceUnavailable("Tencent TTS answered audio that is not base64") from exc


class NoTTS:
    """PARTYBOT_TTS_BACKEND=none: no speech; notices go out as text."""

    name = f"text-to-speech ({ENV_PREFIX}TTS_BACKEND=none)"

    def available(self) -> bool:
        return False

    async def synthesize(self, text: str) -> bytes:
        raise VoiceUnavailable("text-to-speech is turned off")


# --- speech recognition -------------------------------------------------------------------------


class TencentASR:
    """SentenceRecognition (一句话识别) of WeChat voice messages (≤ 60 s). Whatever goes wrong is logged and
    answers None: a voice message that is not understood gets the menu."""

    name = "tencent-asr"

    def __init__(self, cloud: TencentCloud, timeout_s: float = 10.0) -> None:
        self.cloud, self.timeout_s = cloud, timeout_s

    async def close(self) -> None:
        await self.cloud.close()

    async def recognize(self, audio: bytes, audio_format: str) -> str | None:
        voice_format = audio_format.strip().lower()
        engine = _ASR_ENGINES.get(voice_format)
        if engine is None:
            log.warning("Tencent ASR: voice format %r is not handled", audio_format)
            return None
        params = {
            "EngSerViceType": engine,
            "SourceType": 1,
            "VoiceFormat": voice_format,
            "Data": base64.b64encode(audio).decode("ascii"),
            "DataLen": len(audio),
        }
        try:
            response = await self.cloud.call(
                "asr", ASR_VERSION, "SentenceRecognition", params, timeout_s=self.timeout_s
            )
        except TencentError as exc:
            log.warning("Tencent ASR failed: %s", exc)
            return None
        result = response.get("Result")
        return (result.strip() if isinstance(result, str) else "") or None


# --- from settings ------------------------------------------------------------------------------


def _cloud(settings: Settings, http: aiohttp.ClientSession | None) -> TencentCloud:
    if not (settings.tencent_secret_id and settings.tencent_secret_key):
        raise ValueError(f"{ENV_PREFIX}TENCENT_SECRET_ID and {ENV_PREFIX}TENCENT_SECRET_KEY are needed")
    return TencentCloud(
        settings.tencent_secret_id,
        settings.tencent_secret_key,
        region=settings.tencent_region,
        http=http,
        api_base=settings.tencent_api_base,
    )


def make_tts(settings: Settings, http: aiohttp.ClientSession | None = None) -> TTSBackend:
    """The speech backend PARTYBOT_TTS_BACKEND names. Pass the app's session (else a Tencent backend makes
    its own: call its close())."""
    if settings.tts_backend == "tencent":
        return TencentTTS(_cloud(settings, http), voice_type=settings.tencent_tts_voice)
    if settings.tts_backend == "none":
        return NoTTS()
    return EspeakTTS()


def make_asr(settings: Settings, http: aiohttp.ClientSession | None = None) -> ASRBackend | None:
    """The recognition backend PARTYBOT_ASR_BACKEND names, or None (voice messages without WeChat's own
    recognition get the menu)."""
    if settings.asr_backend == "tencent":
        return TencentASR(_cloud(settings, http))
    return None
