"""Every problem of a definition at once (``ruvon validate``), not only the first.

Loading a definition stops at its first error. To find the others, the step at fault is set
aside: replaced by a step that does nothing under the same name, so that routes and
dependencies naming it still resolve, and the definition is loaded again, until it loads or
nothing more can be set aside. A problem at the top level is set aside too where that is
harmless (an unknown key is dropped, a state model that does not import is replaced by a
plain dict). So each step reports its first problem, and every step reports.

Definitions that are each sound can still disagree: two files claiming one type and version,
a ``SUB_WORKFLOW`` naming a type no file defines. Those are found by loading the directory
as :func:`~ruvon.definition.registry.discover` does, once every file is sound.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruvon.definition.parse import NESTED_STEP_LISTS
from ruvon.definition.registry import (
    REGISTRY_FILES,
    discover,
    load_definition,
    load_definition_file,
)
from ruvon.definition.yaml_source import LineIndex, read_yaml
from ruvon.errors import DefinitionError

_MAX_ROUNDS = 500  # a bound on reloads; far more than any definition has steps
_STATE_KEYS = ("initial_state_model", "initial_state_model_path")
_KEPT_TOP_KEYS = frozenset({"steps", "workflow_type"})  # without them nothing else can load
_PLACEHOLDER_TYPE = "HUMAN_IN_LOOP"  # a step type that needs no function: nothing to import


@dataclass(slots=True, kw_only=True)
class Report:
    """What :func:`check_path` found: the files read, the definitions that loaded (type,
    version, file) and every problem, in file order."""

    files: list[str] = field(default_factory=list)
    definitions: list[tuple[str, str, str]] = field(default_factory=list)
    problems: list[DefinitionError] = field(default_factory=list)


def data_problems(
    data: Any, *, source: str, lines: LineIndex | None = None
) -> list[DefinitionError]:
    """Every problem of one definition given as loaded YAML data (empty: it loads)."""
    lines = lines or LineIndex()
    work = copy.deepcopy(data)
    placeholders: dict[int, int] = {}  # id of a placeholder step -> times it was renamed
    found: list[DefinitionError] = []
    for _ in range(_MAX_ROUNDS):
        try:
            load_definition(work, source=source, lines=lines)
            break
        except DefinitionError as exc:
            if any(str(exc) == str(seen) for seen in found):
                break  # setting aside did not help: stop rather than repeat it
            found.append(exc)
            if not _set_aside(work, exc, lines, placeholders):
                break
    return sorted(found, key=lambda e: e.line or 0)


def file_problems(path: Path) -> list[DefinitionError]:
    """Every problem of the definition file at ``path``."""
    try:
        data, lines = read_yaml(path)
    except DefinitionError as exc:
        return [exc]
    return data_problems(data, source=str(path), lines=lines)


def check_path(path: Path) -> Report:
    """Check a definition file, a registry file, or a directory of definitions (every
    ``*.yaml``/``*.yml`` with a ``workflow_type``, and its registry file if it has one)."""
    report = Report()
    files = _files(path)
    for file in files:
        report.files.append(str(file))
        try:
            data, lines = read_yaml(file)
        except DefinitionError as exc:
            report.problems.append(exc)
            continue
        if not (isinstance(data, Mapping) and "workflow_type" in data):
            continue  # a registry file, or YAML that is not a definition: discover() reads it
        report.problems += data_problems(data, source=str(file), lines=lines)
    if report.problems:
        return report
    try:
        if path.is_dir() or not _is_definition(path):
            loaded = list(discover(path))
        else:  # one definition on its own: the types it starts may live in other files
            loaded = [load_definition_file(path)]
    except DefinitionError as exc:
        report.problems.append(exc)
        return report
    report.definitions = sorted((d.workflow_type, d.workflow_version, d.source) for d in loaded)
    return report


def _is_definition(path: Path) -> bool:
    data, _ = read_yaml(path)
    return isinstance(data, Mapping) and "workflow_type" in data


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    registry = [path / name for name in REGISTRY_FILES if (path / name).is_file()]
    return registry + sorted([*path.glob("*.yaml"), *path.glob("*.yml")])


# --- setting a problem aside -------------------------------------------------------------------


def _set_aside(
    work: Any, exc: DefinitionError, lines: LineIndex, placeholders: dict[int, int]
) -> bool:
    """Change ``work`` so that ``exc`` goes away without hiding other problems; ``False`` if
    that can not be done."""
    if not isinstance(work, dict):
        return False
    if exc.step is None:
        return _set_aside_top(work, exc)
    found = _step_at(work, exc, lines)
    if found is None:
        return False
    container, index = found
    old = container[index]
    renamed = placeholders.get(id(old))
    if renamed is not None:  # the placeholder itself is at fault: its name is taken
        if renamed:
            return False
        old["name"] = f"{old['name']} (set aside)"
        placeholders[id(old)] = 1
        return True
    name = old.get("name") if isinstance(old, dict) else None
    if not (isinstance(name, str) and name):
        name = f"#{index + 1}"
    elif exc.key == "name":  # the name itself is at fault (taken twice): the placeholder's is not
        name = f"{name} (set aside)"
    placeholder = {"name": name, "type": _PLACEHOLDER_TYPE}
    container[index] = placeholder
    placeholders[id(placeholder)] = 0
    return True


def _set_aside_top(work: dict[str, Any], exc: DefinitionError) -> bool:
    key = (exc.key or "").split(".", 1)[0]
    if key in _STATE_KEYS:
        if work.get("initial_state_model") == "dict":
            return False
        for name in _STATE_KEYS:
            work.pop(name, None)
        work["initial_state_model"] = "dict"  # a plain dict state: imports nothing
        return True
    if key and key not in _KEPT_TOP_KEYS and key in work:
        del work[key]
        return True
    return False


def _steps(
    items: Any, at: tuple[str | int, ...]
) -> Iterator[tuple[list[Any], int, tuple[str | int, ...]]]:
    """Every step mapping, nested lists included: its list, its position, its key path."""
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        yield items, i, (*at, i)
        if isinstance(item, dict):
            for key in NESTED_STEP_LISTS:
                yield from _steps(item.get(key), (*at, i, key))


def _step_at(
    work: dict[str, Any], exc: DefinitionError, lines: LineIndex
) -> tuple[list[Any], int] | None:
    """The step ``exc`` is about: one of that name (``#n``: the n-th of its list) whose text
    starts at or before the error's line, the last such; else the last step starting before
    the line."""
    named: list[tuple[int, list[Any], int]] = []
    any_step: list[tuple[int, list[Any], int]] = []
    for container, index, path in _steps(work.get("steps"), ("steps",)):
        start = lines.line(path) or 0
        if exc.line is not None and start > exc.line:
            continue
        item = container[index]
        name = item.get("name") if isinstance(item, dict) else None
        any_step.append((start, container, index))
        if name == exc.step or (not name and exc.step == f"#{index + 1}"):
            named.append((start, container, index))
    candidates = named or (any_step if exc.line is not None else [])
    if not candidates:
        return None
    _, container, index = max(candidates, key=lambda c: c[0])
    return container, index
