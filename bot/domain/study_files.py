"""学习园地 files: Markdown with front matter (python-frontmatter), as shipped in content/study and kept by
the community in PARTYBOT_STUDY_DIR. Reading one, checking one (`partybot study check`: problems with their
line, as codes the CLI puts into words), and a folder's cheap signature (stat only) to notice a change.

Front matter:

    ---
    title: 党员的八项义务            # required
    date: 2026-11-20                # optional (YYYY-MM-DD); else the day it was first indexed
    tags: [党章, 党员义务]           # optional: a list, or words separated by commas
    summary: 一两句话说明这篇讲什么    # optional: else the beginning of the text
    audience: all                   # all (default), elderly, mobile, in_service
    unit: 青禾街道党工委/银杏社区党委/第一网格党支部   # optional: only that unit's subtree sees it
    ---
    正文……
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

AUDIENCES = ("all", "elderly", "mobile", "in_service")
# The words a community might write instead of the codes.
AUDIENCE_WORDS = {
    "全体": "all",
    "全部": "all",
    "所有": "all",
    "老年": "elderly",
    "老年党员": "elderly",
    "流动": "mobile",
    "流动党员": "mobile",
    "在职": "in_service",
    "在职党员": "in_service",
}
TITLE_MAX = 200
SUMMARY_CHARS = 120  # a summary made from the text: about two sentences, read aloud in well under a minute
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")
_BOUNDARY = re.compile(r"^-{3,}\s*$", re.MULTILINE)


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, with dates left as text: `_date` reads them, so 2026-13-45 is a problem to point
    at, not an exception."""


def _date_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _date_as_text)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a file: where (1-based line) and what (a code, with values for its words:
    content/texts.yaml `study_check_<code>`)."""

    path: Path
    line: int
    code: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MaterialFile:
    """One file as read: its key within its folder, its hash and what it says."""

    relpath: str  # within its folder, with "/" separators
    content_hash: str
    title: str
    date: date | None
    tags: tuple[str, ...]
    summary: str
    audience: str
    unit_path: str | None
    body: str


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def material_paths(directory: Path) -> Iterator[Path]:
    """Every *.md file under `directory` (hidden files and folders skipped), in a stable order."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".md") and not name.startswith("."):
                yield Path(root) / name


def signature(directory: Path | None) -> tuple[tuple[str, int, int], ...]:
    """What changes when a file is added, removed, renamed or edited: every folder's and file's mtime and
    size (stat only, nothing read). About a millisecond per thousand files."""
    if directory is None or not directory.is_dir():
        return ()
    found: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        try:
            stat = os.stat(root)
        except OSError:
            continue
        found.append((root, stat.st_mtime_ns, 0))
        for name in sorted(files):
            if name.endswith(".md") and not name.startswith("."):
                try:
                    stat = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                found.append((os.path.join(root, name), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def relpath(path: Path, directory: Path) -> str:
    return path.relative_to(directory).as_posix()


def _key_lines(front: str) -> dict[str, int]:
    """The line (within the front matter text) of each top-level key, for problems about a value."""
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line for key, _ in node.value if isinstance(key, yaml.ScalarNode)}


def _date(value: Any) -> date | str | None:
    """A date, None when absent, or the text when it is not a date (a problem)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return text


def plain_text(markdown: str) -> str:
    """Markdown as a chat message shows it: no heading marks, emphasis, link syntax or code fences."""
    lines = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            continue
        stripped = re.sub(r"^#{1,6}\s*", "", stripped)
        stripped = re.sub(r"^[-*+]\s+", "· ", stripped)
        stripped = re.sub(r"^>\s?", "", stripped)
        stripped = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", stripped)
        stripped = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1（\2）", stripped)
        stripped = re.sub(r"(\*\*|__|\*|`)", "", stripped)
        lines.append(stripped)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def summary_from(body: str) -> str:
    """A summary when the file gives none: the text's first paragraph, cut at a sentence end if it can."""
    first = next((p.strip() for p in body.split("\n\n") if p.strip()), "")
    first = first.replace("\n", "")
    if len(first) <= SUMMARY_CHARS:
        return first
    cut = first[:SUMMARY_CHARS]
    end = max(cut.rfind(c) for c in "。！？；")
    return cut[: end + 1] if end >= SUMMARY_CHARS // 2 else cut + "……"


def read_material(path: Path, directory: Path) -> tuple[MaterialFile | None, list[Problem]]:
    """Read and check one file: the material, or None with the problems that keep it out."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(path, 1, "unreadable", {"reason": exc.strerror or str(exc)})]
    return parse_material(data, path, relpath(path, directory))


def parse_material(data: bytes, path: Path, rel: str) -> tuple[MaterialFile | None, list[Problem]]:
    """A file's bytes as a material (see the module's docstring), or None with its problems."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(path, line, "not_utf8")]
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    first = text.split("\n", 1)[0]
    if not _BOUNDARY.fullmatch(first):
        return None, [Problem(path, 1, "no_front_matter")]
    try:
        front, body = YAMLHandler().split(text)
    except ValueError:
        return None, [Problem(path, 1, "front_matter_unclosed")]
    # `front` starts with the rest of line 1, so its line n (0-based) is the file's line n + 1; the text
    # starts on the line after the closing ---.
    lines_of = text.split("\n")
    body_line = next((n + 1 for n in range(2, len(lines_of) + 1) if _BOUNDARY.fullmatch(lines_of[n - 1])), 1)
    try:
        meta = YAMLHandler().load(front, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = str(getattr(exc, "problem", None) or exc).strip()
        return None, [Problem(path, (mark.line + 1) if mark else 1, "bad_yaml", {"reason": reason})]
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return None, [Problem(path, 2, "bad_yaml", {"reason": "not key: value pairs"})]
    lines: dict[str, int] = {}

    def at(key: str) -> int:
        """The file's line of a key (read only when there is a problem to point at)."""
        if not lines:
            lines.update(_key_lines(front) or {"": 0})
        return lines[key] + 1 if key in lines else 1

    problems: list[Problem] = []
    title = str(meta.get("title") or "").strip()
    if not title:
        problems.append(Problem(path, at("title"), "missing_title"))
    elif len(title) > TITLE_MAX:
        problems.append(Problem(path, at("title"), "long_title", {"limit": str(TITLE_MAX)}))
    when = _date(meta.get("date"))
    if isinstance(when, str):
        problems.append(Problem(path, at("date"), "bad_date", {"value": when}))
    raw_audience = str(meta.get("audience") or "all").strip()
    audience = AUDIENCE_WORDS.get(raw_audience, raw_audience.lower())
    if audience not in AUDIENCES:
        problems.append(Problem(path, at("audience"), "bad_audience", {"value": raw_audience}))
    raw_tags = meta.get("tags") or []
    if isinstance(raw_tags, str):
        tags = tuple(t for t in _TAG_SPLIT.split(raw_tags) if t)
    elif isinstance(raw_tags, list) and all(isinstance(t, (str, int, float)) for t in raw_tags):
        tags = tuple(str(t).strip() for t in raw_tags if str(t).strip())
    else:
        tags = ()
        problems.append(Problem(path, at("tags"), "bad_tags"))
    unit = meta.get("unit")
    unit_path = str(unit).strip().strip("/") if unit else None
    if unit is not None and not isinstance(unit, str):
        problems.append(Problem(path, at("unit"), "bad_unit"))
    plain = plain_text(body)
    if not plain:
        problems.append(Problem(path, body_line, "empty_body"))
    if problems:
        return None, problems
    summary = " ".join(str(meta.get("summary") or "").split()) or summary_from(plain)
    assert not isinstance(when, str)
    return (
        MaterialFile(
            relpath=rel,
            content_hash=content_hash(data),
            title=title,
            date=when,
            tags=tags,
            summary=summary,
            audience=audience,
            unit_path=unit_path or None,
            body=plain,
        ),
        [],
    )


def check_directory(directory: Path) -> tuple[int, list[Problem]]:
    """`partybot study check`: how many files, and every problem of each."""
    count, problems = 0, []
    for path in material_paths(directory):
        count += 1
        problems += read_material(path, directory)[1]
    return count, problems
