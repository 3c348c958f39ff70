"""docs/observability.md says what the code does: its example files are the files and print what
the page shows, and its tables of events, log levels and metrics are complete and exact."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from ruvon.implementations.observability.logging import level_of
from ruvon.implementations.observability.prometheus import PrometheusObserver
from ruvon.providers.observer import EventKind

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "observability.md"
MARKED = re.compile(r"<!-- (file|output): (\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)


def _section(title: str) -> str:
    text = PAGE.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _rows(text: str) -> list[list[str]]:
    """The cells of each row of the markdown tables in ``text`` (header rows included)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]


def test_observability_page__shows_its_files_and_what_the_example_prints() -> None:
    blocks = [(m.group(1), m.group(2), m.group(3)) for m in MARKED.finditer(PAGE.read_text())]
    assert {kind for kind, _, _ in blocks} == {"file", "output"}
    for kind, path, text in blocks:
        if kind == "file":
            assert (ROOT / path).read_text() == text, f"the page shows an old {path}"
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
        assert done.stdout == text, f"{path} prints something else now"


def test_observability_page__lists_every_event_kind_once() -> None:
    rows = _rows(_section("## Events"))
    kinds = [row[0].strip("`") for row in rows if row[0].startswith("`")]
    assert sorted(kinds) == sorted(kind.value for kind in EventKind)


def test_observability_page__gives_the_log_level_each_event_is_written_at() -> None:
    table = _section("Each event kind is written at one level")
    documented: dict[str, int] = {}
    for level, events in (row for row in _rows(table) if row[0].startswith("`")):
        for kind in re.findall(r"`(\w+)`", events):
            assert kind not in documented, kind
            documented[kind] = logging.getLevelName(level.strip("`"))
    assert documented == {kind.value: level_of(kind) for kind in EventKind}


def test_observability_page__lists_every_metric_with_its_type() -> None:
    registry = CollectorRegistry()
    PrometheusObserver(registry)
    actual = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        actual[name] = family.type
    rows = _rows(_section("## PrometheusObserver"))
    documented = {row[0].strip("`"): row[1] for row in rows if row[0].startswith("`ruvon_")}
    assert documented == actual
