"""PLACEHOLDER: filled in by the helper building this page (must not land as is)."""

from __future__ import annotations

from aiohttp import web


def add_routes(router: web.UrlDispatcher) -> None:
    """Register this module's routes (named; paths relative to /console)."""
