"""Where a partybot server's time goes, from a py-spy recording of it under load (webhook_bench.py --profile).

`Recording` runs `py-spy record --format raw --threads` on the server (collapsed stacks, one line per stack
with its thread id and sample count) and reads each thread's CPU time from /proc around the measured run.
`summarise` sorts every sample into the message path's steps (identity lookup, parse, render, dedupe, ...)
and the plumbing that carries them (aiohttp, the event loop, hand-offs between threads), then shares each
thread's CPU time out over its samples, so that the shares add up to what the server's one core spent;
given the number of answers in the window, it says how many microseconds of that core each costs per answer.

What py-spy shows and what it does not:
- samples of a thread waiting for work (the event loop in epoll, the SQLite writer and aiosqlite's threads on
  their queues) are idle and left out; CPU a thread spent beyond its other samples was spent there — waking
  up, taking the GIL — and is shown as such (for aiosqlite's threads: the other half of each hand-off);
- SQLAlchemy's async session runs the ORM in a greenlet, whose frames py-spy sees without the coroutine that
  awaited it (the identity lookup, a handler): those samples are "async ORM calls", named by the Session
  method they are in;
- a commit that waits on the disk is counted as if it were CPU (the writer's time is shared by samples).

    .venv/bin/python bench/profile_summary.py /tmp/prof/plain-cold.txt    # a recording made by --profile

(with the CPU times kept beside it in plain-cold.cpu.json; without them, in samples). The recording itself
opens in https://www.speedscope.app (collapsed stacks) or flamegraph.pl.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _line_of(path: str, needle: str) -> str:
    """The line number of `needle` in a standard or installed module's source; any line when not found."""
    for base in sys.path:
        candidate = Path(base) / path
        if candidate.is_file():
            for number, text in enumerate(candidate.read_text(errors="replace").splitlines(), start=1):
                if needle in text:
                    return str(number)
    return r"\d+"


# Innermost frames of a thread with nothing to do: the event loop in epoll, the SQLite writer and
# aiosqlite's threads waiting on their queues (at that line: elsewhere in the function they are working).
_POOL_WAIT = _line_of("concurrent/futures/thread.py", "work_queue.get(block=True)")
_AIOSQLITE_WAIT = _line_of("aiosqlite/core.py", "tx.get()")
IDLE_LEAVES = (
    re.compile(r"^EpollSelector\.select \(selectors\.py"),
    re.compile(rf"^_worker \(concurrent/futures/thread\.py:{_POOL_WAIT}\)"),
    re.compile(rf"^_connection_worker_thread \(aiosqlite/core\.py:{_AIOSQLITE_WAIT}\)"),
    re.compile(r"^(Condition\.wait|Event\.wait|Thread\._wait_for_tstate_lock) \(threading\.py"),
)
# CPU a thread spent while its samples showed it waiting (see summarise): waking up and handing the GIL over.
WAKING = {
    True: "event loop: epoll, waking up (CPU while py-spy saw it waiting)",
    False: "waking up for work, taking the GIL (CPU while py-spy saw it waiting: the hand-off's other half)",
}


# Where a thread's own work starts: the frames above it (the thread's start, run_app, ...) are not counted.
WORK_STARTS = re.compile(r"^(BaseEventLoop\._run_once|_WorkItem\.run) ")
# The message path's steps, (name, frame pattern): a sample goes to the first step any of its frames
# matches, so inner steps come before the outer ones that call them.
STEPS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("identity lookup (bot/domain/identity.py)", r"\(bot/domain/identity\.py"),
        ("handler (handlers/*)", r"\(handlers/"),
        ("render the reply (render_reply, wechatpy)", r"^render_reply |\(wechatpy/replies"),
        ("safe mode: AES and msg_signature (Cipher)", r"^Cipher\.|\(wechatpy/crypto|\(cryptography/"),
        ("parse the XML (parse_xml, parse_incoming)", r"^(parse_xml|parse_incoming|_FlatReader\.\w+) "),
        ("signature and timestamp check", r"^(check_signature|sign|fresh\w*) \(bot/wechat/wire\.py"),
        ("dedupe claim (bot/edge/dedupe.py)", r"\(bot/edge/dedupe\.py"),
        ("write-behind (bot/edge/writebehind.py)", r"\(bot/edge/writebehind\.py"),
        ("conversation state (bot/edge/conversation.py)", r"\(bot/edge/conversation\.py"),
        ("intent: normalise, match (bot/edge/nlp.py, jieba, opencc)",
         r"\(bot/edge/nlp\.py|\(jieba/|\(opencc/"),
        ("router (bot/edge/router.py)", r"\(bot/edge/router\.py"),
        ("waiting replies, menus, texts (bot/outbound/waiting.py, bot/content.py)",
         r"\(bot/outbound/waiting\.py|\(bot/content\.py"),
        ("metrics (prometheus_client)", r"\(prometheus_client/|\(bot/metrics\.py"),
        ("dispatcher, per-user lock, context (bot/edge/dispatcher.py, locks.py, context.py)",
         r"\(bot/edge/(dispatcher|locks|context)\.py"),
    )
)  # fmt: skip
# Handing work to another thread and back, wherever it is done (the step it was for is shown beside it). On
# the event loop's thread aiosqlite's own frames are that too (queueing a call, waking up for its result).
HANDOFF = "event loop ↔ threads: hand-offs (run_in_executor, call_soon_threadsafe, futures, aiosqlite)"
HANDOFF_FRAMES = re.compile(
    r"^(BaseEventLoop\.call_soon_threadsafe|\w+\._write_to_self|\w+\._read_from_self|BaseEventLoop\."
    r"run_in_executor|_chain_future|_copy_future_state|_call_set_state|_set_state|wrap_future|"
    r"ThreadPoolExecutor\.submit) "
)
AIOSQLITE = re.compile(r"\(aiosqlite/")
# SQLAlchemy's async session runs the ORM in a greenlet: py-spy sees that greenlet's frames alone, without the
# coroutine (identity lookup, handler) that awaited it.
GREENLET = "async ORM calls, in SQLAlchemy's greenlet (the await that made them is not on this stack)"
# What carries the steps, innermost frame first (asyncio frames are looked through: they are the loop's).
GLUE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("aiohttp: HTTP parsing, request and response objects", r"\(aiohttp/|\(multidict/|\(yarl/"),
        ("transaction begin and commit (models/db.py Database.run; commit partly waits on the disk)",
         r"\(models/db\.py"),
        ("webhook: budget task, answer (bot/edge/webhook.py, bot/app.py)",
         r"\(bot/edge/webhook\.py|\(bot/app\.py"),
        ("other partybot code", r"\((bot|models|handlers)/"),
        ("SQLite queries and row fetches (sqlite3, in aiosqlite's threads)", r"\(aiosqlite/"),
        ("SQLAlchemy outside the steps above", r"\(sqlalchemy/"),
    )
)  # fmt: skip
LOOP = "event loop: scheduling, tasks, timers, sockets (asyncio)"
LOOKED_THROUGH = re.compile(r"\((asyncio|concurrent|contextlib\.py|threading\.py|selectors\.py)")
LOOKED_THROUGH_FIRST = re.compile(f"{LOOKED_THROUGH.pattern}|\\(sqlalchemy/")
OTHER = "no Python frame on the stack (C code: garbage collection, greenlet switches, ...), or unclassified"
# Where inside a step the time went, by the innermost frame's library.
LIBRARIES = (
    ("SQLAlchemy", re.compile(r"\(sqlalchemy/")),
    ("aiosqlite and sqlite3", re.compile(r"\(aiosqlite/|\(sqlite3/")),
    ("asyncio", re.compile(r"\(asyncio/|\(selectors\.py|\(concurrent/")),
    ("partybot's own code", re.compile(r"\((bot|models|handlers)/")),
)


def categorise(frames: list[str], main: bool = True) -> tuple[str, str]:
    """(category, what inside it) of one sample's frames, outermost first; `main`: the event loop's thread."""
    greenlet = main and bool(frames) and not frames[0].startswith("<module>")
    start = max((i for i, f in enumerate(frames) if WORK_STARTS.match(f)), default=0)
    frames = frames[start:]
    step = next((name for name, p in STEPS if any(p.search(f) for f in frames)), None)
    if any(HANDOFF_FRAMES.search(f) or (main and AIOSQLITE.search(f)) for f in frames):
        return HANDOFF, f"for {step or ('an ORM call in a greenlet' if greenlet else 'the loop')}"
    if greenlet and step is None:
        return GREENLET, frames[0].split(" (")[0]
    leaf = frames[-1] if frames else ""
    library = next((lib for lib, p in LIBRARIES if p.search(leaf)), "C extensions and the rest")
    if step is not None:
        return step, library
    # SQLAlchemy is looked through too, the first time: its time is its caller's when there is one.
    for skip in (LOOKED_THROUGH_FIRST, LOOKED_THROUGH):
        for frame in reversed(frames):
            if skip.search(frame):
                continue
            glue = next((name for name, p in GLUE if p.search(frame)), None)
            if glue is not None:
                return glue, library
    if any(LOOKED_THROUGH.search(f) for f in frames):
        return LOOP, library
    return OTHER, library


THREAD = re.compile(r"^thread \((\d+)\): (.*)$")


@dataclass(slots=True)
class Thread:
    tid: int
    name: str
    samples: int = 0  # not idle
    idle: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    libraries: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def read(path: Path) -> dict[int, Thread]:
    threads: dict[int, Thread] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        head, *frames = stack.split(";")
        match = THREAD.match(head)
        if match is None:  # recorded without --threads: one anonymous thread
            match, frames = None, [head, *frames]
        tid, name = (int(match[1]), match[2]) if match else (0, "all threads")
        thread = threads.setdefault(tid, Thread(tid, name))
        n = int(count)
        leaf = frames[-1] if frames else ""
        if any(p.match(leaf) for p in IDLE_LEAVES):
            thread.idle += n
            continue
        thread.samples += n
        category, inside = categorise(frames, main=name.startswith("MainThread"))
        thread.categories[category] += n
        thread.libraries[category][inside] += n
    return threads


def thread_kind(name: str) -> str:
    if name.startswith("MainThread"):
        return "the event loop's thread"
    if name.startswith("sqlite-writer"):
        return "the SQLite writer thread (every write, the write-behind's included)"
    if "_connection_worker_thread" in name:
        return "aiosqlite's reader threads (async reads)"
    return f"other threads ({name})"


def summarise(
    path: Path, cpu_s: dict[int, float] | None = None, answers: int | None = None, rate: int | None = None
) -> str:
    """A markdown table of where the server's CPU went. With each thread's CPU seconds (by thread id) and
    py-spy's rate, in seconds of CPU rather than samples; with the answers in the window, per answer too.

    A thread's CPU is shared out over its samples that were not idle. When it is more than those samples'
    time (samples / rate), the rest was spent where py-spy saw the thread waiting — waking up, taking the
    GIL — and is shown as such; when less (the thread was waiting for the core or the GIL, or for the disk),
    its samples are scaled down to it."""
    threads = read(path)
    if not threads:
        return f"{path}: no samples"
    timed = cpu_s is not None and rate is not None
    rows: list[tuple[str, str, float, Counter[str]]] = []
    per_thread: Counter[str] = Counter()
    groups: dict[str, list[Thread]] = defaultdict(list)
    for thread in threads.values():
        groups[thread_kind(thread.name)].append(thread)
    for kind, members in sorted(groups.items(), key=lambda kv: kv[0] != "the event loop's thread"):
        merged: Counter[str] = Counter()
        libs: dict[str, Counter[str]] = defaultdict(Counter)
        for t in members:
            weight = 1.0
            if timed:
                assert cpu_s is not None and rate is not None
                cpu, seen = cpu_s.get(t.tid, 0.0), t.samples / rate
                weight = min(cpu, seen) / t.samples if t.samples else 0.0
                if cpu > seen:
                    waking = WAKING[t.name.startswith("MainThread")]
                    merged[waking] += cpu - seen
                    libs[waking]["not sampled"] += cpu - seen
            for category, n in t.categories.items():
                merged[category] += n * weight
                for lib, m in t.libraries[category].items():
                    libs[category][lib] += m * weight
        per_thread[kind] = sum(merged.values())
        for category, value in merged.most_common():
            rows.append((kind, category, value, libs[category]))
    total = sum(value for _, _, value, _ in rows) or 1.0
    per_answer = bool(answers) and timed
    head = "| thread | where | share |" + (" µs per answer |" if per_answer else "") + " inside it |"
    lines = [head, "|---|---|---:|" + ("---:|" if per_answer else "") + "---|"]
    for kind, category, value, libs in rows:
        if value / total < 0.005:
            continue
        inside = ", ".join(
            f"{lib} {m / value:.0%}"
            for lib, m in libs.most_common()
            if m / value >= 0.05 and lib != "not sampled"
        )
        per = f" {1e6 * value / answers:,.0f} |" if per_answer and answers else ""
        lines.append(f"| {kind} | {category} | {value / total:.1%} |{per} {inside} |")
    samples = sum(t.samples for t in threads.values())
    idle = sum(t.idle for t in threads.values())
    unit = "CPU s" if timed else "samples"
    lines.append("")
    lines.append(
        f"{samples:,} samples ({idle:,} idle ones left out); "
        + ", ".join(f"{kind} {value / total:.0%}" for kind, value in per_thread.most_common())
        + f"; total {total:,.2f} {unit}"
        + (
            f" for {answers:,} answers: {1e6 * total / answers:,.0f} µs of the server's core per answer."
            if per_answer and answers
            else "."
        )
    )
    return "\n".join(lines)


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each of the process's threads, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    times: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        times[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return times


class Recording:
    """py-spy recording a process for `seconds`, on `core`, with its threads' CPU read around it."""

    def __init__(
        self, pid: int, out: Path, seconds: int, core: int, rate: int,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        here = Path(sys.executable).parent
        py_spy = shutil.which("py-spy", path=f"{here}{os.pathsep}{os.environ.get('PATH', '')}")
        if py_spy is None:
            raise RuntimeError("py-spy not found (the dev extras: .venv/bin/pip install -e '.[dev]')")
        self.pid, self.out, self.rate = pid, out, rate
        command = [
            "taskset", "-c", str(core), py_spy, "record", "--pid", str(pid), "--rate", str(rate),
            "--duration", str(seconds), "--threads", "--format", "raw", "--output", str(out),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=preexec_fn
        )
        self.cpu_before = thread_cpu(pid)

    def finish(self, answers: int | None = None) -> str:
        """Wait for py-spy; the summary. `answers`: how many the server gave while it recorded."""
        cpu_after = thread_cpu(self.pid)  # first: the CPU of the window the answers were counted in
        output = self.proc.communicate(timeout=120)[0].decode(errors="replace")
        if self.proc.returncode != 0 or not self.out.exists():
            raise RuntimeError(f"py-spy failed ({self.proc.returncode}):\n{output}")
        cpu = {tid: after - self.cpu_before.get(tid, 0.0) for tid, after in cpu_after.items()}
        # Beside the recording, so that `profile_summary.py RECORDING` can say the same later.
        facts = {"cpu_s": {str(tid): s for tid, s in cpu.items()}, "answers": answers, "rate": self.rate}
        sidecar(self.out).write_text(json.dumps(facts))
        return summarise(self.out, cpu, answers, self.rate)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sidecar(recording: Path) -> Path:
    """Where a recording's CPU times, answers and rate are kept."""
    return recording.with_suffix(".cpu.json")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {sys.argv[0]} RECORDING  (made by webhook_bench.py --profile DIR)", file=sys.stderr)
        return 2
    recording = Path(argv[0])
    facts = json.loads(sidecar(recording).read_text()) if sidecar(recording).exists() else {}
    cpu = {int(tid): float(s) for tid, s in facts["cpu_s"].items()} if facts else None
    print(summarise(recording, cpu, facts.get("answers"), facts.get("rate")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
