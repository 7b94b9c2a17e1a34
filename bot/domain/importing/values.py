"""Cell values: the allowed choices (statuses, member kinds, posts, unit kinds ...), lists, unit paths,
national ID numbers (detected only, to refuse them), dates, amounts, and the 主题党日 rule."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from bot.domain.importing.reader import clean
from models import UnitKind


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _choices(canonical: Iterable[str], **aliases: str) -> dict[str, str]:
    table = {value: value for value in canonical}
    table.update(aliases)
    return table


STATUSES = _choices(("正式", "预备"), 正式党员="正式", 预备党员="预备")
MEMBER_KINDS = _choices(
    ("在职", "离退休", "流动", "两新", "学生", "无业", "农民"),
    下岗="无业",
    退休="离退休",
    离休="离退休",
    在职党员="在职",
    流动党员="流动",
    离退休党员="离退休",
)
POSTS = _choices(
    ("书记", "副书记", "委员", "组长"),
    支部书记="书记",
    党委书记="书记",
    总支书记="书记",
    支部副书记="副书记",
    支委="委员",
    支部委员="委员",
    党小组长="组长",
    党小组组长="组长",
    小组长="组长",
)
GENDERS = _choices(("男", "女"), 男性="男", 女性="女")
VOICE_MODES: dict[str, bool] = {"是": True, "否": False, "开": True, "关": False}
ROLES = _choices(("网格员",), 专职网格员="网格员")
UNIT_KINDS = _choices(
    (k.value for k in UnitKind), 社区党总支="社区党委", 党支部="网格党支部", 党小组="楼栋党小组"
)
KIND_RANK = {k.value: rank for rank, k in enumerate(UnitKind)}

_LIST_SPLIT = re.compile(r"[;；,，、\n]+")


def split_list(text: str) -> list[str]:
    """`1号楼;2号楼；3号楼` → ['1号楼', '2号楼', '3号楼'] (also ，、), without blanks or repeats."""
    items = [clean(item) for item in _LIST_SPLIT.split(text)]
    return list(dict.fromkeys(item for item in items if item))


def normalize_path(text: str) -> str | None:
    """A unit path with its levels trimmed (`／` accepted for `/`), or None when a level is empty."""
    text = text.replace("／", "/").strip().strip("/")
    parts = [part.strip() for part in text.split("/")]
    if not text or any(not part for part in parts):
        return None
    return "/".join(parts)


_ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def looks_like_id_number(text: str) -> bool:
    """True when text holds an 18-character resident ID number with a valid check digit (GB 11643)."""
    for found in _ID_NUMBER.findall(nfkc(text)):
        total = sum(int(d) * w for d, w in zip(found[:17], _ID_WEIGHTS, strict=True))
        if "10X98765432"[total % 11] == found[17].upper():
            return True
    return False


def date_parts(text: str) -> tuple[int, int, int | None] | None:
    """`1958-03`, `1958/3/1`, `1958.03.01`, `1958年3月1日`, `19580301` → (1958, 3, 1 or None)."""
    v = re.sub(r"\s+", "", nfkc(text))
    v = v.replace("年", "-").replace("月", "-").replace("日", "").replace("号", "")
    v = v.replace("/", "-").replace(".", "-").rstrip("-")
    m = re.fullmatch(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", v) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})?", v)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None


def parse_amount_fen(text: str) -> int:
    """Yuan (`4200`, `5,000.01`, `4200元`) → fen. Raises ValueError with the content key of the reason."""
    v = re.sub(r"[\s,元¥]", "", nfkc(text))
    try:
        amount = Decimal(v)
    except InvalidOperation as exc:
        raise ValueError("row.amount") from exc
    if not amount.is_finite():
        raise ValueError("row.amount")
    if amount < 0:
        raise ValueError("row.amount_negative")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError("row.amount_decimals")
    if amount > 1_000_000:
        raise ValueError("row.amount_too_large")
    return int(fen)


# --- 主题党日 rules -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeDayRule:
    """主题党日: the branch's fixed monthly day, parsed from its text (which is what is stored)."""

    kind: Literal["day", "nth_weekday", "last_weekday", "last_workday"]
    day: int | None = None  # 1–31 for "day"
    nth: int | None = None  # 1–4 for "nth_weekday"
    weekday: int | None = None  # 0 = Monday … 6 = Sunday


_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_WEEKDAYS.update({str(n): n - 1 for n in range(1, 8)})
_WEEK = r"(?:星期|周|礼拜)([一二三四五六日天七1-7])"


def _small_number(text: str) -> int | None:
    """`25`, `二十五`, `廿五`, `十`, `五` → int (1–39); None otherwise."""
    if re.fullmatch(r"[0-9]{1,2}", text):
        return int(text)
    text = text.replace("廿", "二十").replace("卅", "三十")
    m = re.fullmatch(r"([一二三四五六七八九])?(十)?([一二三四五六七八九])?", text)
    if not text or m is None:
        return None
    tens, ten, ones = m.groups()
    if ten:
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return _CN_DIGITS[tens] if tens and not ones else None


# A branch's setting, written after its rule in the org file (`每月1日（节假日不顺延）`): the day stays on a
# statutory holiday instead of moving to the next day that is not one.
KEEP_ON_HOLIDAY = ("节假日不顺延", "节假日照常", "不顺延")


def split_rule(text: str | None) -> tuple[str | None, bool]:
    """`每月1日（节假日不顺延）` → (`每月1日`, True): the branch's setting that keeps the day on a holiday."""
    if not text:
        return None, False
    keep = any(word in text for word in KEEP_ON_HOLIDAY)
    for word in KEEP_ON_HOLIDAY:
        text = text.replace(word, "")
    text = text.strip(" ()（）,，;；")
    return text or None, keep


def parse_theme_day(text: str) -> ThemeDayRule | None:
    """`每月25日`, `每月第一个星期五`, `每月最后一个星期五`, `每月最后一个工作日` → the rule, or None."""
    v = re.sub(r"\s+", "", nfkc(text))
    if re.fullmatch(r"每月最后一个?工作日", v):
        return ThemeDayRule("last_workday")
    if m := re.fullmatch(r"每月最后一个?" + _WEEK, v):
        return ThemeDayRule("last_weekday", weekday=_WEEKDAYS[m.group(1)])
    if m := re.fullmatch(r"每月第([1-4一二三四两])个?" + _WEEK, v):
        nth = _small_number(m.group(1)) if m.group(1) != "两" else 2
        return ThemeDayRule("nth_weekday", nth=nth, weekday=_WEEKDAYS[m.group(2)])
    if m := re.fullmatch(r"每月([0-9]{1,2}|[一二三四五六七八九十廿卅]{1,3})[日号]", v):
        day = _small_number(m.group(1))
        if day is not None and 1 <= day <= 31:
            return ThemeDayRule("day", day=day)
    return None
