"""Tencent Cloud speech against a local stand-in for Tencent's endpoints that checks every request's
TC3-HMAC-SHA256 signature with its own code (below), and the signing against Tencent's published example."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import math
import re
import shutil
import struct
import time
import uuid
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.settings import Settings, SettingsError, load_settings
from bot.voice.cloud import (
    MAX_TTS_CHARS,
    NoTTS,
    TencentASR,
    TencentCloud,
    TencentTTS,
    authorization,
    canonical_request,
    make_asr,
    make_tts,
    string_to_sign,
    text_chunks,
)
from bot.voice.speech import (
    AMR_MAGIC,
    AmrEncoder,
    EspeakTTS,
    VoiceMaker,
    VoiceUnavailable,
    sentences,
    spoken_form,
)
from tests.conftest import require

SECRET_ID = "AKIDpartybotTEST0000000000000000"
SECRET_KEY = "partybot-test-secret-key-000000"
RATE = 16000
SECONDS_PER_CHAR = 0.02
# action → (service in the credential scope, X-TC-Version)
ACTIONS = {"TextToVoice": ("tts", "2019-08-23"), "SentenceRecognition": ("asr", "2019-06-14")}

NOTICE = (
    "各位党员同志：本周六上午9:30在社区党群服务中心开展垃圾分类志愿服务，请有空的同志参加。"
    "活动分为三个环节：先学习垃圾分类的新规定，再到1号楼、2号楼和3号楼的投放点值守，最后交流体会。"
    "请大家穿方便活动的衣服，自带水杯。年纪大、行动不便的同志，可以在家中收看活动视频，也算参加。"
    "2026年11月的党费请在25日前交纳，离退休党员可以请联系人代交。"
    "如有疑问，请拨打13812345678联系第一网格党支部书记林晓梅，或回复本消息。谢谢大家的支持！"
) * 2


# --- an independent TC3 check (deliberately not bot.voice.cloud's code) -------------------------------


def tc3_signature(secret_key: str, date: str, service: str, to_sign: str) -> str:
    k_date = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode(), hashlib.sha256).digest()
    k_signing = hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(k_signing, to_sign.encode(), hashlib.sha256).hexdigest()


_AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def signature_problem(request: web.Request, body: bytes, secret_key: str) -> str | None:
    """What is wrong with the request's signature, recomputed from what arrived; None when it is right."""
    match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
    if match is None:
        return "malformed Authorization header"
    action = request.headers.get("X-TC-Action", "")
    if action not in ACTIONS:
        return f"unknown action {action!r}"
    service, version = ACTIONS[action]
    timestamp = int(request.headers.get("X-TC-Timestamp", "0"))
    signed = match["signed"].split(";")
    if request.method != "POST" or request.path != "/" or request.query_string:
        return "not a POST to /"
    if match["id"] != SECRET_ID:
        return "unknown SecretId"
    if abs(time.time() - timestamp) > 300:
        return "timestamp too far from now"
    if match["date"] != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d"):
        return "credential date is not the timestamp's UTC date"
    if match["service"] != service or request.headers.get("X-TC-Version") != version:
        return f"credential scope or version does not fit {action}"
    if not {"content-type", "host"} <= set(signed) or signed != sorted(signed):
        return "SignedHeaders must list content-type and host, sorted"
    if request.headers.get("Content-Type") != "application/json; charset=utf-8":
        return "not JSON"
    headers = "".join(f"{name}:{request.headers[name].strip().lower()}\n" for name in signed)
    canonical = f"POST\n/\n\n{headers}\n{match['signed']}\n{hashlib.sha256(body).hexdigest()}"
    scope = f"{match['date']}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = tc3_signature(secret_key, match["date"], service, to_sign)
    if not hmac.compare_digest(expected, match["signature"]):
        return "signature does not match"
    return None


# --- a stand-in for Tencent's endpoints ----------------------------------------------------------------


def tone(seconds: float, rate: int = RATE) -> bytes:
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
    frames = b"".join(struct.pack("<h", sample) for sample in samples)
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


@dataclass
class FakeTencent:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # frames of each WAV answered
    error: tuple[str, str] | None = None
    recognized: str = "我想交党费"

    @staticmethod
    def answer(**response: Any) -> web.Response:
        return web.json_response({"Response": {**response, "RequestId": str(uuid.uuid4())}})

    def fail(self, code: str, message: str) -> web.Response:
        return self.answer(Error={"Code": code, "Message": message})

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = signature_problem(request, body, SECRET_KEY)
        if problem is not None:
            self.refused.append(problem)
            return self.fail("AuthFailure.SignatureFailure", problem)
        action, params = request.headers["X-TC-Action"], json.loads(body)
        self.calls.append((action, params))
        if self.error is not None:
            return self.fail(*self.error)
        if action == "TextToVoice":
            text = params["Text"]
            if not 0 < len(text) <= MAX_TTS_CHARS:
                return self.fail("InvalidParameterValue.TextTooLong", f"{len(text)} characters")
            wav = tone(SECONDS_PER_CHAR * len(text), params["SampleRate"])
            self.frames.append(int(SECONDS_PER_CHAR * len(text) * params["SampleRate"]))
            return self.answer(Audio=base64.b64encode(wav).decode(), SessionId=params["SessionId"])
        audio = base64.b64decode(params["Data"], validate=True)
        if len(audio) != params["DataLen"]:
            return self.fail("InvalidParameter", "DataLen is not the audio's length")
        return self.answer(Result=self.recognized, AudioDuration=1200, WordSize=0, WordList=None)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.handle)
        return app


@dataclass
class Cloud:
    fake: FakeTencent
    base: str
    http: aiohttp.ClientSession

    def client(self, secret_key: str = SECRET_KEY) -> TencentCloud:
        return TencentCloud(SECRET_ID, secret_key, region="ap-shanghai", http=self.http, api_base=self.base)


@pytest.fixture
async def cloud(aiohttp_server: Callable[..., Awaitable[Any]]) -> AsyncIterator[Cloud]:
    fake = FakeTencent()
    server = await aiohttp_server(fake.app())
    async with aiohttp.ClientSession() as http:
        yield Cloud(fake, str(server.make_url("/")), http)


def read_wav(data: bytes) -> tuple[int, int, int, int]:
    with wave.open(io.BytesIO(data), "rb") as reader:
        return reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()


# --- signing -----------------------------------------------------------------------------------------

# Tencent's worked example ("签名方法 v3"): DescribeInstances on cvm at 1551113065 (2019-02-25 UTC), with the
# documentation's placeholder key, signing content-type and host (older text) or also x-tc-action (newer).
DOC_PAYLOAD = rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}'
DOC_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Host": "cvm.tencentcloudapi.com",
    "X-TC-Action": "DescribeInstances",
}
DOC_ID, DOC_KEY = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******"
DOC_TIME = 1551113065


def test_signing_matches_tencents_published_example() -> None:
    assert hashlib.sha256(DOC_PAYLOAD).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    newer = canonical_request(DOC_HEADERS, DOC_PAYLOAD)
    assert "x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n" in newer
    assert hashlib.sha256(newer.encode()).hexdigest() == (
        "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )
    older = canonical_request(DOC_HEADERS, DOC_PAYLOAD, signed=("content-type", "host"))
    to_sign = string_to_sign(DOC_TIME, "cvm", older)
    assert to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    published = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    signed = ("content-type", "host")
    assert authorization(DOC_ID, DOC_KEY, "cvm", DOC_TIME, DOC_HEADERS, DOC_PAYLOAD, signed) == (
        f"TC3-HMAC-SHA256 Credential={DOC_ID}/2019-02-25/cvm/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={published}"
    )
    # The stand-in's own check agrees with the published value too.
    assert tc3_signature(DOC_KEY, "2019-02-25", "cvm", to_sign) == published


async def test_a_wrong_secret_is_refused(cloud: Cloud) -> None:
    tts = TencentTTS(cloud.client(secret_key="not-the-secret"))
    with pytest.raises(VoiceUnavailable, match=r"AuthFailure\.SignatureFailure"):
        await tts.synthesize("您好。")
    assert cloud.fake.refused == ["signature does not match"] and cloud.fake.calls == []


# --- text to speech ----------------------------------------------------------------------------------


async def test_speech_is_one_wav_of_the_spoken_form_that_becomes_amr(cloud: Cloud) -> None:
    tts = TencentTTS(cloud.client())
    assert tts.available()
    text = "各位党员：2026年12月25日上午9:00在3号楼开会。"
    wav = await tts.synthesize(text)
    assert cloud.fake.refused == []
    [(action, params)] = cloud.fake.calls
    assert action == "TextToVoice"
    assert params["Text"] == spoken_form(text) == "各位党员：二零二六年十二月二十五日上午九点在三号楼开会。"
    assert params["VoiceType"] == 101001 and params["Speed"] == -1
    assert params["Codec"] == "wav" and params["SampleRate"] == 16000
    assert uuid.UUID(params["SessionId"])
    assert read_wav(wav) == (1, 2, RATE, cloud.fake.frames[0])

    require("ffmpeg", shutil.which("ffmpeg") is not None, "apt-get install ffmpeg libavcodec-extra")
    require(
        "ffmpeg's AMR-NB encoder", await AmrEncoder().has_amr_encoder(), "apt-get install libavcodec-extra"
    )
    [clip] = await VoiceMaker(tts, AmrEncoder()).clips(text)
    assert clip.data.startswith(AMR_MAGIC)
    assert abs(clip.seconds - cloud.fake.frames[0] / RATE) < 0.1


async def test_long_text_takes_several_calls_within_the_limit_and_comes_back_as_one_wav(cloud: Cloud) -> None:
    wav = await TencentTTS(cloud.client()).synthesize(NOTICE)
    texts = [params["Text"] for _, params in cloud.fake.calls]
    assert len(texts) >= 4 and all(0 < len(t) <= MAX_TTS_CHARS for t in texts)
    assert "".join(texts) == "".join(sentences(spoken_form(NOTICE)))  # every sentence, once, in order
    assert "一三八一二三四五六七八" in "".join(texts)
    assert read_wav(wav) == (1, 2, RATE, sum(cloud.fake.frames))


def test_text_is_cut_at_sentences_then_clauses_then_length() -> None:
    assert text_chunks("第一句。第二句！第三句", limit=8) == ["第一句。第二句！", "第三句"]
    assert text_chunks("甲乙丙丁，戊己庚辛壬癸", limit=8) == ["甲乙丙丁，", "戊己庚辛壬癸"]
    assert text_chunks("甲" * 20, limit=8) == ["甲" * 8, "甲" * 8, "甲" * 4]
    assert text_chunks("  \n ") == []


async def test_an_error_response_makes_voice_unavailable_with_its_code_and_message(cloud: Cloud) -> None:
    cloud.fake.error = ("UnsupportedOperation.AccountArrears", "账户欠费")
    with pytest.raises(VoiceUnavailable, match=r"UnsupportedOperation\.AccountArrears: 账户欠费"):
        await TencentTTS(cloud.client()).synthesize(NOTICE)


async def test_an_unreachable_endpoint_makes_voice_unavailable() -> None:
    async with aiohttp.ClientSession() as http:
        dead = TencentCloud(SECRET_ID, SECRET_KEY, http=http, api_base="http://127.0.0.1:9")
        with pytest.raises(VoiceUnavailable, match="Network"):
            await TencentTTS(dead).synthesize("您好。")


# --- speech recognition ------------------------------------------------------------------------------


async def test_recognition_returns_the_text(cloud: Cloud) -> None:
    asr = TencentASR(cloud.client())
    amr = AMR_MAGIC + bytes([0x3C]) + b"\x01" * 31
    assert await asr.recognize(amr, "amr") == "我想交党费"
    assert await asr.recognize(b"speex-bytes", "speex") == "我想交党费"
    (_, amr_params), (_, speex_params) = cloud.fake.calls
    assert amr_params["EngSerViceType"] == "8k_zh" and speex_params["EngSerViceType"] == "16k_zh"
    assert amr_params["VoiceFormat"] == "amr" and amr_params["SourceType"] == 1
    assert base64.b64decode(amr_params["Data"]) == amr and amr_params["DataLen"] == len(amr)


async def test_recognition_gives_none_when_nothing_was_understood(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    asr = TencentASR(cloud.client())
    cloud.fake.recognized = ""
    assert await asr.recognize(b"#!AMR\n", "amr") is None
    cloud.fake.error = ("FailedOperation.ErrorRecognize", "识别失败")
    with caplog.at_level(logging.WARNING, logger="bot.voice.cloud"):
        assert await asr.recognize(b"#!AMR\n", "amr") is None
        assert await asr.recognize(b"ID3", "mp3") is None  # not a WeChat voice format: not even asked
    assert "FailedOperation.ErrorRecognize" in caplog.text and "'mp3'" in caplog.text
    assert len(cloud.fake.calls) == 2
    assert await TencentASR(cloud.client(secret_key="wrong")).recognize(b"#!AMR\n", "amr") is None


# --- settings and factories --------------------------------------------------------------------------


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, wechat_token="partybot-token", **values)  # type: ignore[call-arg]


async def test_factories_follow_the_settings(cloud: Cloud) -> None:
    assert isinstance(make_tts(settings()), EspeakTTS) and make_asr(settings()) is None
    off = make_tts(settings(tts_backend="none"))
    assert isinstance(off, NoTTS) and not off.available()
    assert await VoiceMaker(off, AmrEncoder()).status() is not None  # voice degrades to text
    keys = {"tencent_secret_id": SECRET_ID, "tencent_secret_key": SECRET_KEY, "tencent_api_base": cloud.base}
    both = settings(tts_backend="Tencent", asr_backend="tencent", tencent_tts_voice=101002, **keys)
    tts, asr = make_tts(both, cloud.http), make_asr(both, cloud.http)
    assert isinstance(tts, TencentTTS) and isinstance(asr, TencentASR)
    assert read_wav(await tts.synthesize("您好。"))[2] == RATE
    assert await asr.recognize(b"#!AMR\n", "amr") == "我想交党费"
    assert cloud.fake.calls[0][1]["VoiceType"] == 101002

    own = TencentTTS(TencentCloud(SECRET_ID, SECRET_KEY, api_base=cloud.base))  # makes its own session
    assert read_wav(await own.synthesize("您好。"))[0] == 1
    await own.close()


def test_wrong_voice_settings_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="PARTYBOT_TTS_BACKEND: must be espeak, tencent or none"):
        load_settings(_env_file=None, wechat_token="partybot-token", tts_backend="azure")
    with pytest.raises(SettingsError, match="PARTYBOT_ASR_BACKEND must be none or tencent"):
        load_settings(_env_file=None, wechat_token="partybot-token", asr_backend="espeak")
    with pytest.raises(SettingsError, match="PARTYBOT_TTS_BACKEND=tencent needs PARTYBOT_TENCENT_SECRET_ID"):
        load_settings(_env_file=None, wechat_token="partybot-token", tts_backend="tencent")
    with pytest.raises(SettingsError, match="PARTYBOT_ASR_BACKEND=tencent needs"):
        load_settings(
            _env_file=None, wechat_token="partybot-token", asr_backend="tencent", tencent_secret_id="x"
        )
