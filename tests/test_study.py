"""学习园地: the newest five, a search with and without hits, reading by number and `继续`, `已学` once (and
its points once), who sees what, the community's folder followed without a restart, `partybot study check`,
a secretary's forwarded article, and the weekly push."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.domain.study_files import check_directory
from models import Notice, OutboxRow, PointEntry, StudyMaterial, StudyRead
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from tests.community import BRANCH1, BRANCH2, seed
from tests.conftest import Stack, StackFactory
from tests.helpers import services
from tests.wechat import Result, ThroughFake

NEWEST_FOR_IN_SERVICE = [
    "组织生活会和民主评议党员",
    "社区志愿服务与文明城市创建",
    "垃圾分类，从家门口做起",
    "在职党员到社区“双报到”",
    "党费怎么交",
]


def titles(reply: str) -> list[str]:
    """The titles of a numbered list, in order."""
    return [line.split("《", 1)[1].split("》", 1)[0] for line in reply.splitlines() if line[:1].isdigit()]


def material(title: str, body: str, **front: str) -> str:
    lines = [f"{key}: {value}" for key, value in {"title": title, **front}.items()]
    return "---\n" + "\n".join(lines) + "\n---\n" + body + "\n"


async def forward(stack: Stack, openid: str, title: str, url: str, description: str = "") -> Result:
    outcome: dict[str, Any] = await stack.act(
        openid, type="link", Title=title, Description=description, Url=url
    )
    assert outcome["ok"], outcome["error"]
    return Result(200, "", outcome["reply"])


async def count(stack: Stack, table: Any, *where: Any) -> int:
    async with services(stack.client).db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def test_list_search_read_on_and_confirm_once(stack: Stack) -> None:
    community = await seed(services(stack.client).db, bind=("YX-013",))
    member = ThroughFake(stack, "o-YX-013")  # 刘洋: 在职, 第二网格党支部

    listed = (await member.send("学习")).text
    assert listed.startswith("学习园地（最新5篇）：\n1 《组织生活会和民主评议党员》11月19日\n")
    assert titles(listed) == NEWEST_FOR_IN_SERVICE
    assert listed.endswith("回复序号阅读；发送“学习 关键词”搜索，例如：学习 垃圾分类。")

    found = (await member.send("学习 垃圾分类")).text
    assert found.startswith("与“垃圾分类”有关的学习资料：\n1 《垃圾分类，从家门口做起》11月9日")
    opened = (await member.send("1")).text
    assert opened.startswith("《垃圾分类，从家门口做起》（11月9日）\n生活垃圾一般分为可回收物、有害垃圾")
    assert opened.endswith("回复“继续”阅读全文。读完回复“已学”。")
    whole = (await member.send("继续")).text
    assert whole.startswith("《垃圾分类，从家门口做起》（1/1）\n生活垃圾一般分为四类。各地叫法略有不同")
    assert "· 自己家先分好" in whole and "**" not in whole and "##" not in whole
    assert whole.endswith("全文完。读完请回复“已学”，回复序号看其他资料。")

    await member.send("学习 党员义务")
    opened = (await member.send("1")).text
    assert opened.startswith("《党员的八项义务》（10月12日）\n《中国共产党章程》第三条规定")
    assert len(opened.encode()) <= 2048
    parts = int(opened.split("全文共", 1)[1].split("段", 1)[0])
    assert parts >= 2
    for part in range(1, parts + 1):
        text = (await member.send("继续")).text
        assert text.startswith(f"《党员的八项义务》（{part}/{parts}）\n")
        assert len(text.encode()) <= 2048
        last = part == parts
        assert text.endswith(
            "全文完。读完请回复“已学”，回复序号看其他资料。" if last else "回复“继续”看下一段。"
        )
    assert (await member.send("继续")).text.startswith("这篇已经读完了。")

    assert (await member.send("已学")).text == (
        "已记录：您学习了《党员的八项义务》，积分加1分，本月积分1分。发送“学习”看看其他资料。"
    )
    assert (
        await member.send("已学")
    ).text == "您已经学过《党员的八项义务》了，谢谢。发送“学习”看看其他资料。"
    assert await count(stack, StudyRead) == 1
    async with services(stack.client).db.read() as session:
        entries = (await session.scalars(select(PointEntry))).all()
    assert [(e.member_id, e.reason, e.points) for e in entries] == [(community.ids["YX-013"], "study", 1)]

    assert "《党员的八项义务》10月12日（已学）" in (await member.send("学习 党员义务")).text
    assert (await member.send("9")).text.startswith("请回复1至5的序号")


async def test_a_search_without_hits_offers_the_newest(stack: Stack) -> None:
    await seed(services(stack.client).db, bind=("YX-013",))
    member = ThroughFake(stack, "o-YX-013")
    missed = (await member.send("学习 火星探测")).text
    assert missed.startswith(
        "没有找到与“火星探测”有关的学习资料。最新的5篇：\n1 《组织生活会和民主评议党员》"
    )
    assert titles(missed) == NEWEST_FOR_IN_SERVICE
    # The numbers are the newest five's.
    assert (await member.send("5")).text.startswith("《党费怎么交》（10月29日）")


async def test_title_and_tag_hits_come_first_and_a_resident_is_asked_to_bind(stack: Stack) -> None:
    await seed(services(stack.client).db, bind=("YX-013",))
    member = ThroughFake(stack, "o-YX-013")
    assert titles((await member.send("学习党费")).text)[0] == "党费怎么交"
    assert titles((await member.send("学习 入党誓词")).text)[0] == "入党誓词"
    assert titles((await member.send("学习园地 三会一课")).text)[0] == "“三会一课”是什么"
    assert titles((await member.send("学习 党员的八项权利")).text)[0] == "党员的八项权利"
    resident = ThroughFake(stack, "o-stranger")
    assert (await resident.send("学习")).text.startswith("这项服务需要先绑定党员身份。")


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    folder.mkdir()
    return folder


@pytest.fixture
async def folder_stack(make_stack: StackFactory, study_dir: Path) -> Stack:
    return await make_stack(study_dir=study_dir, study_scan_s=0)


async def test_audiences_and_units(folder_stack: Stack, study_dir: Path) -> None:
    stack = folder_stack
    (study_dir / "branch2.md").write_text(
        material(
            "第二网格加装电梯议事规则", "第二网格加装电梯，先开楼栋议事会。", unit=BRANCH2, date="2026-11-19"
        ),
        encoding="utf-8",
    )
    await seed(services(stack.client).db, bind=("YX-004", "YX-007", "YX-013", "YX-009"))
    elderly = ThroughFake(stack, "o-YX-004")  # 王秀兰, 85
    mobile = ThroughFake(stack, "o-YX-007")  # 李文博, 流动
    in_service = ThroughFake(stack, "o-YX-013")  # 刘洋, 在职, 第二网格
    branch1 = ThroughFake(stack, "o-YX-009")  # 郑国平, 76, 第一网格

    assert titles((await elderly.send("学习 诈骗")).text)[0] == "老年人防范电信网络诈骗"
    assert (await in_service.send("学习 诈骗")).text.startswith("没有找到与“诈骗”有关的学习资料。")
    assert titles((await mobile.send("学习 流动党员")).text)[0] == "流动党员：离家在外怎样和组织保持联系"
    assert "流动党员：离家在外怎样和组织保持联系" not in (await in_service.send("学习 流动党员")).text
    assert titles((await in_service.send("学习 双报到")).text)[0] == "在职党员到社区“双报到”"
    assert "在职党员到社区“双报到”" not in (await elderly.send("学习 双报到")).text

    assert titles((await in_service.send("学习 电梯")).text)[0] == "第二网格加装电梯议事规则"
    assert "第二网格加装电梯议事规则" not in (await branch1.send("学习 电梯")).text


async def test_the_community_folder_is_followed_without_a_restart(
    folder_stack: Stack, study_dir: Path
) -> None:
    stack = folder_stack
    await seed(services(stack.client).db, bind=("YX-013",))
    member = ThroughFake(stack, "o-YX-013")
    assert (await member.send("学习 飞线")).text.startswith("没有找到与“飞线”有关的学习资料。")

    path = study_dir / "sub" / "feixian.md"
    path.parent.mkdir()
    path.write_text(
        material(
            "电动车飞线充电劝导",
            "不要从楼上拉线给电动车充电（飞线充电）。",
            tags="[消防, 飞线充电]",
            date="2026-11-28",
        ),
        encoding="utf-8",
    )
    assert titles((await member.send("学习 飞线")).text) == ["电动车飞线充电劝导"]
    assert titles((await member.send("学习")).text)[0] == "电动车飞线充电劝导"  # the newest

    path.write_text(
        material("电动车飞线充电劝导", "不要飞线充电，也不要把电瓶带进电梯。", date="2026-11-28"),
        encoding="utf-8",
    )
    assert titles((await member.send("学习 电瓶")).text)[0] == "电动车飞线充电劝导"
    async with services(stack.client).db.read() as session:
        row = await session.scalar(
            select(StudyMaterial).where(StudyMaterial.slug == "community:sub/feixian.md")
        )
    assert row is not None and (row.version, row.active) == (2, True)

    path.unlink()
    assert (await member.send("学习 飞线")).text.startswith("没有找到")
    async with services(stack.client).db.read() as session:
        gone = await session.scalar(
            select(StudyMaterial).where(StudyMaterial.slug == "community:sub/feixian.md")
        )
    assert gone is not None and gone.active is False


def test_study_check_names_each_problem_with_its_file_and_line(tmp_path: Path) -> None:
    from bot.cli import main

    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "good.md").write_text(material("好的资料", "正文。", date="2026-11-20"), encoding="utf-8")
    (folder / "no-title.md").write_text("---\ndate: 2026-11-20\n---\n正文。\n", encoding="utf-8")
    (folder / "bad-date.md").write_text(
        "---\ntitle: 日期不对\ntags: [a]\ndate: 2026-13-45\naudience: all\n---\n正文。\n", encoding="utf-8"
    )
    (folder / "audience.md").write_text(
        "---\ntitle: 读者不对\naudience: 青年\n---\n正文。\n", encoding="utf-8"
    )
    (folder / "yaml.md").write_text("---\ntitle: 写法\ntags: [a, b\n---\n正文。\n", encoding="utf-8")
    (folder / "empty.md").write_text("---\ntitle: 没有正文\n---\n\n\n", encoding="utf-8")
    (folder / "plain.md").write_text("只有正文，没有头部信息。\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["study", "check", str(folder)], env={"PARTYBOT_WECHAT_TOKEN": ""})
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert f"{folder / 'no-title.md'}:1: 缺少标题：请在头部信息里写 title: 标题" in lines
    assert f"{folder / 'bad-date.md'}:4: 日期“2026-13-45”不对：请写成 2026-11-20 这样" in lines
    assert any(line.startswith(f"{folder / 'audience.md'}:3: 读者“青年”不对") for line in lines)
    assert any(line.startswith(f"{folder / 'yaml.md'}:4: 头部信息写法有误") for line in lines)
    assert f"{folder / 'empty.md'}:4: 正文是空的：请在头部信息下面写正文" in lines
    assert any(line.startswith(f"{folder / 'plain.md'}:1: 开头缺少头部信息") for line in lines)
    assert not any("good.md" in line for line in lines)
    assert lines[-1] == f"{folder}：7 个文件，6 处问题。"

    shipped = CliRunner().invoke(main, ["study", "check"], env={"PARTYBOT_WECHAT_TOKEN": ""})
    assert shipped.exit_code == 0 and shipped.output.strip().endswith("没有发现问题。")


def test_every_shipped_material_is_valid() -> None:
    from bot.domain.study import shipped_dir

    count, problems = check_directory(shipped_dir())
    assert count >= 12 and problems == []


async def test_a_secretary_adds_a_forwarded_article_for_the_branch(stack: Stack) -> None:
    await seed(services(stack.client).db, bind=("YX-002", "YX-009", "YX-013"))
    secretary = ThroughFake(stack, "o-YX-002")  # 林晓梅, 第一网格党支部书记
    asked = (
        await forward(
            stack, "o-YX-002", "社区消防安全知识", "https://mp.weixin.qq.com/s/fire", "冬季用电用火安全。"
        )
    ).text
    assert asked == (
        "收到文章《社区消防安全知识》。要加入第一网格党支部的学习园地吗？请回复：\n"
        "1 加入学习园地（每周推送时发给党员）\n2 加入并马上推送给党员\n0 不加入"
    )
    assert (await secretary.send("5")).text == "请回复1、2或0，例如：1。"
    assert (await secretary.send("1")).text == (
        "已加入第一网格党支部的学习园地：《社区消防安全知识》。党员发送“学习”就能看到，每周推送时一并发送。"
    )
    async with services(stack.client).db.read() as session:
        row = await session.scalar(select(StudyMaterial).where(StudyMaterial.source == "link"))
    assert row is not None and (row.unit_path, row.url, row.pushed_at) == (
        BRANCH1,
        "https://mp.weixin.qq.com/s/fire",
        None,
    )

    branch1 = ThroughFake(stack, "o-YX-009")
    assert titles((await branch1.send("学习")).text)[0] == "社区消防安全知识"
    opened = (await branch1.send("1")).text
    assert opened == (
        "《社区消防安全知识》（11月21日）\n冬季用电用火安全。\n阅读原文：https://mp.weixin.qq.com/s/fire\n读完回复“已学”。"
    )
    assert (await branch1.send("已学")).text.startswith("已记录：您学习了《社区消防安全知识》，积分加1分")
    other_branch = ThroughFake(stack, "o-YX-013")
    assert "社区消防安全知识" not in (await other_branch.send("学习")).text

    # The same article again: it is there already.
    await forward(stack, "o-YX-002", "社区消防安全知识", "https://mp.weixin.qq.com/s/fire")
    assert (await secretary.send("1")).text == "这篇文章已经在学习园地里了：《社区消防安全知识》。"


async def test_a_forwarded_article_pushed_at_once_and_a_member_refused(stack: Stack) -> None:
    community = await seed(services(stack.client).db, bind=("YX-002", "YX-009"))
    secretary = ThroughFake(stack, "o-YX-002")
    await forward(stack, "o-YX-002", "冬季防火", "https://mp.weixin.qq.com/s/winter", "冬季防火要点。")
    pushed = (await secretary.send("2")).text
    assert pushed.startswith("已加入第一网格党支部的学习园地，并开始推送给") and pushed.endswith(
        "《冬季防火》。"
    )
    async with services(stack.client).db.read() as session:
        notice = await session.scalar(select(Notice).where(Notice.author.like("study_push:%")))
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "notice"))).all()
    assert notice is not None and notice.text == "【学习园地】《冬季防火》\n冬季防火要点。\n发送“学习”阅读。"
    in_branch1 = {community.ids[n] for n in ("YX-002", "YX-004", "YX-006", "YX-007", "YX-009")}
    assert {r.member_id for r in rows} == in_branch1
    assert f"{len(in_branch1)}人" in pushed

    member = ThroughFake(stack, "o-YX-009")
    refused = await forward(stack, "o-YX-009", "一篇文章", "https://example.org/a")
    assert refused.text.startswith("收到您转发的文章。加入学习园地需要由支部书记转发")
    assert await count(stack, StudyMaterial, StudyMaterial.source == "link") == 1
    assert (await member.send("学习")).text.startswith("学习园地（最新5篇）：\n1 《冬季防火》")


async def test_the_weekly_push_goes_once_to_the_audience_with_voice_for_the_elderly(
    folder_stack: Stack, study_dir: Path, clock: FixedClock
) -> None:
    stack = folder_stack
    community = await seed(services(stack.client).db, bind=("YX-004", "YX-013"))
    (study_dir / "new.md").write_text(
        material(
            "冬季用电安全",
            "不私拉电线，不在楼道给电动车充电。",
            summary="冬季用电的几件小事。",
            date="2026-11-20",
        ),
        encoding="utf-8",
    )
    (study_dir / "old.md").write_text(
        material("往年的资料", "这是往年的资料。", date="2025-03-01"), encoding="utf-8"
    )
    job = job_named("study_push")
    app = stack.client.app
    assert app is not None
    from bot.app import CONTENT, SETTINGS

    deps = JobDeps(services(stack.client).db, app[SETTINGS], app[CONTENT])
    clock.advance(timedelta(days=2).total_seconds())  # 2026-11-23 10:00 (Beijing), a Monday
    monday = clock.now()
    await ThroughFake(stack, "o-YX-013").send("帮助")  # opens the customer-service window
    assert await job.run(deps, monday) == f"materials 1, recipients {len(community.ids)}"
    assert await job.run(deps, monday) == "materials 0, recipients 0"

    async with services(stack.client).db.read() as session:
        notices = (await session.scalars(select(Notice).where(Notice.author.like("study_push:%")))).all()
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "notice"))).all()
        pushed = (
            await session.scalars(select(StudyMaterial.title).where(StudyMaterial.pushed_at.is_not(None)))
        ).all()
    assert [n.text for n in notices] == [
        "【学习园地】《冬季用电安全》\n冬季用电的几件小事。\n发送“学习”阅读。"
    ]
    assert sorted(r.member_id or 0 for r in rows) == sorted(community.ids.values())  # one each
    voice = {r.member_id for r in rows if r.wants_voice}
    assert community.ids["YX-004"] in voice and community.ids["YX-013"] not in voice
    assert list(pushed) == ["冬季用电安全"]  # not the old one, never the shipped ones

    await services(stack.client).write_behind.flush()
    await stack.worker.drain()
    sent = [s.content["content"] for s in stack.sends("o-YX-013", api="custom")]
    assert sent == ["【学习园地】《冬季用电安全》\n冬季用电的几件小事。\n发送“学习”阅读。"]


def test_the_push_runs_on_the_weekday_and_time_of_the_settings(make_settings: Any) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from scheduler.service import trigger

    settings = make_settings(study_push_weekday="fri", study_push_time="20:30")
    job = job_named("study_push")
    shanghai = ZoneInfo("Asia/Shanghai")
    after = datetime(2026, 12, 2, 12, 0, tzinfo=shanghai)  # a Wednesday
    assert trigger(job, settings.timezone, settings).get_next_fire_time(None, after) == datetime(
        2026, 12, 4, 20, 30, tzinfo=shanghai
    )


def test_jobs_run_study_push_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    from bot.cli import main

    async def prepare() -> None:
        db = Database(database_url)
        try:
            await seed(db, bind=("YX-013",))
        finally:
            await db.dispose()

    asyncio.run(prepare())
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "a.md").write_text(
        material("十二月学习", "十二月的学习资料。", date="2026-12-01"), encoding="utf-8"
    )
    env = {
        "PARTYBOT_DATABASE_URL": database_url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_STUDY_DIR": str(folder),
    }
    runner = CliRunner()
    first = runner.invoke(main, ["jobs", "run", "study_push", "--now", "2026-12-07T19:00"], env=env)
    assert first.exit_code == 0, first.output
    assert "materials 1, recipients 9" in first.output
    again = runner.invoke(main, ["jobs", "run", "study_push", "--now", "2026-12-07T19:00"], env=env)
    assert "materials 0, recipients 0" in again.output
    listed = runner.invoke(main, ["study", "list"], env=env)
    assert listed.exit_code == 0 and "《十二月学习》（已推送）" in listed.output
