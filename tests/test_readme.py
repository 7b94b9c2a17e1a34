"""The README says what is true: its Chinese and English parts agree on the status, the demo and the tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
CHINESE, _, ENGLISH = README.partition("\n## English\n")
NUMBERS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5}


def test_both_parts_say_what_is_built() -> None:
    zh_status = re.search(r"^> 当前进度：.*?(?=\n\n)", CHINESE, re.S | re.M)
    assert zh_status is not None
    done = zh_status.group()
    assert "尚未开发" not in done  # everything the issues asked for is built
    for feature in (
        "公告",
        "学习园地",
        "主题党日",
        "流动党员",
        "党费",
        "居民诉求",
        "党员建议",
        "网页管理后台",
        "手机模拟器",
    ):
        assert feature in done, feature
    en_status = ENGLISH[ENGLISH.index("- **Status:**") :]
    assert "Not built yet" not in en_status
    for built in ("theme day", "dues", "residents' requests", "suggestions", "web console", "simulator"):
        assert built in en_status, built
    # How to reach the console and the simulator, in both parts.
    for part in (CHINESE, ENGLISH):
        assert "/console/" in part and "/sim/" in part and "登录 " in part


def test_both_parts_list_the_requests_commands() -> None:
    for word in ("反映", "进度", "待办", "接单", "进展", "转派", "复杂", "办结", "诉求统计", "建议", "答复",
                 "我的建议", "待答复建议", "partybot report requests --month"):  # fmt: skip
        assert word in CHINESE, word
    for word in ("反映", "待办", "接单", "办结", "诉求统计", "partybot report requests --month"):
        assert word in ENGLISH, word


def test_both_parts_show_an_operator_command_against_the_running_demo() -> None:
    for part in (CHINESE, ENGLISH):
        assert ".venv/bin/partybot jobs run relay_unreached --now +1d" in part
        assert ".venv/bin/partybot outbox" in part
        assert "`.env`" in part and "partybot demo" in part
    assert "同一个文件夹" in CHINESE and "same folder" in ENGLISH
    assert "每处理一条消息显示一行" in CHINESE and "one line per message handled" in ENGLISH


def skips_on_sqlite_without_redis() -> tuple[int, int]:
    """(tests that skip for want of Redis, tests that skip on SQLite for want of PostgreSQL), counted as
    pytest reports them: a test calling `require("Redis", ...)`, unless a skipif already skips it."""
    redis = postgres = 0
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not node.name.startswith("test"):
                continue
            if any("skipif" in ast.unparse(d) and "PG_URL" in ast.unparse(d) for d in node.decorator_list):
                postgres += 1
            elif any(
                isinstance(call, ast.Call) and ast.unparse(call).startswith("require('Redis'")
                for call in ast.walk(node)
            ):
                redis += 1
    return redis, postgres


def test_the_skip_counts_match_the_suite() -> None:
    redis, postgres = skips_on_sqlite_without_redis()
    zh = re.search(r"没有 Redis 时，(.)个多进程测试会跳过；在 SQLite 上还有(.)个测试", CHINESE)
    assert zh is not None
    assert (NUMBERS[zh.group(1)], NUMBERS[zh.group(2)]) == (redis, postgres)
    en = re.search(
        r"Without Redis (\d+)\s+multi-process tests are skipped, and on SQLite (\d+) more",
        ENGLISH,
    )
    assert en is not None
    assert (int(en.group(1)), int(en.group(2))) == (redis, postgres)
