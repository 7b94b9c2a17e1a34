"""The texts a secretary reads (content/import.yaml) and ImportFailed, the error for a file that cannot be
imported at all."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from bot.content import ContentError, default_content_dir


@cache
def _texts() -> dict[str, Any]:
    path = default_content_dir() / "import.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ContentError(f"{path} must be a mapping")
    return doc


def message(key: str, /, **values: object) -> str:
    """A text from content/import.yaml by dotted key (`row.phone`), formatted with values."""
    node: Any = _texts()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ContentError(f"content/import.yaml has no text {key!r}")
        node = node[part]
    if not isinstance(node, str):
        raise ContentError(f"content/import.yaml: {key!r} is not a text")
    return node.format(**values) if values else node


class ImportFailed(Exception):
    """The file cannot be imported at all: unreadable, not CSV/XLSX, a required column missing, or phones
    without a data key. The message (Chinese, one line) says why; nothing was written."""
