"""Loads content/: reply texts, role menus and intents. Loaded once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class IntentSpec:
    name: str
    phrases: frozenset[str]
    keywords: frozenset[str]


@dataclass(frozen=True, slots=True)
class Content:
    texts: dict[str, Any]
    menus: dict[str, tuple[MenuItem, ...]]
    menu_keys: dict[str, str]
    community_name: str
    intents: tuple[IntentSpec, ...]
    userdict_path: Path
    rendered_menus: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rendered_menus.update({role: self._render_menu(role) for role in self.menus})

    def text(self, key: str, **values: object) -> str:
        template = self.texts.get(key)
        if not isinstance(template, str):
            raise ContentError(f"content/texts.yaml has no text {key!r}")
        return template.format(**values) if values else template

    def kind_name(self, kind: str) -> str:
        names = self.texts.get("kind_names", {})
        return str(names.get(kind, names.get("other", kind)))

    def menu(self, role: str) -> tuple[MenuItem, ...]:
        return self.menus.get(role) or self.menus["resident"]

    def render_menu(self, role: str) -> str:
        return self.rendered_menus.get(role) or self.rendered_menus["resident"]

    def _render_menu(self, role: str) -> str:
        lines = [self.text("menu_prompt")]
        lines += [f"{i} {item.label}" for i, item in enumerate(self.menu(role), start=1)]
        lines.append(self.text("menu_footer"))
        return "\n".join(lines)


def default_content_dir() -> Path:
    return Path(str(resources.files("content")))


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: {exc}") from exc


def load_content(directory: Path | None = None) -> Content:
    directory = directory or default_content_dir()
    texts = _load_yaml(directory / "texts.yaml")
    menus_doc = _load_yaml(directory / "menus.yaml")
    intents_doc = _load_yaml(directory / "intents.yaml")
    if not isinstance(texts, dict) or not isinstance(menus_doc, dict) or not isinstance(intents_doc, dict):
        raise ContentError(f"{directory}: texts.yaml, menus.yaml and intents.yaml must be mappings")
    menus = {
        role: tuple(MenuItem(intent=str(i["intent"]), label=str(i["label"])) for i in items)
        for role, items in menus_doc.get("menus", {}).items()
    }
    if "resident" not in menus:
        raise ContentError("content/menus.yaml must define the resident menu")
    intents = tuple(
        IntentSpec(
            name=str(name),
            phrases=frozenset(str(p).lower() for p in (spec or {}).get("phrases", []) or []),
            keywords=frozenset(str(k).lower() for k in (spec or {}).get("keywords", []) or []),
        )
        for name, spec in intents_doc.items()
    )
    known = {i.name for i in intents}
    for role, items in menus.items():
        for item in items:
            if item.intent not in known:
                raise ContentError(f"menus.yaml: {role} menu item {item.label!r} names unknown intent")
    menu_keys = {str(k): str(v) for k, v in (menus_doc.get("menu_keys") or {}).items()}
    return Content(
        texts=texts,
        menus=menus,
        menu_keys=menu_keys,
        community_name=str(menus_doc.get("community_name", "")),
        intents=intents,
        userdict_path=directory / "userdict.txt",
    )
