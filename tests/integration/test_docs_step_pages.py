"""The step-type pages show real files and real output: every code block marked
``<!-- file: PATH -->`` is that file, byte for byte, and every block marked
``<!-- output: PATH -->`` is what running that script (from its directory) prints now."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs" / "steps").glob("*.md"))
MARKED = re.compile(r"<!-- (file|output): (\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)


def blocks(page: Path) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in MARKED.finditer(page.read_text())]


def test_every_step_type_has_a_page_with_examples() -> None:
    names = {p.stem for p in PAGES}
    assert {"decision", "human-in-the-loop", "loop"} <= names
    for page in PAGES:
        kinds = {kind for kind, _, _ in blocks(page)}
        assert kinds == {"file", "output"}, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_page_shows_its_files_as_they_are(page: Path) -> None:
    for kind, path, text in blocks(page):
        if kind == "file":
            assert (ROOT / path).read_text() == text, f"{page.name} shows an old {path}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_page_shows_what_its_example_prints(page: Path) -> None:
    for kind, path, text in blocks(page):
        if kind != "output":
            continue
        script = ROOT / path
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
        done = subprocess.run(
            [sys.executable, script.name],
            cwd=script.parent,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == text, f"{page.name}: {path} prints something else now"
