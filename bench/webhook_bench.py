"""Webhook benchmark: `partybot serve` against a bare aiohttp app that returns fixed XML.

Scenarios, all in one run, each against a freshly started server (partybot: a fresh copy of one seeded
database, `--members` members bound to WeChat, by default 100 000, seeded through the real import:
bench/seed_community.py):

  bare        bench/bare_app.py: no checks, one fixed reply the size of a member's `帮助` (the limit)
  plain-cold  `帮助` in plaintext, each request from a follower this server has not seen: every bound
              member and every stranger (a follower who is not bound, 10 %) once, in a seeded random order
  safe-cold   the same in safe mode: AES-decrypted request, encrypted and signed reply
  info-cold   `我的信息` (the member's own record; a stranger is told to bind), plaintext, cold
  plain-warm  `帮助` in plaintext from a pool of 2 000 of the same followers, each sent once before the
              warm-up, so their identities are cached (for 30 s at a time) when the measurement starts
  safe-warm   the same in safe mode
  subscribe   `subscribe` events from new followers: the follower row is committed before the answer
  request     `反映 1区1号楼楼道灯坏了好几天了` from new residents: the ticket is committed before the answer

The cold scenarios are real traffic (a member writes once, not ten times in 30 s) and the ones the targets
count for. The server runs pinned to one core (`taskset -c 0`), the load generator (wrk, one thread) to
another. Every request is used once: each carries a fresh MsgId (events, which have none, a fresh openid)
and a fresh nonce, so a fresh signature, with a timestamp valid for the server's clock. Requests are
precomputed into a file just before each measurement (bench/replay.lua replays it); if a file runs out,
the measurement is repeated with a larger one, and reported if it still runs out, instead of reusing
requests. BENCHMARKS.md says more.

    .venv/bin/python bench/webhook_bench.py            # ~4 minutes (plus ~2 minutes the first time: seeding)
    .venv/bin/python bench/webhook_bench.py --quick    # 5 s per scenario, rougher figures
    .venv/bin/python bench/webhook_bench.py --write    # also rewrite the results in BENCHMARKS.md
    .venv/bin/python bench/webhook_bench.py --only plain-cold --profile /tmp/prof   # where the time goes
    .venv/bin/python bench/webhook_bench.py --smoke --duration 1 --warmup 1 --members 200   # does it run?

Needs wrk (Debian: `apt-get install wrk`), taskset and at least two cores (`--smoke`: one will do);
`--profile` needs py-spy (the `dev` extras).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import hashlib
import http.client
import importlib.util
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))  # this script's neighbours: seed_community, webhook_scenarios, ...

import aiohttp  # noqa: E402
import profile_summary  # noqa: E402
import seed_community  # noqa: E402
from webhook_scenarios import (  # noqa: E402
    AES_KEY,
    APPID,
    SCENARIOS,
    TOKEN,
    Answers,
    Population,
    Request,
    RequestFactory,
    Scenario,
    Traffic,
    answers_for,
    bare_reply,
)

from bot.content import Content, load_content  # noqa: E402
from bot.dev.simulate import ReplyError, read_reply  # noqa: E402
from bot.wechat.wire import Cipher  # noqa: E402

REPLAY_LUA = BENCH_DIR / "replay.lua"
BARE_APP = BENCH_DIR / "bare_app.py"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
# Not resolved: the venv's python is a symlink, and `partybot` lives beside the venv's name for it.
PYTHON = Path(sys.executable)
PARTYBOT = PYTHON.with_name("partybot")

RESULTS_START = "<!-- webhook-bench:results:start -->"
RESULTS_END = "<!-- webhook-bench:results:end -->"
# --uvloop's results go beside them, in a section of their own.
UVLOOP_START = "<!-- webhook-bench:results-uvloop:start -->"
UVLOOP_END = "<!-- webhook-bench:results-uvloop:end -->"

MEMBERS = 100_000  # bound members in the seeded database (--members)
CONNECTIONS = 50
WRK_TIMEOUT_S = 10  # above the 4 s reply budget: a slow answer is measured, not dropped
SIGNATURE_MAX_AGE_S = 300  # partybot's default; every request must be used within it
SAMPLES = 5  # requests per scenario checked in full (decrypted, fields compared) before and after
IDLE_BUSY_MAX = 0.10  # a core busier than this before a scenario means something else is running
IDLE_WAIT_S = 20  # how long to wait for that to end before measuring all the same
SOURCE_DIRS = ("bot", "handlers", "models", "content")
MEASURE_ATTEMPTS = 3  # measured runs per scenario at most, when the precomputed requests run out
REPEATS_MAX = 0.05  # a cold scenario with more requests from openids it already sent is not cold
PROFILE_RATE = 100  # py-spy samples per second (--profile)
PR_SET_PDEATHSIG = 1  # prctl(2)


class BenchError(Exception):
    """The benchmark could not run (a server did not start, wrk failed, ...)."""


def die_with_parent() -> None:
    """In a child, before it execs: SIGTERM when the benchmark dies, so no server, wrk or py-spy outlives
    a benchmark that was killed (a test's timeout, ^C twice)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "text/xml"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass(slots=True)
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    database: Path | None

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all its threads (aiosqlite's included)."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        return ""

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_call(self.port, "GET", "/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        raise BenchError(f"server not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM (partybot drains and flushes its write-behind), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode


def start_server(
    scenario: Scenario,
    workdir: Path,
    reply_file: Path,
    core: int,
    community: seed_community.Built | None,
    uvloop: bool = False,
) -> Server:
    port = free_port()
    # No PARTYBOT_* from the caller's environment, and a cwd without a .env: only these settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    database: Path | None = None
    if scenario.partybot:
        if community is None:
            raise BenchError("no seeded database for a partybot scenario")
        database = workdir / "bench.db"
        seed_community.copy_to(community, database)
        env |= {
            "PARTYBOT_WECHAT_TOKEN": TOKEN,
            "PARTYBOT_DATABASE_URL": f"sqlite:///{database}",
            "PARTYBOT_DATA_KEY": seed_community.DATA_KEY,
            "PARTYBOT_LOG_LEVEL": "WARNING",
            # Explicit either way: `auto` would pick uvloop whenever it is installed.
            "PARTYBOT_UVLOOP": "1" if uvloop else "0",
        }
        if scenario.safe:
            env |= {"PARTYBOT_WECHAT_APPID": APPID, "PARTYBOT_WECHAT_AES_KEY": AES_KEY}
        command = [str(PARTYBOT), "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [str(PYTHON), str(BARE_APP), "--port", str(port), "--reply-file", str(reply_file)]
        command += ["--uvloop"] if uvloop else []
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        # taskset execs the server, so proc.pid is the server's own pid (for its CPU time).
        proc = subprocess.Popen(
            ["taskset", "-c", str(core), *command], cwd=workdir, env=env, stdout=log, stderr=log,
            preexec_fn=die_with_parent,
        )  # fmt: skip
    server = Server(proc, port, log_path, database)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


# --- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadResult:
    duration_s: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect/read/write errors and timeouts
    not_200: int
    bad_body: int
    sent: int
    exhausted: bool
    marker_hits: tuple[int, ...]  # answers by the first marker they contained
    server_cpu: float  # the server process's CPU time, as a fraction of one core
    load_cpu: float  # wrk's
    server_core_busy: float  # the server's core, busy with anything (other processes, interrupts)
    load_core_busy: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy, total) clock ticks since boot, from /proc/stat."""
    times: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return times


def busy_fraction(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], core: int) -> float:
    busy, total = (a - b for a, b in zip(after[core], before[core], strict=True))
    return busy / total if total else 0.0


def run_wrk(
    server: Server, records: Path, markers: tuple[str, ...], duration_s: int, connections: int,
    cores: tuple[int, int],
) -> LoadResult:  # fmt: skip
    """Replay `records` for duration_s with wrk on cores[1] against the server on cores[0]."""
    server_core, core = cores
    command = [
        "taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
        "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(REPLAY_LUA), f"http://127.0.0.1:{server.port}/wechat",
        "--", str(records), *markers,
    ]  # fmt: skip
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server.cpu_seconds()
    cores_before = core_times()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=False,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    cores_after = core_times()
    server_cpu = server.cpu_seconds() - server_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Only wrk is reaped between the two readings, so the difference is wrk's own CPU time.
    load_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    duration = data["duration_us"] / 1e6
    return LoadResult(
        duration_s=duration,
        requests=data["requests"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        not_200=data["not_200"],
        bad_body=data["bad_body"],
        sent=data["sent"],
        exhausted=bool(data["exhausted"]),
        marker_hits=tuple(data["marker_hits"]),
        server_cpu=server_cpu / duration,
        load_cpu=load_cpu / duration,
        server_core_busy=busy_fraction(cores_before, cores_after, server_core),
        load_core_busy=busy_fraction(cores_before, cores_after, core),
    )


def check_samples(
    server: Server, factory: RequestFactory, traffic: Traffic, answers: Answers, bare: bytes
) -> tuple[list[str], int]:
    """Send SAMPLES fresh requests and check each answer in full; return problems and reply size."""
    scenario = traffic.scenario
    problems: list[str] = []
    size = 0
    for openid in traffic.take(SAMPLES):
        traffic.advance(1)
        request = factory.build(scenario, openid, int(time.time()))
        status, body = http_call(server.port, "POST", request.path, request.body)
        size = len(body)
        if status != 200:
            problems.append(f"sample answered {status}: {body[:80]!r}")
            continue
        if not scenario.partybot:
            if body != bare:
                problems.append("bare app answered something else than its fixed reply")
            continue
        try:
            reply = read_reply(TOKEN, body.decode(), factory.cipher if scenario.safe else None)
        except (ReplyError, UnicodeDecodeError) as exc:
            problems.append(f"unreadable reply: {exc}")
            continue
        wrong = "no reply" if reply is None else answers.problem(openid, reply.get("Content"))
        if reply is not None and reply.get("ToUserName") != request.openid:
            wrong = "addressed to someone else"
        if wrong is not None:
            problems.append(f"wrong answer to {openid}: {wrong}: {reply!r:.200}")
        elif scenario.safe and b"<Content>" in body:
            problems.append("safe-mode reply was not encrypted")
    return problems, size


def prime(
    server: Server, factory: RequestFactory, traffic: Traffic, answers: Answers, connections: int
) -> str:
    """Send one request from each follower of the warm pool (so the warm scenario starts with their
    identities cached), `connections` at a time; return a problem, or "" when every answer was right."""
    scenario = traffic.scenario
    openids = traffic.take(len(traffic.pool))
    traffic.advance(len(openids))
    timestamp = int(time.time())
    requests = [factory.build(scenario, openid, timestamp) for openid in openids]

    async def send_all() -> int:
        wrong = 0
        limit = asyncio.Semaphore(connections)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:

            async def send(request: Request) -> None:
                nonlocal wrong
                async with limit, http.post(request.path, data=request.body) as resp:
                    body = await resp.read()
                if resp.status != 200 or not any(m.encode() in body for m in answers.markers):
                    wrong += 1

            await asyncio.gather(*(send(r) for r in requests))
        return wrong

    wrong = asyncio.run(send_all())
    return f"{wrong} of {len(requests)} priming requests answered wrongly" if wrong else ""


def metric_values(port: int) -> dict[str, float]:
    """partybot's Prometheus counters, as {'name{labels}': value}."""
    status, body = http_call(port, "GET", "/metrics")
    if status != 200:
        return {}
    values: dict[str, float] = {}
    for line in body.decode().splitlines():
        match = re.fullmatch(r"(partybot_[a-z_]+_total(?:\{[^}]*\})?) (\S+)", line)
        if match:
            values[match[1]] = float(match[2])
    return values


def label(metric: str) -> str:
    """The label value of `name{key="value"}`."""
    return metric.partition('"')[2].rpartition('"')[0]


def count_tickets(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        row = conn.execute("SELECT count(*) FROM request_tickets").fetchone()
    return int(row[0])


def count_followers(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM wechat_users WHERE subscribed = 1 AND subscribed_at IS NOT NULL"
        ).fetchone()
    return int(row[0])


# --- one scenario -------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    load: LoadResult
    warmup_rps: float
    planned: int  # requests written for the measured run
    reply_bytes: int
    problems: list[str] = field(default_factory=list)  # the figures cannot be trusted
    warnings: list[str] = field(default_factory=list)  # the figures may be off
    notes: list[str] = field(default_factory=list)
    ratio: float | None = None
    profile: str = ""

    @property
    def valid(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        if not self.valid:
            return "INVALID"
        if self.scenario.min_ratio is None:
            return "limit"
        failed = self.ratio is None or self.ratio < self.scenario.min_ratio
        if self.scenario.max_p99_ms is not None and self.load.p99_ms >= self.scenario.max_p99_ms:
            failed = True
        verdict = "FAIL" if failed else "pass"
        return verdict if self.scenario.counts else f"({verdict})"


@dataclass(frozen=True, slots=True)
class Settings:
    duration_s: int
    warmup_s: int
    connections: int
    max_rate: int
    server_core: int
    load_core: int
    smoke: bool = False  # only whether it runs: figures are not judged
    profile_dir: Path | None = None
    uvloop: bool = False  # both servers on uvloop rather than asyncio's own loop

    @property
    def loop(self) -> str:
        return "uvloop" if self.uvloop else "asyncio"

    @property
    def cores(self) -> tuple[int, int]:
        return self.server_core, self.load_core


def run_scenario(
    scenario: Scenario,
    settings: Settings,
    factory: RequestFactory,
    population: Population,
    community: seed_community.Built | None,
    content: Content,
    bare: bytes,
    workdir: Path,
    rate_ceiling: float,
) -> Outcome:
    """Start the server, warm it up, check answers, measure, check again, stop it."""
    answers = answers_for(scenario, content, population)
    traffic = Traffic(scenario, population, factory.run_id)
    workdir.mkdir(parents=True)
    reply_file = workdir / "reply.xml"
    reply_file.write_bytes(bare)
    records = workdir / "requests.bin"
    # The warm-up file is sized for the fastest rate possible here, so it does not run out.
    warm_count = math.ceil(rate_ceiling * settings.warmup_s) + 2 * settings.connections
    server = start_server(scenario, workdir, reply_file, settings.server_core, community, settings.uvloop)
    profiler: profile_summary.Recording | None = None
    profile = ""
    try:
        problems, reply_bytes = check_samples(server, factory, traffic, answers, bare)
        if scenario.traffic == "warm":
            problems += [p for p in [prime(server, factory, traffic, answers, settings.connections)] if p]
        factory.write_records(records, scenario, server.port, traffic.take(warm_count))
        warm = run_wrk(
            server, records, answers.markers, settings.warmup_s, settings.connections, settings.cores
        )
        traffic.advance(warm.sent)
        # Size the measured run from the warm-up's rate with room to spare (never above the ceiling):
        # a server still warming up then runs faster. If the file runs out all the same, measure again
        # with a larger one, a bounded number of times, rather than reuse requests.
        rate = rate_ceiling if warm.exhausted else min(rate_ceiling, max(3 * warm.rps, 200.0))
        attempts = 1 if settings.smoke else MEASURE_ATTEMPTS
        for attempt in range(1, attempts + 1):
            planned = math.ceil(rate * settings.duration_s) + 2 * settings.connections
            seconds = factory.write_records(records, scenario, server.port, traffic.take(planned))
            if settings.profile_dir is not None and scenario.partybot:
                settings.profile_dir.mkdir(parents=True, exist_ok=True)
                out = settings.profile_dir / f"{scenario.key}.txt"
                profiler = profile_summary.Recording(
                    server.proc.pid, out, settings.duration_s, settings.load_core, PROFILE_RATE,
                    preexec_fn=die_with_parent,
                )  # fmt: skip
            load = run_wrk(server, records, answers.markers, settings.duration_s, settings.connections,
                           settings.cores)  # fmt: skip
            if profiler is not None:
                try:
                    profile = profiler.finish(load.requests)
                except RuntimeError as exc:
                    raise BenchError(str(exc)) from exc
                profiler = None
            members_sent = traffic.members_in(load.sent) if answers.member_markers else 0
            traffic.advance(load.sent)
            if not load.exhausted or rate >= rate_ceiling or attempt == attempts:
                break
            print(f"   ran out after {load.sent} requests: measuring again with more", flush=True)
            rate = min(rate_ceiling, 3 * rate)
        more, _ = check_samples(server, factory, traffic, answers, bare)
        problems += more
        counters = metric_values(server.port) if scenario.partybot else {}
    finally:
        if profiler is not None:
            profiler.kill()
        code = server.stop()
        with contextlib.suppress(OSError):
            records.unlink()
    outcome = Outcome(scenario, load, warm.rps, planned, reply_bytes, problems, profile=profile)
    if scenario.partybot and code not in (0, -signal.SIGTERM):
        outcome.problems.append(f"the server exited with {code} on SIGTERM:\n{server.log_tail()}")
    outcome.notes.append(f"{planned:,} requests precomputed in {seconds:.1f} s")
    judge(outcome, settings, load, traffic, answers, members_sent)
    judge_counters(outcome, counters)
    if scenario.subscribe and server.database is not None:
        followers = count_followers(server.database) - (
            len(population.people) + (community.strangers if community else 0)
        )
        answered = load.requests - load.not_200 - load.bad_body
        outcome.notes.append(
            f"{followers:,} new follower rows committed (≥ {answered:,} welcomes answered in the measured "
            "run)"
        )
        if followers < answered:
            outcome.problems.append(f"only {followers} new follower rows for {answered} welcomes")
    if scenario.key == "request" and server.database is not None:
        tickets = count_tickets(server.database)
        answered = load.requests - load.not_200 - load.bad_body
        outcome.notes.append(f"{tickets:,} tickets committed (≥ {answered:,} answered in the measured run)")
        if tickets < answered:
            outcome.problems.append(f"only {tickets} tickets for {answered} filed answers")
    return outcome


def judge(
    outcome: Outcome, settings: Settings, load: LoadResult, traffic: Traffic, answers: Answers, members: int
) -> None:
    """The notes, warnings and problems of a measured run."""
    outcome.notes.append(
        f"cores busy: server's {load.server_core_busy:.0%} (server process {load.server_cpu:.0%}), "
        f"wrk's {load.load_core_busy:.0%} (wrk {load.load_cpu:.0%})"
    )
    # Anything else on either core (another process, interrupts not charged to ours) takes CPU from
    # the server or the generator: say so next to the figures rather than hide it.
    for whose, busy, ours in (
        ("server", load.server_core_busy, load.server_cpu),
        ("load generator", load.load_core_busy, load.load_cpu),
    ):
        if busy - ours > 0.15 and settings.server_core != settings.load_core:
            outcome.warnings.append(
                f"{busy - ours:.0%} of the {whose}'s core went to other work during the run: "
                "the figures may be low (was the machine idle?)"
            )
    if load.exhausted:
        message = (
            f"ran out of precomputed requests after {load.sent:,}: the figures undercount (raise --max-rate)"
        )
        (outcome.warnings if settings.smoke else outcome.problems).append(message)
    if load.errors or load.not_200 or load.bad_body:
        outcome.problems.append(
            f"{load.errors} socket errors/timeouts, {load.not_200} non-200, {load.bad_body} 200s without "
            "the expected answer"
        )
    if traffic.scenario.traffic == "cold":
        repeats = traffic.repeats
        outcome.notes.append(
            f"{traffic.position:,} requests from {len(traffic.pool):,} followers (all cold)"
            if not repeats
            else f"{repeats:,} of {traffic.position:,} requests from a follower already sent in this scenario"
        )
        if repeats > REPEATS_MAX * traffic.position:
            outcome.warnings.append(
                f"{repeats / traffic.position:.0%} of the requests came from followers this server had "
                "already seen: not all cold (raise --members)"
            )
    if answers.member_markers:
        # Every answered request is one of the first `sent` in the file; the rest were in flight.
        as_member = sum(load.marker_hits[: answers.member_markers])
        as_stranger = sum(load.marker_hits[answers.member_markers :])
        unanswered = load.sent - load.requests
        outcome.notes.append(f"answered as bound members {as_member:,}, as strangers {as_stranger:,}")
        if not members - unanswered <= as_member <= members:
            outcome.problems.append(
                f"{as_member:,} answers for members, but {members:,} of the {load.sent:,} requests sent "
                f"came from members ({unanswered} unanswered): members taken for strangers, or the reverse"
            )


def judge_counters(outcome: Outcome, counters: dict[str, float]) -> None:
    if not counters:
        return
    overruns = counters.get("partybot_budget_overruns_total", 0)
    errors = sum(v for k, v in counters.items() if k.startswith("partybot_handler_errors_total"))
    routes = {k: v for k, v in counters.items() if k.startswith("partybot_replies_total")}
    outcome.notes.append(
        "partybot's counters (warm-up and samples included): answers by route "
        + ", ".join(f"{label(k)} {v:,.0f}" for k, v in routes.items())
        + f"; budget overruns {overruns:.0f}; handler errors {errors:.0f}"
    )
    if overruns or errors:
        outcome.problems.append(
            f"partybot reports {overruns:.0f} budget overruns, {errors:.0f} handler errors"
        )


# --- report -------------------------------------------------------------------------------------


def machine_line() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout.split()
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("aiohttp", "sqlalchemy", "aiosqlite", "wechatpy")
    )
    return (
        f"{os.cpu_count()} cores (nproc), {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {versions}, wrk {wrk[1] if len(wrk) > 1 else '?'}"
    )


def target_text(scenario: Scenario) -> str:
    if scenario.min_ratio is None:
        return "—"
    text = f"≥ {scenario.min_ratio:.0%}"
    if scenario.max_p99_ms is not None:
        text += f", p99 < {scenario.max_p99_ms:.0f} ms"
    return text if scenario.counts else f"({text})"


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| scenario | req/s | p50 ms | p99 ms | of bare | target | result | non-200 | server CPU | wrk CPU |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for o in outcomes:
        load = o.load
        ratio = "—" if o.ratio is None else f"{o.ratio:.1%}"
        rows.append(
            f"| {o.scenario.key}: {o.scenario.title} | {load.rps:,.0f} | {load.p50_ms:.1f} | "
            f"{load.p99_ms:.1f} | {ratio} | {target_text(o.scenario)} | {o.verdict()} | {load.not_200} | "
            f"{load.server_cpu:.0%} | {load.load_cpu:.0%} |"
        )
    return "\n".join(rows)


def notes(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        details = [
            f"{o.load.requests:,} answers in {o.load.duration_s:.1f} s",
            f"warm-up {o.warmup_rps:,.0f} req/s",
            f"reply {o.reply_bytes} bytes",
            *o.notes,
        ]
        lines.append(f"- {o.scenario.key}: " + "; ".join(details) + ".")
        lines += [f"  - **problem:** {p}" for p in o.problems]
        lines += [f"  - **warning:** {w}" for w in o.warnings]
    return lines


@dataclass(slots=True)
class Run:
    outcomes: list[Outcome]
    fingerprint: str
    warnings: list[str]
    community: str = ""


def results_section(result: Run, settings: Settings, command: str, started: dt.datetime) -> str:
    return "\n".join(
        [
            f"Run {started:%Y-%m-%d %H:%M} UTC: `{command}` ({settings.duration_s} s measured after "
            f"{settings.warmup_s} s warm-up per scenario, {settings.connections} connections, server on "
            f"core {settings.server_core}, wrk on core {settings.load_core}, both servers on "
            f"{settings.loop}'s event loop); partybot source "
            f"{result.fingerprint} (sha256 of {', '.join(f'{d}/' for d in SOURCE_DIRS)}).",
            "",
            f"Machine: {machine_line()}.",
            *(["", f"Database: {result.community}."] if result.community else []),
            "",
            table(result.outcomes),
            "",
            "Targets in brackets are shown for reference: the cold scenarios are the ones that count.",
            "",
            *notes(result.outcomes),
            *(f"- **warning:** {w}" for w in result.warnings),
        ]
    )


def write_results(section: str, uvloop: bool = False) -> None:
    first, last = (UVLOOP_START, UVLOOP_END) if uvloop else (RESULTS_START, RESULTS_END)
    text = BENCHMARKS_MD.read_text(encoding="utf-8")
    start, end = text.find(first), text.find(last)
    if start < 0 or end < start:
        raise BenchError(f"{BENCHMARKS_MD} has no {first} ... {last} section")
    BENCHMARKS_MD.write_text(
        text[: start + len(first)] + "\n" + section + "\n" + text[end:], encoding="utf-8"
    )


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="See BENCHMARKS.md for what is measured and the latest figures.",
    )
    parser.add_argument("--duration", type=int, default=None, help="measured seconds per scenario (20)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up seconds per scenario (3)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="concurrent connections (50)")
    parser.add_argument("--quick", action="store_true", help="5 s per scenario, 1 s warm-up")
    parser.add_argument(
        "--max-rate",
        type=int,
        default=None,
        help="the highest req/s the precomputed requests are sized for (40000; --smoke: 5000)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated scenarios to run ({','.join(s.key for s in SCENARIOS)})",
    )
    parser.add_argument("--members", type=int, default=MEMBERS, help=f"bound members seeded ({MEMBERS})")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=seed_community.CACHE_DIR,
        help="where the seeded database is kept between runs (bench/.cache)",
    )
    parser.add_argument("--no-cache", action="store_true", help="seed a database for this run only")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record each partybot scenario's measured run with py-spy into DIR and summarise it",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="check that it runs (crashes, errors, wrong answers), not the figures: no wait for idle "
        "cores, one core will do, running out of requests is only a warning",
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run both servers on uvloop (the `speed` extras) instead of asyncio's own event loop",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="rewrite the results section of BENCHMARKS.md (with --uvloop: its uvloop section)",
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (5 if args.quick else 20)
    args.warmup = args.warmup or (1 if args.quick else 3)
    args.max_rate = args.max_rate or (5000 if args.smoke else 40_000)
    if args.duration + args.warmup > SIGNATURE_MAX_AGE_S - 60:
        parser.error(
            f"--duration + --warmup must stay well inside the {SIGNATURE_MAX_AGE_S} s signature window"
        )
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    if args.members < 1:
        parser.error("--members must be at least 1")
    if args.write and (args.smoke or args.profile):
        parser.error("--write is for a plain measured run, not with --smoke or --profile")
    if args.uvloop and args.profile:
        parser.error("--profile reads asyncio's event loop in the stacks: run it without --uvloop")
    if args.uvloop and importlib.util.find_spec("uvloop") is None:
        parser.error("--uvloop needs uvloop: .venv/bin/pip install -e '.[speed]'")
    return args


def cores(smoke: bool) -> tuple[int, int]:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        if smoke:
            return allowed[0], allowed[0]
        raise BenchError("needs two cores: one for the server, one for the load generator")
    return allowed[0], allowed[1]


def selected(only: str | None) -> list[Scenario]:
    if only is None:
        return list(SCENARIOS)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {s.key for s in SCENARIOS}
    if unknown:
        raise BenchError(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return [s for s in SCENARIOS if s.key in wanted]


def source_fingerprint() -> str:
    """A digest of partybot's code and content, to tell which version a result belongs to."""
    digest = hashlib.sha256()
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def wait_idle(core_ids: tuple[int, int], max_wait_s: float) -> list[str]:
    """Other work on either core would be measured as partybot's slowness (this machine may be shared):
    wait, a bounded time, until both cores are idle; return a warning for each that is still busy."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = core_times()
        time.sleep(1.0)
        after = core_times()
        busy = {core: busy_fraction(before, after, core) for core in core_ids}
        if all(b <= IDLE_BUSY_MAX for b in busy.values()) or time.monotonic() >= deadline:
            break
    return [
        f"core {core} was {b:.0%} busy with other work just before the scenario started"
        for core, b in busy.items()
        if b > IDLE_BUSY_MAX
    ]


def seed(
    args: argparse.Namespace, scenarios: list[Scenario], tmp: Path
) -> tuple[seed_community.Built | None, str]:
    """The seeded database (built, or from the cache) and a line saying what it holds and its cost."""
    if not any(s.partybot for s in scenarios):
        return None, ""
    print(f"== seeding {args.members:,} members", flush=True)
    built = seed_community.community(args.members, tmp / "seeded" if args.no_cache else args.cache_dir)
    how = (
        f"taken from the cache ({built.path.name})"
        if built.cached
        else f"built in {built.seconds:.1f} s ({built.steps})"
    )
    line = (
        f"{built.members:,} members bound and {built.strangers:,} strangers following, seeded through the "
        f"real import (bench/seed_community.py), {how}; {built.path.stat().st_size / 1e6:.0f} MB, copied "
        "for each scenario"
    )
    print(f"   {line}", flush=True)
    return built, line


def run(args: argparse.Namespace, settings: Settings) -> Run:
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (Debian: apt-get install {package})")
    scenarios = selected(args.only)
    content = load_content()
    factory = RequestFactory(Cipher(APPID, AES_KEY), args.members)
    bare = bare_reply(content)
    with tempfile.TemporaryDirectory(prefix="partybot-bench-") as tmp:
        try:
            community, line = seed(args, scenarios, Path(tmp))
        except seed_community.SeedError as exc:
            raise BenchError(f"seeding failed: {exc}") from exc
        population = Population.of(community) if community else Population.empty()
        # This process precomputes requests between measurements: keep it off the server's core.
        os.sched_setaffinity(0, {settings.load_core})
        result = Run([], source_fingerprint(), [], line)
        bare_rps: float | None = None
        for scenario in scenarios:
            print(f"== {scenario.key}: {scenario.title}", flush=True)
            busy = [] if settings.smoke else wait_idle(settings.cores, IDLE_WAIT_S)
            for warning in busy:
                print(f"   warning: {warning}", flush=True)
            # partybot does strictly more than the bare app on the same core, so the bare rate (with
            # margin) bounds what its files must hold.
            ceiling = float(settings.max_rate) if bare_rps is None else min(settings.max_rate, 1.3 * bare_rps)
            outcome = run_scenario(
                scenario, settings, factory, population, community, content, bare, Path(tmp) / scenario.key,
                ceiling,
            )  # fmt: skip
            if not scenario.partybot and outcome.valid:
                bare_rps = outcome.load.rps
            if scenario.partybot and bare_rps:
                outcome.ratio = outcome.load.rps / bare_rps
            outcome.warnings[:0] = busy
            if settings.profile_dir is not None and scenario.partybot:
                outcome.warnings.append(
                    f"profiled: py-spy sampled the server {PROFILE_RATE} times a second, so the figures "
                    "are low"
                )
            result.outcomes.append(outcome)
            load = outcome.load
            print(
                f"   {load.rps:,.0f} req/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms"
                + ("" if outcome.valid else f"  INVALID: {'; '.join(outcome.problems)}"),
                flush=True,
            )
            if outcome.profile:
                print(outcome.profile, flush=True)
    if source_fingerprint() != result.fingerprint:
        result.warnings.append(
            "partybot's source changed during the run: the scenarios may have measured different code"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM as ^C: the servers are stopped on the way out (the `finally`s), not left running.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = dt.datetime.now(dt.UTC)
    command = shlex.join([".venv/bin/python", "bench/webhook_bench.py", *sys.argv[1:]])
    try:
        settings = Settings(
            args.duration, args.warmup, args.connections, args.max_rate, *cores(args.smoke), args.smoke,
            args.profile, args.uvloop,
        )  # fmt: skip
        result = run(args, settings)
    except BenchError as exc:
        print(f"webhook_bench: {exc}", file=sys.stderr)
        return 2
    section = results_section(result, settings, command, started)
    print()
    print(section)
    for outcome in result.outcomes:
        if outcome.profile:
            print(f"\nWhere {outcome.scenario.key}'s server spent its time (py-spy):\n\n{outcome.profile}")
    if args.write:
        try:
            write_results(section, args.uvloop)
        except BenchError as exc:
            print(f"webhook_bench: {exc}", file=sys.stderr)
            return 2
        print(f"\nwrote the results to {BENCHMARKS_MD.relative_to(ROOT)}")
    return 0 if all(o.valid for o in result.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
