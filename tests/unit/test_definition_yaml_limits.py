"""Hostile definition YAML is refused while it is read, before anything expands it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from ruvon.definition import discover, load_definition_file, yaml_source
from ruvon.definition.yaml_source import MAX_ALIASES, MAX_DOCUMENT_LENGTH, MAX_NESTING_DEPTH
from ruvon.errors import DefinitionError

F = "defs_fixtures.steps"

# The classic "billion laughs": 342 bytes, nine levels each aliasing the one before nine times,
# so the last key stands for 9**9 (387 million) strings once expanded.
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> DefinitionError:
    started = time.perf_counter()
    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)
    # Generous: the refusal takes milliseconds; expanding the bomb took tens of seconds.
    assert time.perf_counter() - started < 1.0
    assert info.value.file == str(path)
    assert isinstance(info.value.__cause__, yaml.YAMLError)
    return info.value


def test_billion_laughs__refused_fast_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "laughs.yaml", BILLION_LAUGHS)

    err = refused(path)

    # Level f is the first to stand for more than MAX_EXPANDED_NODES nodes (9**6 strings).
    assert err.line == 6
    assert err.detail.startswith("YAML refused: the document expands to more than")
    assert str(err).startswith(f"{path}:6: YAML refused")


def test_billion_laughs__refused_fast_when_scanning_a_config_dir(tmp_path: Path) -> None:
    write(tmp_path, "laughs.yaml", "workflow_type: Laughs\n" + BILLION_LAUGHS)

    started = time.perf_counter()
    with pytest.raises(DefinitionError, match=r"laughs\.yaml:7: YAML refused"):
        discover(config_dir=tmp_path)
    assert time.perf_counter() - started < 1.0


def test_aliases_within_the_limits_still_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shared.yaml",
        f"""\
workflow_type: Shared
initial_state_model: {F}.OrderState
steps:
  - name: first
    function: {F}.ok_step
    retry_policy: &retry {{max_attempts: 4, initial_delay: 0.5, retry_on: [ValueError]}}
  - name: second
    function: {F}.ok_step
    retry_policy: *retry
""",
    )

    definition = load_definition_file(path)

    first, second = (step.spec.retry_policy for step in definition.steps)
    assert first == second
    assert second.max_attempts == 4


def test_too_many_aliases__refused(tmp_path: Path) -> None:
    uses = ", ".join(["*x"] * (MAX_ALIASES + 1))
    path = write(tmp_path, "many.yaml", f"anchor: &x 1\nuses: [{uses}]\n")

    err = refused(path)

    assert err.line == 2
    assert err.detail == f"YAML refused: more than {MAX_ALIASES} aliases are used"


def test_alias_inside_its_own_anchor__refused(tmp_path: Path) -> None:
    path = write(tmp_path, "cycle.yaml", "workflow_type: Cycle\nsteps: &s [*s]\n")

    err = refused(path)

    assert (err.line, err.detail) == (2, "YAML refused: alias *s refers to a node that contains it")


def test_deep_nesting__refused(tmp_path: Path) -> None:
    depth = 5000
    path = write(tmp_path, "deep.yaml", "steps: " + "[" * depth + "]" * depth + "\n")

    err = refused(path)

    assert err.detail == f"YAML refused: nesting is deeper than {MAX_NESTING_DEPTH} levels"


def test_large_document_without_aliases__refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Distinct nodes, no alias: the limit is on what the document stands for. (Lowered, so the
    # test does not spend seconds parsing MAX_EXPANDED_NODES nodes.)
    monkeypatch.setattr(yaml_source, "MAX_EXPANDED_NODES", 1000)
    items = "\n".join(f"- {n}" for n in range(1000))
    path = write(tmp_path, "wide.yaml", "workflow_type: Wide\nsteps:\n" + items + "\n")

    err = refused(path)

    assert (err.line, err.detail) == (
        3,  # the sequence starts on its first item
        "YAML refused: the document expands to more than 1000 nodes "
        "(an alias counts as a copy of what it refers to)",
    )


def test_oversized_file__refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "huge.yaml", "workflow_type: Huge\n#" + "x" * MAX_DOCUMENT_LENGTH + "\n")

    def no_reading(self: Path, *args: object, **kwargs: object) -> str:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_text", no_reading)
    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)

    assert info.value.file == str(path)
    assert info.value.detail.startswith(
        f"YAML refused: the file is {MAX_DOCUMENT_LENGTH + 22} bytes long"
    )


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("1" * 5000, "malformed YAML: can not read the int value: Exceeds the limit (4300 digits)"),
        ("2024-13-01", "malformed YAML: can not read the timestamp value: month must be in 1..12"),
        ("!!int ten", "malformed YAML: can not read the int value: invalid literal for int()"),
    ],
)
def test_value_that_does_not_convert__is_a_definition_error_at_its_line(
    tmp_path: Path, value: str, detail: str
) -> None:
    path = write(tmp_path, "values.yaml", f"workflow_type: Values\ndescription: {value}\n")

    err = refused(path)

    assert err.line == 2
    assert err.detail.startswith(detail)
