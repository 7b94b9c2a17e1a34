"""Loads content/: reply texts, role menus and intents. Loaded once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ContentError(Exception):
    """A file in content/ is missing or malformed."""


@dataclass(frozen=True, slots=True)
class MenuItem:
    intent: str
    label: str
    only: str | None = None  # shown only to people with this trait (bot.domain.policy.Identity.traits)


@dataclass(frozen=True, slots=True)
class IntentSpec:
    name: str
    phrases: frozenset[str]
    keywords: frozenset[str]
    prefixes: tuple[str, ...] = ()  # a message starting with one of these ("反映 3号楼楼道灯坏了")


@dataclass(frozen=True, slots=True)
class Content:
    texts: dict[str, Any]
    menus: dict[str, tuple[MenuItem, ...]]
    menu_keys: dict[str, str]
    community_name: str
    intents: tuple[IntentSpec, ...]
    userdict_path: Path
    # Capabilities not built yet, by intent: their menu item or words answer "即将开通" (menus.yaml).
    coming_soon: dict[str, str] = field(default_factory=dict)
    rendered_menus: dict[tuple[str, frozenset[str]], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rendered_menus.update(
            {(role, frozenset()): self._render_menu(role, frozenset()) for role in self.menus}
        )

    def text(self, key: str, **values: object) -> str:
        template = self.texts.get(key)
        if not isinstance(template, str):
            raise ContentError(f"content/texts.yaml has no text {key!r}")
        return template.format(**values) if values else template

    def moment(self, when: datetime, *, with_time: bool = True) -> str:
        """A local moment as people write it: 12月20日（星期日）09:00 (texts.yaml `moment`, `weekdays`)."""
        weekday = self.texts["weekdays"][when.weekday()]
        key = "moment" if with_time else "moment_date"
        return self.text(key, month=when.month, day=when.day, weekday=weekday, time=f"{when:%H:%M}")

    def kind_name(self, kind: str) -> str:
        names = self.texts.get("kind_names", {})
        return str(names.get(kind, names.get("other", kind)))

    def menu(self, role: str) -> tuple[MenuItem, ...]:
        """A role's menu, every item in its published place (numbers never change)."""
        return self.menus.get(role) or self.menus["resident"]

    def entries(self, role: str, traits: frozenset[str] = frozenset()) -> list[tuple[int, MenuItem]]:
        """The items a person sees, with their numbers: an item for a trait they lack (`only:`) is left
        out without renumbering the others."""
        return [
            (number, item)
            for number, item in enumerate(self.menu(role), start=1)
            if item.only is None or item.only in traits
        ]

    def item_at(self, role: str, number: int, traits: frozenset[str] = frozenset()) -> MenuItem | None:
        return next((item for n, item in self.entries(role, traits) if n == number), None)

    def number_of(self, role: str, intent: str, traits: frozenset[str] = frozenset()) -> int | None:
        return next((n for n, item in self.entries(role, traits) if item.intent == intent), None)

    def render_menu(self, role: str, traits: frozenset[str] = frozenset()) -> str:
        role = role if role in self.menus else "resident"
        key = (role, traits)
        rendered = self.rendered_menus.get(key)
        if rendered is None:
            rendered = self.rendered_menus[key] = self._render_menu(role, traits)
        return rendered

    def _render_menu(self, role: str, traits: frozenset[str]) -> str:
        lines = [self.text("menu_prompt")]
        lines += [f"{n} {item.label}" for n, item in self.entries(role, traits)]
        lines.append(self.text("menu_footer"))
        return "\n".join(lines)

    def hint(self, name: str, role: str, traits: frozenset[str] = frozenset()) -> str:
        """How this person reaches a menu item (texts.yaml `menu_hints`): "回复3开始绑定" when it is in the
        menu they see, otherwise the words that open it ("发送“绑定”开始绑定")."""
        spec = self.texts.get("menu_hints", {}).get(name)
        if not isinstance(spec, dict):
            raise ContentError(f"content/texts.yaml has no menu hint {name!r}")
        number = self.number_of(role, str(spec["intent"]), traits)
        if number is None:
            return str(spec["words"])
        return str(spec["number"]).format(number=number)


def default_content_dir() -> Path:
    return Path(str(resources.files("content")))


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: {exc}") from exc


def _capability_texts(folder: Path, taken: set[str]) -> dict[str, Any]:
    """content/texts/*.yaml: a capability's texts in a file of its own, merged into texts.yaml's (a key
    defined twice is an error, not a silent override)."""
    found: dict[str, Any] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        doc = _load_yaml(path)
        if not isinstance(doc, dict):
            raise ContentError(f"{path}: must be a mapping")
        twice = sorted((taken | set(found)) & set(doc))
        if twice:
            raise ContentError(f"{path}: texts defined twice: {', '.join(twice)}")
        found.update(doc)
    return found


def load_content(directory: Path | None = None) -> Content:
    directory = directory or default_content_dir()
    texts = _load_yaml(directory / "texts.yaml")
    if isinstance(texts, dict):
        texts.update(_capability_texts(directory / "texts", set(texts)))
    menus_doc = _load_yaml(directory / "menus.yaml")
    intents_doc = _load_yaml(directory / "intents.yaml")
    if not isinstance(texts, dict) or not isinstance(menus_doc, dict) or not isinstance(intents_doc, dict):
        raise ContentError(f"{directory}: texts.yaml, menus.yaml and intents.yaml must be mappings")
    menus = {
        role: tuple(
            MenuItem(intent=str(i["intent"]), label=str(i["label"]), only=i.get("only") and str(i["only"]))
            for i in items
        )
        for role, items in menus_doc.get("menus", {}).items()
    }
    if "resident" not in menus:
        raise ContentError("content/menus.yaml must define the resident menu")
    intents = tuple(
        IntentSpec(
            name=str(name),
            phrases=frozenset(str(p).lower() for p in (spec or {}).get("phrases", []) or []),
            keywords=frozenset(str(k).lower() for k in (spec or {}).get("keywords", []) or []),
            prefixes=tuple(str(p).lower() for p in (spec or {}).get("prefixes", []) or []),
        )
        for name, spec in intents_doc.items()
    )
    known = {i.name for i in intents}
    for role, items in menus.items():
        for item in items:
            if item.intent not in known:
                raise ContentError(f"menus.yaml: {role} menu item {item.label!r} names unknown intent")
    menu_keys = {str(k): str(v) for k, v in (menus_doc.get("menu_keys") or {}).items()}
    coming_soon = {str(k): str(v) for k, v in (menus_doc.get("coming_soon") or {}).items()}
    for intent in [*menu_keys.values(), *coming_soon]:
        if intent not in known:
            raise ContentError(f"menus.yaml names unknown intent {intent!r}")
    return Content(
        texts=texts,
        menus=menus,
        menu_keys=menu_keys,
        community_name=str(menus_doc.get("community_name", "")),
        intents=intents,
        userdict_path=directory / "userdict.txt",
        coming_soon=coming_soon,
    )
