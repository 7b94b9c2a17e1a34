"""Voice for elderly members: espeak-ng (pinyin) → AMR-NB clips that decode back, each ≤ 55 s and ≤ 2 MB."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from bot.voice.speech import (
    MAX_CLIP_BYTES,
    AmrEncoder,
    EspeakTTS,
    VoiceMaker,
    amr_duration,
    sentences,
    spoken_form,
    to_pinyin,
)
from tests.conftest import require

NOTICE = (
    "各位党员同志：本周六上午9:30在社区党群服务中心开展垃圾分类志愿服务，请有空的同志参加。"
    "活动分为三个环节：先学习垃圾分类的新规定，再到1号楼、2号楼和3号楼的投放点值守，最后交流体会。"
    "请大家穿方便活动的衣服，自带水杯。年纪大、行动不便的同志，可以在家中收看活动视频，也算参加。"
    "2026年11月的党费请在25日前交纳，离退休党员可以请联系人代交。"
    "如有疑问，请联系第一网格党支部书记林晓梅，或回复本消息。谢谢大家的支持！"
) * 3


def tools() -> None:
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    require("ffmpeg", shutil.which("ffmpeg") is not None, "apt-get install ffmpeg libavcodec-extra")


async def decode(clip: bytes) -> bytes:
    """What a phone would do with the clip: ffmpeg must read it as AMR and produce audio."""
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "amr",
        "-i",
        "pipe:0",
        "-f",
        "wav",
        "pipe:1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(clip)
    assert process.returncode == 0, err.decode()
    return out


def test_numbers_dates_and_times_are_read_out() -> None:
    assert spoken_form("上午9:30在3号楼，2026年11月") == "上午九点三十分在三号楼，二零二六年十一月"
    pinyin = to_pinyin("王秀兰同志，您好。")
    assert pinyin.startswith("wang2 xiu4 lan2 tong2 zhi4") and "ni2n" not in pinyin


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("2026年12月25日上午9:00", "二零二六年十二月二十五日上午九点"),
        ("9:30", "九点三十分"),
        ("14:05", "十四点零五分"),
        ("下午2:30，晚上2点，第2点", "下午两点三十分，晚上两点，第二点"),
        ("9点05分", "九点零五分"),
        ("10:00-11:30", "十点到十一点三十分"),
        ("2026-12-25", "二零二六年十二月二十五日"),
        ("2026/12/25", "二零二六年十二月二十五日"),
        ("1998年入党", "一九九八年入党"),
        ("15.50元", "十五点五元"),
        ("15.00元", "十五元"),
        ("1,000元", "一千元"),
        ("请拨打13812345678", "请拨打一三八一二三四五六七八"),
        ("电话010-12345678", "电话零一零，一二三四五六七八"),
        ("热线12345", "热线一二三四五"),
        ("3-5人", "三到五人"),
        ("3.5", "三点五"),
    ],
)
def test_dates_times_amounts_and_phone_numbers_are_read_as_people_say_them(written: str, spoken: str) -> None:
    assert spoken_form(written) == spoken


def test_sentences_split_at_sentence_ends() -> None:
    assert sentences("第一句。第二句！第三句？最后") == ["第一句。", "第二句！", "第三句？", "最后"]


async def test_a_long_notice_becomes_valid_amr_clips_of_at_most_55_seconds() -> None:
    tools()
    maker = VoiceMaker(EspeakTTS(), AmrEncoder())
    assert await maker.status() is None
    require(
        "ffmpeg's AMR-NB encoder", await AmrEncoder().has_amr_encoder(), "apt-get install libavcodec-extra"
    )
    clips = await maker.clips(NOTICE)
    assert len(clips) >= 2  # this notice runs well past a minute
    assert "".join(c.text for c in clips) == "".join(sentences(NOTICE))
    for clip in clips:
        assert 0 < clip.seconds <= 55 and len(clip.data) <= MAX_CLIP_BYTES
        assert clip.seconds == amr_duration(clip.data)
        wav = await decode(clip.data)
        # 8 kHz, 16-bit mono: the decoded length agrees with the frames counted.
        assert abs((len(wav) - 44) / 16000 - clip.seconds) < 0.1


async def test_a_sentence_longer_than_a_clip_is_split_and_the_allowance_caps_the_clips() -> None:
    tools()
    maker = VoiceMaker(EspeakTTS(), AmrEncoder(), max_clip_s=4)
    long_sentence = (
        "请各位同志在本周六上午到社区党群服务中心参加活动，带好水杯，穿方便活动的衣服，注意安全，按时到场"
    )
    clips = await maker.clips(long_sentence)
    assert len(clips) >= 2 and all(c.seconds <= 4 for c in clips)
    assert "".join(c.text for c in clips) == long_sentence
    assert len(await maker.clips(NOTICE, limit=2)) == 2


async def test_missing_tools_degrade_to_text() -> None:
    class Missing(EspeakTTS):
        def available(self) -> bool:
            return False

    status = await VoiceMaker(Missing(), AmrEncoder()).status()
    assert status is not None and "espeak-ng is not installed" in status


def test_amr_duration_refuses_other_data() -> None:
    with pytest.raises(ValueError):
        amr_duration(b"RIFF....WAVE")
    assert amr_duration(b"#!AMR\n" + bytes([0x3C]) + b"\x00" * 31) == 0.02
