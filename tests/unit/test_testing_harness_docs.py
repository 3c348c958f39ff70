"""docs/testing.md: every code block on the page is a file of docs/examples/testing (or the
output or command the page says), and the example project's tests pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ruvon.testing import TestHarness

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"
EXAMPLE = ROOT / "docs" / "examples" / "testing"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- (.+?) -->\n$")
ORDER = {"order_id": "A-100", "amount": 25.0}  # the `order` fixture of the example's conftest


def blocks() -> list[tuple[str, str]]:
    """``(marker, body)`` of every fenced block; the marker is the comment on the line before."""
    text = PAGE.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        marker = MARKER.search(text, 0, match.start())
        assert marker is not None and marker.end() == match.start(), (
            f"block at offset {match.start()} of {PAGE.name} has no marker comment before it"
        )
        found.append((marker.group(1), match.group(2)))
    return found


def example_files() -> set[str]:
    return {
        p.relative_to(EXAMPLE).as_posix()
        for p in EXAMPLE.rglob("*")
        if p.is_file() and p.stat().st_size and "__pycache__" not in p.parts
    }


def the_block(marker: str) -> str:
    bodies = [body for m, body in blocks() if m == marker]
    assert len(bodies) == 1, marker
    return bodies[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project, so running it writes nothing into the repository."""
    target = tmp_path / "project"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def test_every_block_is_an_example_file_the_output_or_the_command() -> None:
    markers = [m for m, _ in blocks()]
    shown = [m.removeprefix("example: ") for m in markers if m.startswith("example: ")]
    assert sorted(shown) == sorted(example_files())  # each non-empty file, once
    assert sorted(set(markers) - {f"example: {f}" for f in shown}) == [
        "command",
        "output: check_saga OrderFlow",
    ]


@pytest.mark.parametrize("rel", sorted(example_files()))
def test_the_page_shows_the_file_as_it_is(rel: str) -> None:
    assert the_block(f"example: {rel}") == (EXAMPLE / rel).read_text(encoding="utf-8")


def test_the_example_project_passes_its_tests(project: Path) -> None:
    command = the_block("command").split()
    assert command[:3] == ["python", "-m", "pytest"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUVON_", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        # warnings are errors: pytest would warn if it tried to collect TestHarness as a test
        [sys.executable, *command[1:], "-p", "no:cacheprovider", "-W", "error", "-q"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = sum(
        len(re.findall(r"^(?:async )?def test_", p.read_text(), re.MULTILINE))
        for p in (project / "tests").glob("test_*.py")
    )
    assert tests >= 10 and f"{tests} passed" in proc.stdout, proc.stdout


@pytest.fixture
def inside(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example project current and importable in this process; its modules forgotten after."""
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(project)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    yield project
    for name in [n for n in sys.modules if n.partition(".")[0] == "orders"]:
        del sys.modules[name]


async def test_the_output_block_is_what_check_saga_prints(inside: Path) -> None:
    report = await TestHarness().check_saga("OrderFlow", ORDER)
    assert str(report) + "\n" == the_block("output: check_saga OrderFlow")
