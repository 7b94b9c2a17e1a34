"""The theme day's calendar (bot/domain/calendar.py): the rule's day per month, holiday moves, inheritance,
the month's default material, and dates and times as a secretary types them."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.content import ContentError
from bot.domain.calendar import (
    Holidays,
    ThemeDay,
    ThemeDayMaterial,
    ThemeDayRule,
    effective_rule,
    parse_date,
    parse_time_of_day,
    parse_when,
    theme_day_date,
    theme_day_material,
    theme_day_unit,
)
from bot.domain.identity import Unit
from bot.settings import SettingsError, load_settings
from models import UnitKind

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)  # a Wednesday
UNKNOWN = "has no holidays for 2027"


@pytest.fixture(scope="module")
def holidays() -> Holidays:
    return Holidays.load()


def day(rule: str, year: int, month: int, holidays: Holidays, keep: bool = False) -> date:
    return theme_day_date(rule, year, month, holidays, keep_on_holiday=keep).date


# --- each rule kind ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "year", "month", "expected"),
    [
        ("每月20日", 2026, 12, date(2026, 12, 20)),  # a Sunday: weekends do not move it
        ("每月25日", 2027, 3, date(2027, 3, 25)),
        ("每月31日", 2026, 11, date(2026, 11, 30)),  # a shorter month: its last day
        ("每月31日", 2027, 2, date(2027, 2, 28)),
        ("每月30日", 2028, 2, date(2028, 2, 29)),
        ("每月第一个星期五", 2026, 12, date(2026, 12, 4)),
        ("每月第二个星期三", 2026, 12, date(2026, 12, 9)),
        ("每月第一个星期五", 2027, 1, date(2027, 1, 1)),  # 元旦 only when holidays.yaml says so (below)
        ("每月第四个星期日", 2027, 2, date(2027, 2, 28)),
        ("每月第三个星期一", 2026, 11, date(2026, 11, 16)),
        ("每月最后一个星期五", 2026, 12, date(2026, 12, 25)),
        ("每月最后一个星期五", 2027, 1, date(2027, 1, 29)),
        ("每月最后一个星期日", 2026, 11, date(2026, 11, 29)),
        ("每月最后一个工作日", 2026, 12, date(2026, 12, 31)),
        ("每月最后一个工作日", 2026, 10, date(2026, 10, 30)),
        ("每月最后一个工作日", 2027, 1, date(2027, 1, 29)),  # 31st a Sunday, 30th a Saturday
        ("每月最后一个工作日", 2027, 7, date(2027, 7, 30)),
    ],
)
def test_each_rule_kind_names_its_day(
    rule: str, year: int, month: int, expected: date, holidays: Holidays
) -> None:
    found = theme_day_date(rule, year, month, Holidays() if (year, month) == (2027, 1) else holidays)
    assert found == ThemeDay(expected, expected, None)
    assert not found.moved


def test_a_rule_object_works_as_its_text_and_a_bad_text_is_refused(holidays: Holidays) -> None:
    assert (
        day("每月第二个星期三", 2026, 12, holidays)
        == theme_day_date(ThemeDayRule("nth_weekday", nth=2, weekday=2), 2026, 12, holidays).date
    )
    with pytest.raises(ValueError, match="not a theme day rule"):
        theme_day_date("每周一", 2026, 12, holidays)


# --- holidays ----------------------------------------------------------------------------------------


def test_a_day_in_the_national_day_break_moves_past_it(holidays: Holidays) -> None:
    # chinesecalendar: 2026-10-01 … 10-07 off, 10-08 (Thursday) a working day again.
    assert [chinese_calendar.is_holiday(date(2026, 10, d)) for d in (7, 8)] == [True, False]
    found = theme_day_date("每月1日", 2026, 10, holidays)
    assert found == ThemeDay(date(2026, 10, 8), date(2026, 10, 1), "国庆节")
    assert found.moved
    # A Sunday inside the break is part of it; the Saturday worked after it (10-10) is no holiday.
    assert theme_day_date("每月第一个星期日", 2026, 10, holidays).date == date(2026, 10, 8)
    assert day("每月第二个星期六", 2026, 10, holidays) == date(2026, 10, 10)


def test_the_spring_festival_moves_the_20th(holidays: Holidays) -> None:
    found = theme_day_date("每月20日", 2026, 2, holidays)
    assert found == ThemeDay(date(2026, 2, 24), date(2026, 2, 20), "春节")


def test_a_branch_may_keep_its_day_on_a_holiday(holidays: Holidays) -> None:
    kept = theme_day_date("每月1日", 2026, 10, holidays, keep_on_holiday=True)
    assert kept == ThemeDay(date(2026, 10, 1), date(2026, 10, 1), None)


def test_a_weekend_does_not_move_the_day(holidays: Holidays) -> None:
    assert date(2026, 11, 1).weekday() == 6
    assert theme_day_date("每月1日", 2026, 11, holidays) == ThemeDay(date(2026, 11, 1), date(2026, 11, 1))
    assert day("每月最后一个星期六", 2026, 12, holidays) == date(2026, 12, 26)


def test_the_last_workday_counts_an_adjusted_working_day(holidays: Holidays) -> None:
    # 2026-02-28 is a Saturday worked for the Spring Festival (调休上班).
    saturday = date(2026, 2, 28)
    assert saturday.weekday() == 5 and holidays.is_adjusted_workday(saturday)
    assert holidays.is_workday(saturday) and not holidays.is_holiday(saturday)
    assert day("每月最后一个工作日", 2026, 2, holidays) == saturday
    # The same month without that adjusted day: Friday the 27th.
    assert day("每月最后一个工作日", 2026, 2, Holidays(ordinary=[saturday])) == date(2026, 2, 27)


def test_a_year_the_library_does_not_know_has_no_holidays_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_holiday(date(2027, 1, 1))
    holidays = Holidays()
    with caplog.at_level(logging.WARNING, logger="bot.domain.calendar"):
        for month in range(1, 13):
            theme_day_date("每月1日", 2027, month, holidays)
            theme_day_date("每月最后一个工作日", 2027, month, holidays)
        assert not any(holidays.is_holiday(date(2027, 1, 1) + timedelta(days=n)) for n in range(365))
        assert theme_day_date("每月1日", 2027, 1, holidays) == ThemeDay(date(2027, 1, 1), date(2027, 1, 1))
        assert day("每月最后一个工作日", 2027, 10, holidays) == date(2027, 10, 29)
    assert [(r.levelno, UNKNOWN in r.getMessage()) for r in caplog.records] == [(logging.WARNING, True)]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.domain.calendar"):
        Holidays().is_holiday(date(2027, 5, 1))  # another instance (another process) says it again
    assert len(caplog.records) == 1


def test_holidays_yaml_adds_new_years_day_2027(holidays: Holidays, caplog: pytest.LogCaptureFixture) -> None:
    assert holidays.is_holiday(date(2027, 1, 1)) and holidays.holiday_name(date(2027, 1, 1)) == "元旦"
    with caplog.at_level(logging.WARNING, logger="bot.domain.calendar"):
        found = theme_day_date("每月1日", 2027, 1, Holidays.load())
    assert found == ThemeDay(date(2027, 1, 2), date(2027, 1, 1), "元旦")
    assert [r for r in caplog.records if UNKNOWN in r.getMessage()] != []  # 01-02 is still unknown


def test_overrides_win_over_the_library(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text(
        "holidays:\n  2026-12-21: 测试假日\nworkdays:\n  2026-12-26: 测试假日\nordinary:\n  - 2026-10-01\n"
        "holiday_names:\n  National Day: 国庆\n",
        encoding="utf-8",
    )
    holidays = Holidays.load(path)
    assert holidays.holiday_name(date(2026, 12, 21)) == "测试假日"
    assert holidays.is_workday(date(2026, 12, 26)) and holidays.is_adjusted_workday(date(2026, 12, 26))
    assert not holidays.is_holiday(date(2026, 10, 1)) and holidays.is_workday(date(2026, 10, 1))
    assert holidays.holiday_name(date(2026, 10, 2)) == "国庆"
    assert theme_day_date("每月21日", 2026, 12, holidays) == ThemeDay(
        date(2026, 12, 22), date(2026, 12, 21), "测试假日"
    )
    assert day("每月1日", 2026, 10, holidays) == date(2026, 10, 1)


def test_a_move_may_cross_into_the_next_month() -> None:
    holidays = Holidays(holidays={date(2026, 12, 31): "元旦", date(2027, 1, 1): "元旦"})
    assert theme_day_date("每月31日", 2026, 12, holidays) == ThemeDay(
        date(2027, 1, 2), date(2026, 12, 31), "元旦"
    )


def test_a_malformed_holidays_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    for text in (
        "holidays:\n  2026-13-01: 假\n",
        "holidays:\n  2026-12-01:\n",
        "holidays: [1]\n",
        "holidays:\n  2026-12-01: 假\nordinary:\n  - 2026-12-01\n",
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ContentError, match=r"holidays\.yaml"):
            Holidays.load(path)


def test_every_holiday_the_library_names_has_a_chinese_name(holidays: Holidays) -> None:
    first = {name: d for d, name in sorted(chinese_calendar.holidays.items(), reverse=True)}
    assert set(first) == {h.value for h in chinese_calendar.Holiday}
    assert all(holidays.holiday_name(d) for d in first.values()), first
    assert holidays.holiday_name(date(2026, 5, 1)) == "劳动节"
    assert holidays.holiday_name(date(2026, 10, 8)) is None


# --- which rule a unit follows -----------------------------------------------------------------------

COMMUNITY = "青禾街道党工委/银杏社区党委"
BRANCH = f"{COMMUNITY}/第一网格党支部"
GROUP = f"{BRANCH}/3号楼党小组"


def test_a_unit_takes_its_own_rule_else_the_nearest_ancestors() -> None:
    rules: dict[str, str | None] = {
        COMMUNITY: "每月25日",
        BRANCH: None,
        f"{COMMUNITY}/第二网格党支部": "每月1日",
    }
    assert effective_rule(BRANCH, rules) == ("每月25日", COMMUNITY)
    assert effective_rule(f"{COMMUNITY}/第二网格党支部", rules) == ("每月1日", f"{COMMUNITY}/第二网格党支部")
    assert effective_rule(GROUP, {**rules, BRANCH: "每月第一个星期五"}) == ("每月第一个星期五", BRANCH)
    assert effective_rule(BRANCH, {BRANCH: "  "}, "每月20日") == ("每月20日", None)
    assert effective_rule(BRANCH, {}) == (None, None)
    # A sibling whose name starts the same is no ancestor.
    assert effective_rule(f"{COMMUNITY}/第一网格党支部2", {BRANCH: "每月1日"}) == (None, None)


def test_a_building_groups_members_attend_their_branchs_day() -> None:
    units = {
        1: Unit(COMMUNITY, UnitKind.COMMUNITY.value, None),
        2: Unit(BRANCH, UnitKind.BRANCH.value, 1),
        3: Unit(GROUP, UnitKind.GROUP.value, 2),
    }
    rules: dict[str, str | None] = {COMMUNITY: "每月25日", GROUP: "每月3日"}  # a group's own rule is not used
    assert theme_day_unit(units, 3) == BRANCH
    assert effective_rule(theme_day_unit(units, 3) or "", rules) == ("每月25日", COMMUNITY)
    assert theme_day_unit(units, 1) == COMMUNITY


def test_the_default_rule_is_a_setting() -> None:
    settings = load_settings(wechat_token="token")
    assert settings.theme_day_default_rule == "每月20日"
    assert load_settings(
        wechat_token="token", theme_day_default_rule="每月第一个星期五"
    ).theme_day_default_rule
    with pytest.raises(SettingsError, match="PARTYBOT_THEME_DAY_DEFAULT_RULE"):
        load_settings(wechat_token="token", theme_day_default_rule="每周一")


# --- the month's default material --------------------------------------------------------------------


def test_the_months_material_else_the_default(tmp_path: Path) -> None:
    december = theme_day_material(2026, 12)
    assert december.topic == "学习《中国共产党章程》：党员的义务和权利" and "党章" in december.text
    assert theme_day_material(2027, 1).topic.startswith("重温入党誓词")
    assert theme_day_material(2030, 6) == theme_day_material(1999, 1)
    assert not theme_day_material(2030, 6).text.startswith("---")

    (tmp_path / "2027-02.md").write_text("---\ntopic: 社区的主题\n---\n正文。\n", encoding="utf-8")
    (tmp_path / "default.md").write_text("---\ntopic: 默认\n---\n默认正文\n", encoding="utf-8")
    assert theme_day_material(2027, 2, tmp_path) == ThemeDayMaterial("社区的主题", "正文。")
    assert theme_day_material(2027, 3, tmp_path) == ThemeDayMaterial("默认", "默认正文")
    (tmp_path / "default.md").write_text("no front matter\n", encoding="utf-8")
    with pytest.raises(ContentError, match="topic"):
        theme_day_material(2027, 3, tmp_path)
    with pytest.raises(ContentError):
        theme_day_material(2027, 3, tmp_path / "missing")


# --- dates and times ---------------------------------------------------------------------------------


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-20 09:00", at(2026, 12, 20, 9)),
        ("2026/12/20 9:00", at(2026, 12, 20, 9)),
        ("2026年12月20日 9:00", at(2026, 12, 20, 9)),
        ("12月20日 9:00", at(2026, 12, 20, 9)),
        ("12月20日上午9点", at(2026, 12, 20, 9)),
        ("12月20日下午3点半", at(2026, 12, 20, 15, 30)),
        ("12月20号 下午 3 点 30 分", at(2026, 12, 20, 15, 30)),
        ("今天下午3点", at(2026, 12, 2, 15)),
        ("明天上午9点", at(2026, 12, 3, 9)),
        ("后天14:30", at(2026, 12, 4, 14, 30)),
        ("20日9点", at(2026, 12, 20, 9)),
        ("9:00", at(2026, 12, 2, 9)),
        ("上午9点", at(2026, 12, 2, 9)),
        ("１２月２０日　９：００", at(2026, 12, 20, 9)),
        ("下午三点", at(2026, 12, 2, 15)),
        ("十二月二十日下午三点一刻", at(2026, 12, 20, 15, 15)),
        ("明天两点半", at(2026, 12, 3, 14, 30)),  # a bare 1–6 点 is the afternoon
        ("明天3:00", at(2026, 12, 3, 3)),  # …but a clock time is as written
        ("今晚7点", at(2026, 12, 2, 19)),
        ("中午12点", at(2026, 12, 2, 12)),
        ("1月5日 9:00", at(2027, 1, 5, 9)),  # in December: next year's
        ("12月1日 9:00", at(2027, 12, 1, 9)),  # yesterday's date: next year's
        ("12月2日 9:00", at(2026, 12, 2, 9)),  # today counts, even an hour ago
        ("1日9点", at(2027, 1, 1, 9)),  # a day of the month already past: next month's
        ("31日9点", at(2026, 12, 31, 9)),
    ],
)
def test_parse_when_reads_every_form(text: str, expected: datetime) -> None:
    found = parse_when(text, NOW)
    assert found == expected and found is not None and found.tzinfo is TZ


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "参加",
        "12月20日",
        "2月30日 9:00",
        "2026-02-29 9:00",
        "13月1日 9点",
        "32日9点",
        "25:00",
        "9:61",
        "上午15点",
        "晚上12点",
        "明天",
        "星期三9点",
        "12月20日9",
        "2026-12-20 9",
    ],
)
def test_parse_when_refuses_nonsense_and_impossible_dates(text: str) -> None:
    assert parse_when(text, NOW) is None


def test_a_time_alone_is_on_the_default_date_and_zones_are_respected() -> None:
    assert parse_when("下午3点", NOW, default_date=date(2026, 12, 20)) == at(2026, 12, 20, 15)
    utc_now = datetime(2026, 12, 2, 17, 0, tzinfo=ZoneInfo("UTC"))  # 01:00 on 12-03 in Beijing
    assert parse_when("今天9点", utc_now, tz=TZ) == at(2026, 12, 3, 9)
    with pytest.raises(ValueError):
        parse_when("9:00", datetime(2026, 12, 2, 10, 0))


def test_parse_time_of_day_and_parse_date() -> None:
    assert parse_time_of_day("９：３０") == time(9, 30)
    assert parse_time_of_day("下午三点半") == time(15, 30)
    assert parse_time_of_day("晚上八点") == time(20, 0)
    assert parse_time_of_day("15点30分") == time(15, 30)
    assert parse_time_of_day("十点零五分") == time(10, 5)
    assert parse_time_of_day("凌晨12点") == time(0, 0)
    assert parse_time_of_day("12月20日9点") is None
    assert parse_time_of_day("半") is None
    today = NOW.date()
    assert parse_date("1月5日", today) == date(2027, 1, 5)
    assert parse_date("后天", today) == date(2026, 12, 4)
    assert parse_date("2026.12.20", today) == date(2026, 12, 20)
    assert parse_date("2月29日", date(2027, 12, 2)) == date(2028, 2, 29)
    assert parse_date("2月29日", today) is None
    assert parse_date("31日", date(2027, 2, 3)) == date(2027, 3, 31)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_an_iso_date_and_time_round_trips(when: datetime) -> None:
    when = when.replace(second=0, microsecond=0, tzinfo=TZ)
    assert parse_when(f"{when:%Y-%m-%d %H:%M}", NOW) == when
    assert parse_when(f"{when.year}年{when.month}月{when.day}日 {when.hour}:{when:%M}", NOW) == when


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)), st.integers(0, 23))
def test_a_date_without_a_year_is_the_next_on_or_after_today(today: date, hour: int) -> None:
    now = datetime.combine(today, time(10), tzinfo=TZ)
    for offset in (0, 1, 45, 200, 364):
        target = today + timedelta(days=offset)
        found = parse_when(f"{target.month}月{target.day}日 {hour}:00", now)
        assert found is not None and found.date() == target and found.hour == hour


@given(st.text(max_size=30))
def test_parse_when_never_raises(text: str) -> None:
    found = parse_when(text, NOW)
    assert found is None or found.tzinfo is TZ
