"""Reading definition YAML: parse errors with file and line, duplicate keys, a line index.

Definitions may come from people the operator does not fully trust, so reading one is bounded
before anything is expanded: the text length, the nesting depth, the number of aliases, and the
number of nodes the document stands for once every alias is expanded. A "billion laughs"
document (each level aliasing the one before ten times) is refused while it is being composed,
in time linear in its text, with a :class:`DefinitionError` naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
import yaml.composer
import yaml.constructor

from ruvon.errors import DefinitionError

Path_ = tuple[str | int, ...]

#: Longest definition text accepted, in characters (bytes for a file, checked before reading).
#: Reading is linear but not fast (about 250 KB/s): a 1,000-step definition is about 215 KB.
MAX_DOCUMENT_LENGTH = 512 * 1024
#: Deepest nesting of mappings and sequences.
MAX_NESTING_DEPTH = 100
#: Most alias uses (``*name``, including ``<<: *name`` merges) in one document.
MAX_ALIASES = 100
#: Most nodes the document stands for with every alias expanded.
MAX_EXPANDED_NODES = 100_000


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


class _LimitError(yaml.composer.ComposerError):
    """The document is over one of the limits above."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that bounds depth, alias uses and expanded size while composing.

    The expanded size of every finished node (itself plus its children, an alias counting as
    the whole node it refers to) is kept, so an alias costs one lookup and the total is known
    before anything expands it.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            return self._compose_alias(parent, index, event)
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise _refused(f"nesting is deeper than {MAX_NESTING_DEPTH} levels", event)
        node = super().compose_node(parent, index)
        self._depth -= 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(key)] + self._sizes[id(value)] for key, value in node.value)
        if size > MAX_EXPANDED_NODES:
            raise _refused(
                f"the document expands to more than {MAX_EXPANDED_NODES} nodes "
                "(an alias counts as a copy of what it refers to)",
                event,
            )
        self._sizes[id(node)] = size
        return node

    def _compose_alias(self, parent: yaml.Node | None, index: Any, event: Any) -> yaml.Node | None:
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise _refused(f"more than {MAX_ALIASES} aliases are used", event)
        node = super().compose_node(parent, index)
        if id(node) not in self._sizes:
            # The anchored node is still being composed: the alias would make a cycle.
            raise _refused(f"alias *{event.anchor} refers to a node that contains it", event)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar that matches a tag's pattern can still fail to convert (an integer of
        # 5,000 digits, a 13th month): report it as YAML at its line, not as a bare ValueError.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"can not read the {node.tag.rsplit(':', 1)[-1]} value: {exc}",
                node.start_mark,
            ) from exc


def _refused(problem: str, event: Any) -> _LimitError:
    return _LimitError(None, None, problem, event.start_mark)


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


def _load(text: str) -> tuple[yaml.Node | None, Any]:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def parse_yaml(text: str, source: str) -> tuple[Any, LineIndex]:
    """Parse YAML ``text`` (named ``source`` in errors) into data plus its line index."""
    if len(text) > MAX_DOCUMENT_LENGTH:
        raise DefinitionError(
            f"YAML refused: the document is {len(text)} characters long, longer than the "
            f"{MAX_DOCUMENT_LENGTH} allowed",
            file=source,
        )
    try:
        node, data = _load(text)
    except _LimitError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DefinitionError(f"YAML refused: {exc.problem}", file=source, line=line) from exc
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
    """Read and parse the YAML file at ``path``; a file over the length limit is not read."""
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_LENGTH:
            raise DefinitionError(
                f"YAML refused: the file is {size} bytes long, longer than the "
                f"{MAX_DOCUMENT_LENGTH} allowed",
                file=str(path),
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"can not read file: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:  # saved in another encoding (Latin-1, UTF-16, ...)
        raise DefinitionError(
            f"the file is not UTF-8 text: byte {exc.object[exc.start]:#04x} can not be read "
            "(save the file as UTF-8)",
            file=str(path),
            line=exc.object.count(b"\n", 0, exc.start) + 1,
        ) from exc
    return parse_yaml(text, str(path))
