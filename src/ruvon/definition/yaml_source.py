"""Reading definition YAML: parse errors with file and line, duplicate keys, a line index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ruvon.errors import DefinitionError

Path_ = tuple[str | int, ...]


class LineIndex:
    """Maps a key path inside a YAML document (``("steps", 2, "type")``) to its 1-based line."""

    def __init__(self, lines: dict[Path_, int] | None = None) -> None:
        self._lines = lines or {}

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def _index(node: yaml.Node, path: Path_, out: dict[Path_, int], source: str) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DefinitionError(
                    f"duplicate key '{key}' (first on line {seen[key]})", file=source, line=line
                )
            seen[key] = line
            _index(value_node, (*path, key), out, source)
            out[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), out, source)


def parse_yaml(text: str, source: str) -> tuple[Any, LineIndex]:
    """Parse YAML ``text`` (named ``source`` in errors) into data plus its line index."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise DefinitionError(f"malformed YAML: {problem}", file=source, line=line) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError(f"malformed YAML: {exc}", file=source) from exc
    lines: dict[Path_, int] = {}
    if node is not None:
        _index(node, (), lines, source)
    return data, LineIndex(lines)


def read_yaml(path: Path) -> tuple[Any, LineIndex]:
    """Read and parse the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"can not read file: {exc.strerror}", file=str(path)) from exc
    return parse_yaml(text, str(path))
