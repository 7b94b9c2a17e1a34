"""学习园地 benchmark (issue 12): 2 000 generated materials in the community's folder (PARTYBOT_STUDY_DIR).

Measured in this process, on SQLite (a fresh file in a temporary directory):

  first index   the folder indexed into an empty table: every file read, parsed and hashed, written, cut
                by jieba (search mode) and the BM25 index (bm25s) built — what the very first start, or
                a folder of new files, costs.
  start-up      a later start: the index built again from the table (tokens stored with the rows, the
                folders only stat-ed), with a fresh jieba tokenizer and an empty memo. Target ≤ 3 s.
  search        `学习 关键词` through the handler path: the dispatcher (lock, conversation, identity,
                intent, route), the study handler (the viewer's row and reads, BM25 over the index, the
                numbered list) and the conversation written through — all but HTTP and XML, which the
                webhook benchmark measures. p50/p99 of the server time over the queries; target p99 ≤ 20 ms.
                Also the domain search alone (tokenize, mask, score, top five).

    .venv/bin/python bench/study_bench.py                     # 2 000 materials, 1 000 queries
    .venv/bin/python bench/study_bench.py --materials 500     # a quick look
    .venv/bin/python bench/study_bench.py --smoke             # runs? (tests/test_bench.py)

`--smoke` (60 materials, 100 queries) checks only that it runs and answers correctly: every query answered
with a numbered list, a query with a known title finds it first, one with no known word says so; the
targets are not judged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

THIS = Path(__file__).resolve()
ROOT = THIS.parent.parent
sys.path.insert(0, str(ROOT))  # tests.community: the small community the tests use

from aiohttp.test_utils import TestServer  # noqa: E402

from bot.app import SERVICES, WEBHOOK, create_app  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.content import load_content  # noqa: E402
from bot.domain.privacy import new_key  # noqa: E402
from bot.domain.study import Viewer, shipped_dir, study_sources  # noqa: E402
from bot.domain.study_files import material_paths  # noqa: E402
from bot.domain.study_index import StudyLibrary, fingerprint  # noqa: E402
from bot.edge.nlp import NLP, quiet_jieba  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.wechat.wire import Incoming  # noqa: E402
from models.db import Database  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from tests.community import BRANCH2, seed  # noqa: E402

STARTUP_TARGET_S = 3.0
P99_TARGET_MS = 20.0
T0 = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
TAGS = [
    "党章",
    "党史",
    "党费",
    "主题党日",
    "三会一课",
    "垃圾分类",
    "志愿服务",
    "反诈骗",
    "流动党员",
    "双报到",
    "文明城市",
    "消防安全",
    "邻里互助",
    "老年人",
    "政策宣传",
    "社区治理",
    "组织生活",
    "廉洁",
]
TOPICS = ["学习", "专题", "讲座", "解读", "问答", "指南", "倡议", "须知", "要点", "案例"]
AUDIENCES = ["all"] * 16 + ["elderly", "mobile", "in_service"]


def sentences() -> list[str]:
    """Real sentences to build generated materials from: the shipped samples', cut at sentence ends."""
    found: list[str] = []
    for path in material_paths(shipped_dir()):
        body = path.read_text(encoding="utf-8").split("---", 2)[-1]
        for piece in body.replace("\n", "").split("。"):
            piece = piece.strip("#-* ")
            if len(piece) >= 8:
                found.append(piece + "。")
    return found


def generate(folder: Path, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """`count` materials of 600–1 500 characters; returns (title, a word only it has) for a few."""
    pool = sentences()
    probes: list[tuple[str, str]] = []
    for n in range(count):
        tags = rng.sample(TAGS, 2)
        title = f"{tags[0]}{rng.choice(TOPICS)}第{n + 1}期"
        body: list[str] = []
        while sum(len(s) for s in body) < rng.randint(600, 1500):
            body.append(rng.choice(pool))
        marker = f"编号{n + 1:05d}号"
        audience = rng.choice(AUDIENCES)
        unit = f"\nunit: {BRANCH2}" if n % 50 == 7 else ""
        text = (
            f"---\ntitle: {title}\ndate: 2026-{1 + n % 11:02d}-{1 + n % 28:02d}\ntags: [{', '.join(tags)}]\n"
            f"audience: {audience}{unit}\n---\n{marker}。" + "".join(body) + "\n"
        )
        sub = folder / f"{n // 500:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"m{n:05d}.md").write_text(text, encoding="utf-8")
        if audience == "all" and not unit and len(probes) < 20:
            probes.append((title, marker))
    return probes


def queries(count: int, probes: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """What members search for: tags, tag pairs, words from the texts, a known material's marker, a title,
    and words no material has."""
    words = [
        "党员",
        "义务",
        "权利",
        "支部",
        "组织生活",
        "党费",
        "垃圾",
        "分类",
        "志愿",
        "诈骗",
        "誓词",
        "报到",
        "流动",
        "电梯",
        "楼道",
        "老党员",
        "学习",
        "民主评议",
        "批评",
        "群众",
    ]
    made: list[str] = []
    for n in range(count):
        kind = n % 6
        if kind == 0:
            made.append(rng.choice(TAGS))
        elif kind == 1:
            made.append(" ".join(rng.sample(TAGS, 2)))
        elif kind == 2:
            made.append(rng.choice(words))
        elif kind == 3:
            made.append(rng.choice(probes)[1])
        elif kind == 4:
            made.append(rng.choice(probes)[0])
        else:
            made.append(rng.choice(["火星探测", "潜水艇", "区块链挖矿", "足球联赛"]))
    return made


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def machine_line() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("bm25s", "jieba", "numpy", "sqlalchemy")
    )
    return (
        f"{os.cpu_count()} cores (nproc), {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {versions}"
    )


async def run(args: argparse.Namespace, command: str) -> int:
    rng = random.Random(12)
    problems: list[str] = []
    quiet_jieba()
    content = load_content()
    with tempfile.TemporaryDirectory(prefix="partybot-study-bench-") as tmp:
        folder, url = Path(tmp) / "study", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        folder.mkdir()
        probes = generate(folder, args.materials, rng)
        await upgrade(url)
        db = Database(url)
        await seed(db, bind=("YX-013",))
        shipped = len(list(material_paths(shipped_dir())))
        print(f"== {args.materials:,} materials in {folder} (+ {shipped} shipped)")

        nlp = NLP(content)
        library = StudyLibrary(
            db,
            nlp.search_tokens,
            fingerprint(content.userdict_path),
            study_sources(folder),
            timezone="Asia/Shanghai",
        )
        started = time.perf_counter()
        await library.refresh(T0, force=True)
        first_s = time.perf_counter() - started
        print(f"   first index: {first_s:.2f} s ({len(library):,} materials)", flush=True)

        # A later start: a new process's tokenizer (no memo), the tokens read back from the table.
        jieba_started = time.perf_counter()
        fresh = NLP(content)
        jieba_s = time.perf_counter() - jieba_started
        library = StudyLibrary(
            db,
            fresh.search_tokens,
            fingerprint(content.userdict_path),
            study_sources(folder),
            timezone="Asia/Shanghai",
        )
        started = time.perf_counter()
        await library.refresh(T0, force=True)
        startup_s = time.perf_counter() - started
        print(f"   start-up: {startup_s:.2f} s (jieba's dictionary before it: {jieba_s:.2f} s)", flush=True)
        if len(library) < args.materials:
            problems.append(f"indexed {len(library)} of {args.materials}")
        if startup_s > STARTUP_TARGET_S and not args.smoke:
            problems.append(f"start-up {startup_s:.2f} s > {STARTUP_TARGET_S} s")
        await db.dispose()

        asked = queries(args.queries, probes, rng)
        viewer = Viewer(frozenset({"all", "in_service"}), BRANCH2)
        domain_ms = []
        for query in asked:
            started = time.perf_counter()
            library.search(query, viewer, 5)
            domain_ms.append((time.perf_counter() - started) * 1000)

        # The handler path: the app as `serve` builds it (its own index built at its start), in process.
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            wechat_token="bench-token",
            database_url=url,
            study_dir=folder,
            write_behind_interval_s=0.2,
            data_key=new_key(),
        )
        clock = FixedClock(T0)
        app = create_app(settings, clock=clock, nlp=fresh)
        server = TestServer(app)
        started = time.perf_counter()
        await server.start_server()
        app_start_s = time.perf_counter() - started
        dispatcher = app[WEBHOOK].dispatcher
        handler_ms: list[float] = []
        gc.collect()
        try:
            for n, query in enumerate(asked):
                text = f"学习 {query}"
                msg = Incoming(
                    openid="o-YX-013",
                    account="gh_bench",
                    kind="text",
                    create_time=int(T0.timestamp()) + n,
                    msg_id=10_000_000 + n,
                    text=fresh.normalize(text),
                    raw_text=text,
                )
                started = time.perf_counter()
                answer = await dispatcher.dispatch(msg)
                handler_ms.append((time.perf_counter() - started) * 1000)
                reply = getattr(answer.reply, "text", "")
                if answer.route != "study.list_or_search" or "1 《" not in reply:
                    problems.append(f"{text!r}: {answer.route} {reply[:60]!r}")
                    break
                if n % 6 == 3 and not reply.startswith("与“"):
                    problems.append(f"{text!r} (a marker one material has) found nothing")
                if n % 6 == 4 and f"1 《{query}》" not in reply:
                    problems.append(f"{text!r} (a title) is not first: {reply[:80]!r}")
                if n % 6 == 5 and not reply.startswith("没有找到"):
                    problems.append(f"{text!r} (no such word) found something: {reply[:60]!r}")
            await app[SERVICES].write_behind.flush()
        finally:
            await server.close()

    p50, p99 = percentile(handler_ms, 0.5), percentile(handler_ms, 0.99)
    if p99 > P99_TARGET_MS and not args.smoke:
        problems.append(f"p99 {p99:.1f} ms > {P99_TARGET_MS} ms")
    verdict = "FAIL" if problems else ("ran (smoke: targets not judged)" if args.smoke else "pass")
    print()
    print(f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `{command}`.")
    print()
    print(f"Machine: {machine_line()}.")
    print()
    print("| measure | materials | queries | figure | target | result |")
    print("|---|---:|---:|---:|---:|---|")
    total = args.materials + len(list(material_paths(shipped_dir())))
    print(f"| first index (parse, store, cut, build) | {total:,} | — | {first_s:.2f} s | — | — |")
    print(
        f"| start-up index (from stored tokens) | {total:,} | — | {startup_s:.2f} s "
        f"| ≤ {STARTUP_TARGET_S:g} s | {verdict} |"
    )
    print(
        f"| app start (jieba loaded before), incl. the index | {total:,} | — | {app_start_s:.2f} s | — | — |"
    )
    print(
        f"| `学习 关键词`, handler path, p50 / p99 | {total:,} | {len(handler_ms):,} | "
        f"{p50:.2f} / {p99:.2f} ms | p99 ≤ {P99_TARGET_MS:g} ms | {verdict} |"
    )
    print(
        f"| domain search alone, p50 / p99 | {total:,} | {len(domain_ms):,} | "
        f"{percentile(domain_ms, 0.5):.2f} / {percentile(domain_ms, 0.99):.2f} ms | — | — |"
    )
    print(
        f"| handler path, mean / max | | | {statistics.mean(handler_ms):.2f} / {max(handler_ms):.2f} ms | | |"
    )
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--materials", type=int, default=2_000, help="generated materials (2000)")
    parser.add_argument("--queries", type=int, default=1_000, help="searches through the handler (1000)")
    parser.add_argument(
        "--smoke", action="store_true", help="check that it runs and answers, not the targets"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.materials, args.queries = min(args.materials, 60), min(args.queries, 100)
    if args.materials < 30 or args.queries < 6:
        parser.error("--materials at least 30, --queries at least 6")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    return asyncio.run(run(args, shlex.join([".venv/bin/python", "bench/study_bench.py", *argv])))


if __name__ == "__main__":
    sys.exit(main())
