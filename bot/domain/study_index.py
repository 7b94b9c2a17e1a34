"""学习园地's search: an in-memory BM25 index (bm25s) over jieba tokens of every active material, with the
newest-first order beside it, kept in step with the folders and the table.

- Tokens: the app's one jieba tokenizer in search mode (`lcut_for_search`: 垃圾分类 → 垃圾, 分类, 垃圾分类),
  on NFKC-folded lower-case text, punctuation and a few function words dropped. A document is its title
  three times, its tags three times, its summary and its body, so a title or tag hit weighs more than one in
  the body — one index, one score, nothing hand-ranked. Tokens are stored with the row (`search_tokens`,
  with the tokenizer's fingerprint), so a start-up cuts only what is new or changed.
- Who sees what (audience, unit) is a 0/1 weight mask over the documents, made once per kind of viewer.
- Changes: every PARTYBOT_STUDY_SCAN_S (5 s) at most, on a 学习 request, the folders are stat-ed (no file
  read unless something changed) and the table's count and latest change compared (a link another process
  added); the index is rebuilt only when something changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import bm25s
import numpy as np
from sqlalchemy import Table, and_, bindparam, case, func, select, update

from bot.domain.policy import within
from bot.domain.study import Viewer, dated, sync_directory
from bot.domain.study_files import signature
from models import StudyMaterial
from models.db import Database

log = logging.getLogger(__name__)

Tokenize = Callable[[str], Iterable[str]]
TITLE_WEIGHT = 3
TAG_WEIGHT = 3
SCHEME = "search-v1"  # change when doc_tokens changes: stored tokens are made again
STOPWORDS = frozenset(
    {
        "的",
        "了",
        "和",
        "与",
        "及",
        "是",
        "在",
        "等",
        "对",
        "把",
        "被",
        "也",
        "都",
        "而",
        "之",
        "其",
        "或",
        "着",
        "个",
        "这",
        "那",
        "有",
    }
)
AUDIENCE_CODES = {"all": 0, "elderly": 1, "mobile": 2, "in_service": 3}
MASKS_KEPT = 512


def fingerprint(userdict: Path | None) -> str:
    """Names the tokenizer stored tokens were made with: jieba's version, the scheme, the user dictionary."""
    import jieba

    digest = hashlib.sha256(userdict.read_bytes() if userdict and userdict.exists() else b"").hexdigest()
    return f"jieba-{jieba.__version__}-{SCHEME}-{digest[:16]}"


def fold(text: str) -> str:
    """A title or query compared as a whole: NFKC, lower case, no spaces or edge punctuation."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split()).strip("《》“”\"'。.")


def _keep(token: str) -> bool:
    token = token.strip()
    return bool(token) and token not in STOPWORDS and any(ch.isalnum() for ch in token)


def text_tokens(tokenize: Tokenize, text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).lower()
    return [t.strip() for t in tokenize(folded) if _keep(t)]


def doc_tokens(tokenize: Tokenize, title: str, tags: Sequence[str], summary: str, body: str) -> list[str]:
    title_part = text_tokens(tokenize, title)
    tag_part = [t for tag in tags for t in text_tokens(tokenize, tag)]
    return (
        title_part * TITLE_WEIGHT
        + tag_part * TAG_WEIGHT
        + text_tokens(tokenize, summary)
        + text_tokens(tokenize, body)
    )


def query_tokens(tokenize: Tokenize, query: str) -> list[str]:
    return list(dict.fromkeys(text_tokens(tokenize, query)))


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index knows of one active material (the body is read when it is opened)."""

    id: int
    source: str
    title: str
    shown: date  # its date, else the day it was indexed
    tags: tuple[str, ...]
    summary: str
    audience: str
    unit_path: str | None
    url: str | None
    version: int


@dataclass(slots=True)
class _Snapshot:
    entries: list[Entry]
    retriever: Any | None  # bm25s.BM25
    audiences: np.ndarray[Any, Any]
    unit_ix: np.ndarray[Any, Any]
    units: list[str | None]
    newest: np.ndarray[Any, Any]  # document indices, newest first
    rank: np.ndarray[Any, Any]  # each document's place in `newest`
    by_id: dict[int, int]
    by_title: dict[str, list[int]]  # folded title → documents: a query that is a whole title finds it first
    masks: dict[tuple[frozenset[str], str | None, bool], np.ndarray[Any, Any]] = field(default_factory=dict)

    def mask(self, viewer: Viewer) -> np.ndarray[Any, Any]:
        found = self.masks.get(viewer.key)
        if found is not None:
            return found
        if viewer.sees_all:
            made = np.ones(len(self.entries), dtype=np.float32)
        else:
            codes = [AUDIENCE_CODES[a] for a in viewer.audiences if a in AUDIENCE_CODES]
            audience_ok = np.isin(self.audiences, codes)
            unit_ok = np.array(
                [
                    u is None or (viewer.unit_path is not None and within(viewer.unit_path, u))
                    for u in self.units
                ],
                dtype=bool,
            )
            made = (audience_ok & unit_ok[self.unit_ix]).astype(np.float32)
        if len(self.masks) >= MASKS_KEPT:
            self.masks.clear()
        self.masks[viewer.key] = made
        return made


def build_snapshot(entries: list[Entry], tokens: list[list[str]]) -> _Snapshot:
    """The index over these entries (CPU only: run it off the event loop)."""
    retriever = None
    if entries:
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
    titles: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        titles.setdefault(fold(e.title), []).append(i)
    units = sorted({e.unit_path for e in entries}, key=lambda u: u or "")
    unit_of = {u: i for i, u in enumerate(units)}
    newest = np.array(
        sorted(range(len(entries)), key=lambda i: (entries[i].shown, entries[i].id), reverse=True),
        dtype=np.int64,
    )
    rank = np.empty(len(entries), dtype=np.int64)
    rank[newest] = np.arange(len(entries))
    return _Snapshot(
        entries=entries,
        retriever=retriever,
        audiences=np.array([AUDIENCE_CODES.get(e.audience, -1) for e in entries], dtype=np.int8),
        unit_ix=np.array([unit_of[e.unit_path] for e in entries], dtype=np.int32),
        units=units,
        newest=newest,
        rank=rank,
        by_id={e.id: i for i, e in enumerate(entries)},
        by_title=titles,
    )


class StudyLibrary:
    """The index of one process: built at start-up, refreshed on use (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        tokenize: Tokenize,
        tokenizer_id: str,
        sources: Sequence[tuple[str, Path | None]],
        *,
        timezone: str,
        scan_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db, self._tokenize, self._tokenizer_id = db, tokenize, tokenizer_id
        self._sources = list(sources)
        self._timezone, self._scan_s, self._monotonic = timezone, scan_s, monotonic
        self._snapshot = build_snapshot([], [])
        self._signatures: dict[str, tuple[tuple[str, int, int], ...] | None] = {}
        self._state: tuple[Any, ...] | None = None
        self._checked_at = float("-inf")
        self._dirty = True
        self._lock = asyncio.Lock()
        self._reported: set[tuple[str, int, str]] = set()

    def __len__(self) -> int:
        return len(self._snapshot.entries)

    def invalidate(self) -> None:
        """This process changed the table (a link was added): look again at the next use."""
        self._dirty = True

    async def refresh(self, now: datetime, *, force: bool = False) -> bool:
        """Bring the index up to date if the last look is older than the scan interval (or `force`).
        Returns whether it was rebuilt."""
        if not (force or self._dirty) and self._monotonic() - self._checked_at < self._scan_s:
            return False
        async with self._lock:
            if not (force or self._dirty) and self._monotonic() - self._checked_at < self._scan_s:
                return False
            self._checked_at, self._dirty = self._monotonic(), False
            touched = force
            for source, directory in self._sources:
                seen = await asyncio.to_thread(signature, directory)
                if force or self._signatures.get(source) != seen:
                    result = await sync_directory(self._db, source, directory, now)
                    self._signatures[source] = seen
                    self._report(result.problems)
                    touched = touched or result.touched
            state = await self._table_state()
            if state == self._state and not touched:
                return False
            await self._rebuild()
            self._state = state
            return True

    def _report(self, problems: Iterable[Any]) -> None:
        for problem in problems:
            key = (str(problem.path), problem.line, problem.code)
            if key not in self._reported:
                self._reported.add(key)
                log.warning(
                    "study material left out: %s:%s: %s %s",
                    problem.path,
                    problem.line,
                    problem.code,
                    problem.values,
                )

    async def _table_state(self) -> tuple[Any, ...]:
        """What changes when any process adds, changes or retires a material (one aggregate query)."""
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(
                        func.count(),
                        func.sum(case((StudyMaterial.active.is_(True), 1), else_=0)),
                        func.sum(StudyMaterial.version),
                        func.max(StudyMaterial.id),
                        func.max(StudyMaterial.updated_at),
                    )
                )
            ).one()
        return tuple(row)

    async def _rebuild(self) -> None:
        columns = (
            StudyMaterial.id,
            StudyMaterial.source,
            StudyMaterial.title,
            StudyMaterial.date,
            StudyMaterial.tags,
            StudyMaterial.summary,
            StudyMaterial.audience,
            StudyMaterial.unit_path,
            StudyMaterial.url,
            StudyMaterial.version,
            StudyMaterial.created_at,
            StudyMaterial.content_hash,
            StudyMaterial.search_tokens,
            StudyMaterial.tokenized_with,
        )
        async with self._db.read() as session:
            rows = (await session.execute(select(*columns).where(StudyMaterial.active.is_(True)))).all()
            stale = [r.id for r in rows if r.search_tokens is None or r.tokenized_with != self._tokenizer_id]
            bodies = (
                {
                    int(i): str(body)
                    for i, body in (
                        await session.execute(
                            select(StudyMaterial.id, StudyMaterial.body).where(StudyMaterial.id.in_(stale))
                        )
                    ).all()
                }
                if stale
                else {}
            )
        entries: list[Entry] = []
        raw_tokens: list[str | None] = []
        for r in rows:
            entries.append(
                Entry(
                    id=r.id,
                    source=r.source,
                    title=r.title,
                    shown=dated(r.date, r.created_at, self._timezone),
                    tags=tuple(r.tags or ()),
                    summary=r.summary,
                    audience=r.audience,
                    unit_path=r.unit_path,
                    url=r.url,
                    version=r.version,
                )
            )
            fresh = r.id not in bodies
            raw_tokens.append(r.search_tokens if fresh else None)
        made = await asyncio.to_thread(self._cut, rows, bodies)
        if made:
            await self._store_tokens(made)
        tokens = [
            (raw.split(" ") if raw else []) if raw is not None else made[r.id][1].split(" ")
            for r, raw in zip(rows, raw_tokens, strict=True)
        ]
        tokens = [[t for t in doc if t] for doc in tokens]
        self._snapshot = await asyncio.to_thread(build_snapshot, entries, tokens)

    def _cut(self, rows: Sequence[Any], bodies: dict[int, str]) -> dict[int, tuple[str, str]]:
        """Tokens for the rows whose stored ones are missing or stale: id → (content hash, tokens)."""
        return {
            r.id: (
                r.content_hash,
                " ".join(doc_tokens(self._tokenize, r.title, r.tags or (), r.summary, bodies[r.id])),
            )
            for r in rows
            if r.id in bodies
        }

    async def _store_tokens(self, made: dict[int, tuple[str, str]]) -> None:
        """Keep the tokens with their rows, unless the row changed meanwhile (its hash moved on)."""
        table = cast(Table, StudyMaterial.__table__)
        statement = (
            update(table)
            .where(and_(table.c.id == bindparam("b_id"), table.c.content_hash == bindparam("b_hash")))
            .values(search_tokens=bindparam("b_tokens"), tokenized_with=bindparam("b_with"))
        )
        values = [
            {"b_id": i, "b_hash": digest, "b_tokens": tokens, "b_with": self._tokenizer_id}
            for i, (digest, tokens) in made.items()
        ]
        await self._db.run(lambda session: session.execute(statement, values))

    # --- reading ------------------------------------------------------------------------------------

    def get(self, material_id: int) -> Entry | None:
        snapshot = self._snapshot
        index = snapshot.by_id.get(material_id)
        return snapshot.entries[index] if index is not None else None

    def newest(self, viewer: Viewer, k: int = 5) -> list[Entry]:
        snapshot = self._snapshot
        if not snapshot.entries:
            return []
        mask = snapshot.mask(viewer)
        order = snapshot.newest[mask[snapshot.newest] > 0][:k]
        return [snapshot.entries[int(i)] for i in order]

    def search(self, query: str, viewer: Viewer, k: int = 5) -> list[Entry]:
        """The best `k` materials this viewer sees for the query (BM25 over title, tags and text; equal
        scores: the newer first; a query that is a material's whole title: that one first); [] when nothing
        matches."""
        snapshot = self._snapshot
        tokens = query_tokens(self._tokenize, query)
        retriever = snapshot.retriever
        if retriever is None:
            return []
        known = [t for t in tokens if t in retriever.vocab_dict]
        if not known:
            return []
        mask = snapshot.mask(viewer)
        scores = retriever.get_scores(known, weight_mask=mask)
        hits = np.flatnonzero(scores > 0)
        if hits.size == 0:
            return []
        best = [int(i) for i in hits[np.lexsort((snapshot.rank[hits], -scores[hits]))][:k]]
        # The whole title typed (or pasted from a push): that material first, whatever the scores say.
        exact = [i for i in snapshot.by_title.get(fold(query), []) if mask[i] > 0]
        chosen = list(dict.fromkeys([*exact, *best]))[:k]
        return [snapshot.entries[i] for i in chosen]
