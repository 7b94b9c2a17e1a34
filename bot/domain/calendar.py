"""The theme day's calendar: which day of a month a branch's 主题党日 rule names, statutory holidays
(法定节假日) that move it, the rule a unit inherits, the month's default topic, and the dates and times a
secretary types (`12月20日下午3点半`).

Pure functions over their arguments; the only I/O is reading content/ (holidays.yaml, theme_days/*.md).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import chinese_calendar
import cn2an
import frontmatter
import yaml

from bot.content import ContentError, default_content_dir
from bot.domain.identity import Unit, branch_of
from bot.domain.importing.values import ThemeDayRule, parse_theme_day

__all__ = [
    "Holidays",
    "ThemeDay",
    "ThemeDayMaterial",
    "ThemeDayRule",
    "effective_rule",
    "parse_date",
    "parse_theme_day",
    "parse_time_of_day",
    "parse_when",
    "theme_day_date",
    "theme_day_material",
    "theme_day_unit",
]

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)
# The longest break (春节) is 9 days; a longer run of holidays means holidays.yaml is wrong.
MAX_MOVE_DAYS = 31


# --- statutory holidays ------------------------------------------------------------------------------


class _Day(NamedTuple):
    kind: Literal["holiday", "workday", "ordinary"]  # workday: an adjusted working day (调休上班)
    name: str | None  # the holiday's Chinese name (for a workday: the holiday it makes up for)


class Holidays:
    """Statutory holidays from the `chinesecalendar` package, overridden day by day by content/holidays.yaml.

    A holiday is a day off of a statutory break (weekend days inside the break included: 2026-10-03 is
    National Day); an adjusted working day (调休上班, 2026-10-10) is a workday even on a weekend. For a year
    the library has no data for, no day counts as a holiday except those holidays.yaml lists, and a warning
    is logged once per year per instance: build one at start-up and share it.
    """

    def __init__(
        self,
        *,
        holidays: Mapping[dt.date, str] | None = None,
        workdays: Mapping[dt.date, str | None] | None = None,
        ordinary: Iterable[dt.date] = (),
        names: Mapping[str, str] | None = None,
    ) -> None:
        """`holidays`: extra days off with their names; `workdays`: adjusted working days (with the holiday
        they belong to, or None); `ordinary`: days the library counts as either that are neither here;
        `names`: the library's English holiday names → Chinese (`National Day` → 国庆节)."""
        self._names = dict(names or {})
        self._overrides: dict[dt.date, _Day] = {day: _Day("ordinary", None) for day in ordinary}
        self._overrides.update({d: _Day("workday", n) for d, n in (workdays or {}).items()})
        self._overrides.update(
            {d: _Day("holiday", self._names.get(n, n)) for d, n in (holidays or {}).items()}
        )
        self._cache: dict[dt.date, _Day] = {}
        self._warned: set[int] = set()

    @classmethod
    def load(cls, path: Path | None = None) -> Holidays:
        """Holidays with the overrides and names of `path` (content/holidays.yaml by default)."""
        path = path or default_content_dir() / "holidays.yaml"
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: a date such as 2026-13-01
            raise ContentError(f"{path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise ContentError(f"{path}: must be a mapping")
        try:
            holidays = {_as_date(k): _name(v, required=True) for k, v in (doc.get("holidays") or {}).items()}
            workdays = {_as_date(k): _name(v) for k, v in (doc.get("workdays") or {}).items()}
            ordinary = [_as_date(k) for k in doc.get("ordinary") or []]
            names = {str(k): _name(v, required=True) for k, v in (doc.get("holiday_names") or {}).items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise ContentError(f"{path}: {exc}") from exc
        twice = sorted(
            {d for d in holidays if d in workdays or d in ordinary} | (set(workdays) & set(ordinary))
        )
        if twice:
            raise ContentError(f"{path}: {twice[0]} is listed in more than one section")
        return cls(holidays=holidays, workdays=workdays, ordinary=ordinary, names=names)

    def is_holiday(self, day: dt.date) -> bool:
        """A day off of a statutory holiday break (法定节假日)."""
        return self._day(day).kind == "holiday"

    def is_adjusted_workday(self, day: dt.date) -> bool:
        """A weekend day worked to make up for a holiday (调休上班)."""
        return self._day(day).kind == "workday"

    def is_workday(self, day: dt.date) -> bool:
        """Monday to Friday and not a holiday, or an adjusted working day."""
        kind = self._day(day).kind
        return kind == "workday" or (kind == "ordinary" and day.weekday() < 5)

    def holiday_name(self, day: dt.date) -> str | None:
        """The holiday's Chinese name (国庆节) when the day is one and its name is known, else None."""
        found = self._day(day)
        return found.name if found.kind == "holiday" else None

    def _day(self, day: dt.date) -> _Day:
        found = self._overrides.get(day) or self._cache.get(day)
        if found is None:
            found = self._cache[day] = self._from_library(day)
        return found

    def _from_library(self, day: dt.date) -> _Day:
        try:
            off, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning(
                    "chinesecalendar %s has no holidays for %d: no day of %d counts as a statutory holiday "
                    "except those content/holidays.yaml lists (upgrade chinesecalendar or add them there)",
                    chinese_calendar.__version__,
                    day.year,
                    day.year,
                )
            return _Day("ordinary", None)
        if name is None:  # an ordinary weekday or weekend
            return _Day("ordinary", None)
        return _Day("holiday" if off else "workday", self._names.get(str(name)))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())


def _name(value: Any, *, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ValueError("a holiday needs its name")
    return text


# --- the month's theme day ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeDay:
    """A month's theme day: `date` it is held on, `planned` by the rule, and `moved_for`, the Chinese name
    of the holiday it was moved for (国庆节; None when not moved, or when the holiday's name is unknown:
    check `moved`)."""

    date: dt.date
    planned: dt.date
    moved_for: str | None = None

    @property
    def moved(self) -> bool:
        return self.date != self.planned


def theme_day_date(
    rule: ThemeDayRule | str, year: int, month: int, holidays: Holidays, keep_on_holiday: bool = False
) -> ThemeDay:
    """The theme day of `year`-`month` under `rule` (a ThemeDayRule, or its text: `每月20日`).

    `每月31日` in a shorter month is the month's last day. A planned day that is a statutory holiday moves to
    the next day that is not one, unless `keep_on_holiday` (a branch's setting); a weekend never moves it
    (community branches often meet on Sundays). The move may cross into the next month (每月30日 before a
    New Year break lands on 1月2日): it stays that month's theme day (events are keyed by the planned month),
    and moving it earlier instead would shorten the notice members were promised (7 days before).

    >>> theme_day_date("每月1日", 2026, 10, Holidays.load())
    ThemeDay(date=datetime.date(2026, 10, 8), planned=datetime.date(2026, 10, 1), moved_for='国庆节')
    """
    parsed = parse_theme_day(rule) if isinstance(rule, str) else rule
    if parsed is None:
        raise ValueError(f"not a theme day rule: {rule!r}")
    planned = _planned(parsed, year, month, holidays)
    if keep_on_holiday or not holidays.is_holiday(planned):
        return ThemeDay(planned, planned)
    day = planned
    for _ in range(MAX_MOVE_DAYS):
        day += ONE_DAY
        if not holidays.is_holiday(day):
            return ThemeDay(day, planned, holidays.holiday_name(planned))
    log.warning("no day that is not a holiday within %d days after %s; kept", MAX_MOVE_DAYS, planned)
    return ThemeDay(planned, planned)


def _planned(rule: ThemeDayRule, year: int, month: int, holidays: Holidays) -> dt.date:
    """The day the rule names, before any holiday move."""
    first_weekday, days = calendar.monthrange(year, month)
    if rule.kind == "day":
        return dt.date(year, month, min(rule.day or 1, days))
    if rule.kind == "nth_weekday":
        weekday, nth = rule.weekday or 0, rule.nth or 1
        return dt.date(year, month, 1 + (weekday - first_weekday) % 7 + 7 * (nth - 1))
    last = dt.date(year, month, days)
    if rule.kind == "last_weekday":
        return last - dt.timedelta(days=(last.weekday() - (rule.weekday or 0)) % 7)
    day = last  # last_workday: a month always has a workday
    while not holidays.is_workday(day) and day.day > 1:
        day -= ONE_DAY
    return day


# --- which rule a unit follows -----------------------------------------------------------------------


def theme_day_unit(units: Mapping[int, Unit], unit_id: int | None) -> str | None:
    """The path of the unit whose theme day a member of `unit_id` attends: the nearest 网格党支部 at or
    above (a building group's members attend their branch's) — `Identity.branch_path`, the same walk."""
    return branch_of(units, unit_id)


def effective_rule(
    unit_path: str, rules_by_path: Mapping[str, str | None], default: str | None = None
) -> tuple[str | None, str | None]:
    """(rule text, the path it came from) for the unit at `unit_path`: its own rule, else the nearest
    ancestor's (by path: `银杏社区党委/第一网格党支部` → `银杏社区党委`), else (`default`, None) — pass
    `settings.theme_day_default_rule`. Give it the unit holding the theme day (`theme_day_unit`), not a
    building group's path. Blank rules count as none.

    >>> effective_rule("A/B/C", {"A": "每月25日", "A/B": None})
    ('每月25日', 'A')
    """
    parts = unit_path.strip("/").split("/")
    for depth in range(len(parts), 0, -1):
        path = "/".join(parts[:depth])
        rule = (rules_by_path.get(path) or "").strip()
        if rule:
            return rule, path
    return default, None


# --- the month's default topic and text --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeDayMaterial:
    topic: str
    text: str


def theme_day_material(year: int, month: int, folder: Path | None = None) -> ThemeDayMaterial:
    """The topic and text of a theme day nobody set them for: `YYYY-MM.md` in `folder` (content/theme_days
    by default), else its `default.md`. Front matter `topic:`, the body is the text."""
    folder = folder or default_content_dir() / "theme_days"
    for name in (f"{year:04d}-{month:02d}.md", "default.md"):
        path = folder / name
        if path.is_file():
            return _material(path)
    raise ContentError(f"{folder}: neither {year:04d}-{month:02d}.md nor default.md")


def _material(path: Path) -> ThemeDayMaterial:
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: {exc}") from exc
    topic = str(post.metadata.get("topic") or "").strip()
    if not topic:
        raise ContentError(f"{path}: the front matter needs a topic")
    return ThemeDayMaterial(topic, post.content.strip())


# --- dates and times as a secretary types them -------------------------------------------------------

_CN_DIGITS = dict(zip("零〇一二两三四五六七八九", "001223456789", strict=True))
_CN_RUN = re.compile(r"[零〇一二两三四五六七八九十廿卅]+")
_PERIOD = r"凌晨|清晨|早上|早晨|上午|中午|午后|下午|傍晚|晚上|夜里|夜间|早|晚"
_DATE = (
    r"(?:(?P<y>\d{4})(?:年|[-/.])(?P<m>\d{1,2})(?:月|[-/.])(?P<d>\d{1,2})[日号]?"
    r"|(?P<m2>\d{1,2})月(?P<d2>\d{1,2})[日号]"
    r"|(?P<rel>今天|今日|明天|明日|大后天|后天)"
    r"|(?P<d3>\d{1,2})[日号])"
)
_TIME = (
    rf"(?:(?P<period>{_PERIOD})?(?P<h>\d{{1,2}})"
    r"(?:(?P<colon>:)(?P<mi>\d{2})(?::\d{2})?|[点时][钟整]?(?:(?P<half>半)|(?P<mi2>\d{1,2})分?)?))"
)
_DATE_RE = re.compile(_DATE)
_TIME_RE = re.compile(_TIME)
_WHEN_RE = re.compile(rf"(?:{_DATE})?[ ,，的]?(?:{_TIME})")
_RELATIVE = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_SHORTHAND = {"今晚": "今天晚上", "明早": "明天早上", "明晚": "明天晚上", "后晚": "后天晚上"}
_PM = {"午后", "下午", "傍晚", "晚上", "夜里", "夜间", "晚"}
_AM = {"清晨", "早上", "早晨", "上午", "早"}


def _normalise(text: str) -> str:
    """NFKC (full-width digits and colons), Chinese numerals as digits, spaces kept only between digits."""
    s = unicodedata.normalize("NFKC", text).strip()
    for short, long in _SHORTHAND.items():
        s = s.replace(short, long)
    s = re.sub(r"(?<=[点时])一刻", "15分", s)
    s = re.sub(r"(?<=[点时])三刻", "45分", s)
    s = _CN_RUN.sub(_arabic, s)
    s = re.sub(r"\s+", " ", s)
    return re.sub(r"(?<!\d) | (?!\d)", "", s)


def _arabic(match: re.Match[str]) -> str:
    run = match.group()
    if not set(run) & set("十廿卅"):
        return "".join(_CN_DIGITS[c] for c in run)  # 九, 二〇二六, 零五
    try:
        return str(cn2an.cn2an(run.replace("廿", "二十").replace("卅", "三十"), "normal"))
    except ValueError:
        return run


def _time_of(m: re.Match[str]) -> dt.time | None:
    """The time of a _TIME match: 上午/下午 applied; a bare `3点` (no period, not `3:00`) is 15:00, since
    nobody meets at 1–6 in the morning."""
    hour, period = int(m["h"]), m["period"]
    minute = 30 if m["half"] else int(m["mi"] or m["mi2"] or 0)
    if period in _PM:
        if hour == 12 and period not in ("下午", "午后"):
            return None  # 晚上12点: midnight, not a meeting time
        hour += 12 if hour < 12 else 0
    elif period in _AM:
        if hour > 12:
            return None
    elif period == "中午":
        if not (1 <= hour <= 3 or 11 <= hour <= 14):
            return None
        hour += 12 if hour <= 3 else 0
    elif period == "凌晨":
        if hour > 12:
            return None
        hour = 0 if hour == 12 else hour
    elif not m["colon"] and 1 <= hour <= 6:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def _date_of(m: re.Match[str], today: dt.date) -> dt.date | None:
    """The date of a _DATE match; without a year the next such date on or after `today`."""
    try:
        if m["y"]:
            return dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None
    if m["rel"]:
        return today + dt.timedelta(days=_RELATIVE[m["rel"]])
    if m["m2"]:
        for year in (today.year, today.year + 1):
            found = _valid(year, int(m["m2"]), int(m["d2"]))
            if found is not None and found >= today:
                return found
        return None
    day, year, month = int(m["d3"]), today.year, today.month
    for _ in range(13):
        found = _valid(year, month, day)
        if found is not None and found >= today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _valid(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_time_of_day(text: str) -> dt.time | None:
    """`9:00`, `09:00`, `9点`, `上午9点`, `下午3点半`, `下午三点`, `15点30分`, `三点一刻` → a time; None for
    anything else. A bare `3点` is 15:00 (see _time_of); `3:00` is 03:00."""
    m = _TIME_RE.fullmatch(_normalise(text))
    return _time_of(m) if m else None


def parse_date(text: str, today: dt.date) -> dt.date | None:
    """`2026-12-20`, `2026/12/20`, `2026年12月20日`, `12月20日`, `20日`, `今天`, `明天`, `后天` → a date.
    Without a year (or month) the next such date on or after `today`: in December `1月5日` is next year's.
    None for anything else and for a date that does not exist (`2月30日`)."""
    m = _DATE_RE.fullmatch(_normalise(text))
    return _date_of(m, today) if m else None


def parse_when(
    text: str, now: dt.datetime, default_date: dt.date | None = None, tz: dt.tzinfo | None = None
) -> dt.datetime | None:
    """A date and time as typed (`2026-12-20 09:00`, `2026/12/20 9:00`, `12月20日 9:00`, `12月20日上午9点`,
    `12月20日下午3点半`, `今天下午3点`, `明天上午9点`, `后天14:30`, `20日9点`, full-width digits, `下午三点`)
    → an aware datetime in `tz` (default `now.tzinfo`: pass ZoneInfo(settings.timezone) when `now` is the
    clock's UTC). A time alone (`9:00`, `上午9点`) is on `default_date`, else today. Dates without a year
    are the next on or after today (parse_date). None for nonsense, a date alone, or a date that does not
    exist; a time in the past is returned as it is (the caller decides).

    >>> from zoneinfo import ZoneInfo
    >>> now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    >>> parse_when("1月5日下午3点半", now).isoformat()
    '2027-01-05T15:30:00+08:00'
    """
    zone = tz or now.tzinfo
    if zone is None:
        raise ValueError("parse_when needs an aware `now` or a `tz`")
    today = now.astimezone(zone).date()
    m = _WHEN_RE.fullmatch(_normalise(text))
    if m is None:
        return None
    at = _time_of(m)
    day = _date_of(m, today) if m["y"] or m["m2"] or m["rel"] or m["d3"] else default_date or today
    if at is None or day is None:
        return None
    return dt.datetime.combine(day, at, tzinfo=zone)
