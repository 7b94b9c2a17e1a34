"""`pip install -e .` prints no packaging warning, and a wheel carries the demo community's files.

pip shows what the build backend warns as `BuildBackendWarning`; this runs the same backend (setuptools,
from the dev tools) on a copy of the project and fails on any warning it emits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

from tests.conftest import require

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "bot", "handlers", "models", "scheduler", "content")

# One build per process, as pip runs them (setuptools keeps state between builds in one process).
BUILD = """
import json, sys, warnings
import setuptools.build_meta as backend

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    built = getattr(backend, sys.argv[1])(sys.argv[2])
print(json.dumps({
    "built": built,
    "warnings": [f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}" for w in caught],
}))
"""


def build(project: Path, hook: str, dist: Path) -> str:
    """Run the build backend's `hook` on `project`; the file built, after checking it warned of nothing."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD, hook, str(dist)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["warnings"] == [], hook
    return str(result["built"])


def test_the_package_builds_without_warnings_and_carries_the_demo_files(tmp_path: Path) -> None:
    major = int(version("setuptools").split(".")[0])
    require("setuptools>=68", major >= 68, "bash scripts/setup.sh installs it with the dev tools")
    project, dist = tmp_path / "project", tmp_path / "dist"
    project.mkdir()
    dist.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, project / name)
    editable_wheel = build(project, "build_editable", dist)
    wheel_file = build(project, "build_wheel", dist)

    with zipfile.ZipFile(dist / wheel_file) as wheel:
        names = set(wheel.namelist())
    demo = {p.name for p in (REPO / "content" / "demo").iterdir() if p.suffix in (".csv", ".md")}
    assert {f"content/demo/{name}" for name in demo} <= names
    assert {"content/texts.yaml", "models/migrations/script.py.mako", "bot/dev/demo.py"} <= names
    assert {"content/holidays.yaml", "content/theme_days/default.md"} <= names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)

    # An editable install is a plain path entry for the project (no import finder to warn about).
    with zipfile.ZipFile(dist / editable_wheel) as editable:
        pth = [name for name in editable.namelist() if name.endswith(".pth")]
        assert len(pth) == 1
        assert editable.read(pth[0]).decode().strip() == str(project.resolve())
