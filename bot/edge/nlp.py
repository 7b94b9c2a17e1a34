"""Text normalisation and intent matching.

One dedicated ``jieba.Tokenizer`` with partybot's user dictionary, loaded at start-up (never on the
first message); full-width -> half-width (NFKC), traditional -> simplified (OpenCC), Chinese numerals
-> digits (cn2an) where a number is expected.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable

import cn2an
import jieba
import opencc

from bot.content import Content

_SPACES = re.compile(r"\s+")
# Punctuation people (and speech recognition) put around a short command: "帮助。", "帮助!".
_EDGE_PUNCT = "。．.，,！!？?、；;：:～~…·\"'“”‘’「」『』（）()【】[] "
_NUMERALS = frozenset("零〇一二两三四五六七八九十百千万壹贰叁肆伍陆柒捌玖拾佰仟0123456789")
_NUMBER_AFFIXES = re.compile(r"^(?:第|选)?(.+?)(?:项|个|号|条)?$")


class NLP:
    def __init__(self, content: Content) -> None:
        self.content = content
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        with content.userdict_path.open("rb") as userdict:  # jieba leaves a path's file open
            self.tokenizer.load_userdict(userdict)
        self._t2s = opencc.OpenCC("t2s")
        self._phrases: dict[str, str] = {}
        self._keywords: list[tuple[str, frozenset[str]]] = []
        prefixes: list[tuple[str, str]] = []
        for spec in content.intents:
            for phrase in spec.phrases:
                self._phrases.setdefault(self._fold(phrase), spec.name)
            self._keywords.append((spec.name, frozenset(self._fold(k) for k in spec.keywords)))
            prefixes += [(self._fold(p), spec.name) for p in spec.prefixes]
        # Longest first, so "反映问题" is not taken for a shorter prefix of another intent.
        self._prefixes = sorted(prefixes, key=lambda item: -len(item[0]))
        # 学习园地's index (bot.domain.study_index) cuts the same texts whenever a database is indexed afresh
        # and people search the same words: remember the last few thousand.
        self.search_tokens: Callable[[str], tuple[str, ...]] = functools.lru_cache(maxsize=4096)(
            self._search_tokens
        )

    def _fold(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        text = _SPACES.sub(" ", text).strip()
        text = str(self._t2s.convert(text))
        return text.lower()

    def normalize(self, text: str) -> str:
        """Full-width -> half-width, traditional -> simplified, spaces collapsed, edge punctuation
        stripped (keeping a lone "?", which means help)."""
        folded = self._fold(text)
        stripped = folded.strip(_EDGE_PUNCT)
        return stripped if stripped else folded

    def number(self, text: str, *, normalized: bool = False) -> int | None:
        """The number a user typed or said where a number is expected: "1", "１", "一", "第一项"."""
        normalized_text = text if normalized else self.normalize(text)
        compact = normalized_text.replace(" ", "")
        if not compact:
            return None
        match = _NUMBER_AFFIXES.match(compact)
        core = match.group(1) if match else compact
        if core.isascii() and core.isdigit():
            return int(core) if len(core) <= 6 else None
        if len(core) > 6 or not set(core) <= _NUMERALS:
            return None  # ordinary words never reach cn2an (its refusal is an exception: slow)
        try:
            value = cn2an.cn2an(core, "smart")
        except (ValueError, KeyError, IndexError):
            return None
        if isinstance(value, float) and not value.is_integer():
            return None
        return int(value)

    def tokens(self, text: str) -> list[str]:
        return [t for t in self.tokenizer.lcut(text) if t.strip()]

    def _search_tokens(self, text: str) -> tuple[str, ...]:
        """jieba's search mode (垃圾分类 → 垃圾, 分类, 垃圾分类), for the study index and its queries."""
        return tuple(self.tokenizer.lcut_for_search(text))

    def intent(self, normalized: str) -> str | None:
        """The intent of a normalised message: an exact phrase first, then a leading command word ("反映
        3号楼楼道灯坏了"), then a jieba keyword."""
        if not normalized:
            return None
        exact = self._phrases.get(normalized)
        if exact is not None:
            return exact
        for prefix, name in self._prefixes:
            if normalized.startswith(prefix):
                return name
        tokens = set(self.tokens(normalized))
        for name, keywords in self._keywords:
            if keywords & tokens:
                return name
        return None


def quiet_jieba() -> None:
    """jieba logs its dictionary loading at DEBUG to its own handler; keep it out of our logs."""
    jieba.setLogLevel(logging.WARNING)
