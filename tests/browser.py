"""What the browser tests share: Debian's Chromium (the `chromium` fixture lives in conftest.py), where their
screenshots go, and the launch options (no sandbox when the tests run as root, as in CI's container)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"


def artifacts(tmp_path: Path) -> Path:
    """The screenshots' folder: under PARTYBOT_TEST_ARTIFACTS when set (CI keeps it), else the test's tmp."""
    base = os.environ.get("PARTYBOT_TEST_ARTIFACTS")
    folder = Path(base) / "console" if base else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch_args() -> list[str]:
    return ["--no-sandbox"] if os.geteuid() == 0 else []


# An office PC's screen (the console's smallest supported desktop), in Chinese.
DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}


def watch(page: Any, errors: list[str]) -> None:
    """Collect a page's script errors and any pop-up (the console has none) into `errors`."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"a pop-up: {dialog.message}"))
