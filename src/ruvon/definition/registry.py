"""Finding workflow definitions (SPEC §1) and keeping them by type and version.

Discovery, in order: an explicit ``workflow_registry`` (a dict, or the path of a registry YAML);
else ``config_dir`` (default ``$RUVON_CONFIG_DIR``, else ``./config``): its
``workflow_registry.yaml`` if present, else every ``*.yaml``/``*.yml`` in it that has a
``workflow_type``.

A registry (file or dict) looks like::

    workflows:
      - type: PaymentProcessing          # optional; checked against the file
        config_file: payment.yaml        # relative to the registry file

A dict may also map ``workflow_type`` to a file path or to an inline definition mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ruvon.definition.compile import WorkflowDefinition, compile_definition
from ruvon.definition.parse import parse_definition
from ruvon.definition.yaml_source import LineIndex, read_yaml
from ruvon.errors import DefinitionError, UnknownWorkflowTypeError
from ruvon.providers.persistence import snapshot_digest

REGISTRY_FILE = "workflow_registry.yaml"


def _version_key(version: str) -> tuple[int, Any]:
    """Order versions as PEP 440 does (``1.0.0rc1`` < ``1.0.0`` < ``v2`` == ``2``);
    versions it can not parse sort before the ones it can, by their numeric parts."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (
            0,
            tuple(
                (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version)
            ),
        )


def load_definition(
    data: Any, *, source: str, lines: LineIndex | None = None
) -> WorkflowDefinition:
    """Validate and compile one definition given as already-loaded data."""
    spec = parse_definition(data, source=source, lines=lines)
    return compile_definition(spec, source=source, snapshot=data, lines=lines)


def load_definition_file(path: str | os.PathLike[str]) -> WorkflowDefinition:
    """Read, validate and compile the definition in the YAML file at ``path``."""
    data, lines = read_yaml(Path(path))
    return load_definition(data, source=str(path), lines=lines)


class DefinitionRegistry:
    """Compiled definitions by workflow type and version."""

    def __init__(self) -> None:
        self._defs: dict[str, dict[str, WorkflowDefinition]] = {}
        self._latest: dict[str, WorkflowDefinition] = {}

    def add(self, definition: WorkflowDefinition) -> None:
        versions = self._defs.setdefault(definition.workflow_type, {})
        other = versions.get(definition.workflow_version)
        if other is not None:
            raise DefinitionError(
                f"workflow type '{definition.workflow_type}' version "
                f"'{definition.workflow_version}' is defined twice: in {other.source} and in "
                f"{definition.source}",
                file=definition.source,
            )
        versions[definition.workflow_version] = definition
        self._latest[definition.workflow_type] = versions[max(versions, key=_version_key)]

    def get(self, workflow_type: str, version: str | None = None) -> WorkflowDefinition:
        """The definition of ``workflow_type`` at ``version`` (default: the highest version)."""
        if version is None:
            latest = self._latest.get(workflow_type)
            if latest is not None:
                return latest
        versions = self._defs.get(workflow_type)
        if not versions:
            known = ", ".join(sorted(self._defs)) or "none"
            raise UnknownWorkflowTypeError(
                f"unknown workflow type '{workflow_type}' (known: {known})",
                workflow_type=workflow_type,
            )
        if version is None:
            return versions[max(versions, key=_version_key)]
        if version not in versions:
            raise UnknownWorkflowTypeError(
                f"workflow type '{workflow_type}' has no version '{version}' "
                f"(known: {', '.join(sorted(versions, key=_version_key))})",
                workflow_type=workflow_type,
            )
        return versions[version]

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        for versions in self._defs.values():
            yield from versions.values()

    def types(self) -> list[str]:
        return sorted(self._defs)


def _entries(registry: Mapping[str, Any], source: str) -> Iterator[tuple[str | None, Any]]:
    """Yield ``(declared type, file path or inline mapping)`` from a registry mapping."""
    workflows = registry.get("workflows")
    if workflows is None:
        yield from ((str(k), v) for k, v in registry.items())
        return
    if isinstance(workflows, Mapping):
        yield from ((str(k), v) for k, v in workflows.items())
        return
    if not isinstance(workflows, list):
        raise DefinitionError("'workflows' must be a list", file=source, key="workflows")
    for i, entry in enumerate(workflows):
        if not isinstance(entry, Mapping):
            raise DefinitionError("each entry must be a mapping", file=source, key=f"workflows.{i}")
        path = entry.get("config_file") or entry.get("path") or entry.get("file")
        if path is None:
            raise DefinitionError(
                "entry needs 'config_file'", file=source, key=f"workflows.{i}.config_file"
            )
        yield entry.get("type") or entry.get("workflow_type"), path


def _load_registry(registry: Mapping[str, Any], base: Path, source: str) -> DefinitionRegistry:
    result = DefinitionRegistry()
    for declared, target in _entries(registry, source):
        if isinstance(target, Mapping):
            definition = load_definition(dict(target), source=f"{source}[{declared}]")
        elif isinstance(target, str | os.PathLike):
            path = Path(target)
            definition = load_definition_file(path if path.is_absolute() else base / path)
        else:
            raise DefinitionError(
                "entry must be a file path or a definition mapping", file=source, key=declared
            )
        if declared is not None and declared != definition.workflow_type:
            raise DefinitionError(
                f"registry says '{declared}' but the file defines '{definition.workflow_type}'",
                file=definition.source,
                key="workflow_type",
            )
        result.add(definition)
    return result


def _scan(config_dir: Path) -> DefinitionRegistry:
    result = DefinitionRegistry()
    files = sorted([*config_dir.glob("*.yaml"), *config_dir.glob("*.yml")])
    for path in files:
        data, lines = read_yaml(path)
        if isinstance(data, Mapping) and "workflow_type" in data:
            result.add(load_definition(data, source=str(path), lines=lines))
    return result


def discover(
    config_dir: str | os.PathLike[str] | None = None,
    workflow_registry: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> DefinitionRegistry:
    """Find, validate and compile every definition, following the discovery order above."""
    if isinstance(workflow_registry, Mapping):
        return _load_registry(workflow_registry, Path.cwd(), "workflow_registry")
    if workflow_registry is not None:
        path = Path(workflow_registry)
        data, _ = read_yaml(path)
        if not isinstance(data, Mapping):
            raise DefinitionError("a workflow registry must be a YAML mapping", file=str(path))
        return _load_registry(data, path.parent, str(path))
    explicit = config_dir or os.environ.get("RUVON_CONFIG_DIR")
    directory = Path(explicit or "config")
    if not directory.is_dir():
        if explicit:
            raise DefinitionError("config_dir is not a directory", file=str(directory))
        return DefinitionRegistry()
    registry_file = directory / REGISTRY_FILE
    if registry_file.is_file():
        return discover(workflow_registry=registry_file)
    return _scan(directory)


_SNAPSHOT_CACHE: dict[str, WorkflowDefinition] = {}


def definition_from_snapshot(snapshot: Mapping[str, Any], source: str) -> WorkflowDefinition:
    """Compile the definition a persisted workflow was pinned to (cached by content)."""
    digest = snapshot_digest(snapshot)
    cached = _SNAPSHOT_CACHE.get(digest)
    if cached is None:
        cached = load_definition(dict(snapshot), source=source)
        _SNAPSHOT_CACHE[digest] = cached
    return cached
