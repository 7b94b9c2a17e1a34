"""Pages of 党费情况 (handlers/dues.py): names lists cut to fit a passive reply."""

from __future__ import annotations


def pack(sections: list[tuple[str, list[str]]], limit: int) -> list[str]:
    """Pages of at most `limit` bytes: each section is a heading and names joined by 、; a section cut at a
    page's end goes on, under its heading again, on the next page."""
    pages: list[str] = []
    current: list[str] = []

    def size(lines: list[str]) -> int:
        return len("\n".join(lines).encode())

    for heading, names in sections:
        line = heading
        for name in names:
            candidate = line + ("" if line == heading else "、") + name
            if size([*current, candidate]) > limit and line != heading:
                current.append(line)
                pages.append("\n".join(current))
                current, line = [], heading + name
            else:
                line = candidate
        if size([*current, line]) > limit and current:
            pages.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        pages.append("\n".join(current))
    return pages
