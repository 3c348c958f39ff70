"""``ruvon.definition.problems``: every problem of a definition at once, each at its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ruvon.definition.problems import check_path, file_problems

BROKEN = """
workflow_type: A
initial_state_model: engine_steps.NoSuchModel
bogus: 1
steps:
  - name: One
    function: engine_steps.no_such_function
  - name: Two
    function: engine_steps.step
    automate_nxt: true
  - name: Decide
    type: DECISION
    routes:
      - condition: "state.n > 1"
        target: Nowhere
  - name: Loop
    type: LOOP
    iterate_over: state.items
    loop_body:
      - name: Body
        function: nope.nope
  - name: Two
    function: engine_steps.step
  - name: Three
    type: WHATEVER
"""

GOOD = """
workflow_type: {type}
initial_state_model: engine_steps.S
steps:
  - name: A
    function: engine_steps.step
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_every_problem_of_a_file__in_line_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.yaml", BROKEN)

    found = [(p.line, p.step, p.key) for p in file_problems(path)]

    assert found == [
        (2, None, "initial_state_model"),
        (3, None, "bogus"),
        (6, "One", "function"),
        (9, "Two", "automate_nxt"),
        (14, "Decide", "routes.0.target"),
        (20, "Body", "function"),
        (21, "Two", "name"),
        (24, "Three", "type"),
    ]
    assert all(str(p).startswith(f"{path}:{p.line}, workflow 'A'") for p in file_problems(path))


def test_a_sound_file_has_no_problems_and_a_directory_reports_its_definitions(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "config" / "g.yaml", GOOD.format(type="G"))
    _write(tmp_path / "config" / "notes.yml", "just: notes\n")

    report = check_path(tmp_path / "config")

    assert report.problems == []
    assert report.definitions == [("G", "1", str(tmp_path / "config" / "g.yaml"))]
    assert report.files == [
        str(tmp_path / "config" / "g.yaml"),
        str(tmp_path / "config" / "notes.yml"),
    ]


def test_a_directory__malformed_yaml_and_cross_file_problems(tmp_path: Path) -> None:
    config = tmp_path / "config"
    _write(config / "bad.yaml", "workflow_type: C\nsteps: [\n")
    _write(config / "broken.yaml", BROKEN)
    report = check_path(config)
    assert [p.file for p in report.problems][:1] == [str(config / "bad.yaml")]
    assert "malformed YAML" in str(report.problems[0]) and report.problems[0].line == 3
    assert len(report.problems) == 9

    for name in ("bad.yaml", "broken.yaml"):
        (config / name).unlink()
    _write(config / "t1.yaml", GOOD.format(type="T"))
    _write(config / "t2.yaml", GOOD.format(type="T"))
    twice = check_path(config)
    assert len(twice.problems) == 1
    assert "is defined twice" in str(twice.problems[0])
