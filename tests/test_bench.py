"""The benchmarks in bench/ still run (issue 11: they must not rot again).

Each script runs for about a second in its smallest setting, as a real subprocess (partybot serve, wrk,
the worker and the fake WeChat, all on loopback), and the test fails if it crashes or reports a problem:
an error, a non-200, a wrong answer, a row not delivered. Never on its figures: `--smoke` turns off the
judging of rates and times (and the wait for idle cores), nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TIMEOUT_S = 300  # a hung benchmark fails here instead of hanging the suite


def run_script(script: str, *args: str) -> str:
    """Run bench/<script> with the test's interpreter; its output, or a failure showing it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"bench/{script} {' '.join(args)} exited with {done.returncode}\n"
            f"--- stdout (end)\n{done.stdout[-6000:]}\n--- stderr (end)\n{done.stderr[-4000:]}",
            pytrace=False,
        )
    return done.stdout


def needs_load_tools() -> None:
    require("wrk", shutil.which("wrk") is not None, "Debian: apt-get install wrk")
    require("taskset", shutil.which("taskset") is not None, "Debian: apt-get install util-linux")


@pytest.fixture(scope="module")
def seed_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded community for the module's runs (the first builds it), outside the source tree."""
    return tmp_path_factory.mktemp("bench-cache")


def smoke_args(cache: Path, only: str) -> list[str]:
    return ["--smoke", "--duration", "1", "--warmup", "1", "--members", "200", "--cache-dir", str(cache),
            "--only", only]  # fmt: skip


# Every scenario, in a few groups so that a failure names its scenario (each group: seconds).
@pytest.mark.parametrize(
    "only", ["bare,plain-cold", "subscribe,request", "safe-cold,info-cold", "plain-warm,safe-warm"]
)
def test_webhook_bench_runs(only: str, seed_cache: Path) -> None:
    needs_load_tools()
    out = run_script("webhook_bench.py", *smoke_args(seed_cache, only))
    for key in only.split(","):
        assert f"== {key}:" in out
        assert f"| {key}: " in out  # its row in the results table
    assert "INVALID" not in out


def test_webhook_bench_runs_on_uvloop(seed_cache: Path) -> None:
    """`--uvloop`: the bare app and partybot (PARTYBOT_UVLOOP=1) both on uvloop (the `speed` extras)."""
    needs_load_tools()
    require("uvloop", importlib.util.find_spec("uvloop") is not None, ".venv/bin/pip install -e '.[speed]'")
    out = run_script("webhook_bench.py", *smoke_args(seed_cache, "bare,plain-cold"), "--uvloop")
    assert "both servers on uvloop's event loop" in out
    assert "| plain-cold: " in out and "INVALID" not in out


def test_webhook_bench_profile_runs(seed_cache: Path, tmp_path: Path) -> None:
    """`--profile` records the server with py-spy and summarises where its time went."""
    needs_load_tools()
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    require("py-spy", py_spy is not None, "the dev extras: .venv/bin/pip install -e '.[dev]'")
    out = run_script("webhook_bench.py", *smoke_args(seed_cache, "plain-cold"), "--profile", str(tmp_path))
    recorded = tmp_path / "plain-cold.txt"
    assert recorded.stat().st_size > 0
    assert "Where plain-cold's server spent its time" in out
    summary = run_script("profile_summary.py", str(recorded))
    assert summary.startswith("| thread | where | share | µs per answer |")
    assert "µs of the server's core per answer" in summary


def test_outbox_bench_runs() -> None:
    out = run_script(
        "outbox_bench.py", "--recipients", "50", "--latency", "0.001", "--only", "clean", "--smoke"
    )
    assert "| clean | SQLite | 50 |" in out


def test_seed_community_runs(tmp_path: Path) -> None:
    """The seeding on its own: the real import of a generated org and roster, then the bindings."""
    target = tmp_path / "community.db"
    out = run_script("seed_community.py", "--members", "120", "--out", str(target), "--no-cache")
    assert "120 members" in out
    assert target.stat().st_size > 0


def test_study_bench_runs() -> None:
    """学习园地: generated materials indexed (first and at start-up) and searched through the handler."""
    out = run_script("study_bench.py", "--smoke")
    assert "| start-up index (from stored tokens) | 73 |" in out
    assert "| `学习 关键词`, handler path, p50 / p99 | 73 | 100 |" in out
    assert "FAIL" not in out


def test_dues_bench_runs(tmp_path: Path) -> None:
    """党费: dues_reminders and the month's report on 200 and 500 members (every unpaid member reminded once,
    the 3- and 6-month notes counted, a second run writing nothing)."""
    out = run_script("dues_bench.py", "--smoke", "--cache-dir", str(tmp_path))
    assert "| SQLite | 500 / 10 | remind |" in out and "| SQLite | 500 / 10 | report 2026-11 |" in out
    assert "PROBLEM" not in out


def test_theme_day_bench_runs(tmp_path: Path) -> None:
    """主题党日: the theme_day job on 200 and 500 members (every member's week notice once, a second run and
    an idle run writing nothing), in a child process per run, seeded by bench/seed_branches.py."""
    out = run_script("theme_day_bench.py", "--smoke", "--cache-dir", str(tmp_path))
    assert "== 500 members in 10 branches" in out and "SQLite: prepared in" in out
    assert "(smoke: not judged)" in out
    assert "PROBLEM" not in out


def test_requests_bench_runs(tmp_path: Path) -> None:
    """居民诉求: the month's rates by grid and request_deadlines on 4 grids, 2 000 + 500 tickets (every rate
    count as planned, the job's summary, notices and events as seeded, a second run writing nothing)."""
    out = run_script("requests_bench.py", "--smoke", "--cache-dir", str(tmp_path))
    assert (
        "| SQLite | 2,000 / 500 | 4 | rates street |" in out
        and "| SQLite | 2,000 / 500 | 4 | deadlines |" in out
    )
    assert "(smoke: not judged)" in out and "PROBLEM" not in out


def test_console_bench_runs(tmp_path: Path) -> None:
    """The console's dashboard and charts over HTTP on a small street (PostgreSQL: the benchmark's target;
    the suite's PostgreSQL pass runs it)."""
    url = os.environ.get("PARTYBOT_TEST_DATABASE_URL")
    if not url:
        pytest.skip("the console benchmark runs on PostgreSQL only: the PostgreSQL pass of the suite runs it")
    admin = url.rpartition("/")[0] + "/postgres"
    out = run_script("console_bench.py", "--smoke", "--postgres", admin)
    assert "| admin | dashboard |" in out and "| secretary | dashboard |" in out
    assert "PROBLEM" not in out
