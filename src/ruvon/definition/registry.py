"""Finding workflow definitions (SPEC §1) and keeping them by type and version.

Discovery, in order: an explicit ``workflow_registry`` (a dict, or the path of a registry YAML);
else ``config_dir`` (default ``$RUVON_CONFIG_DIR``, else ``./config``): its
``workflow_registry.yaml`` if present, else every ``*.yaml``/``*.yml`` in it that has a
``workflow_type``. A ``config_dir`` that names a file is read as a registry file (or as one
definition, if it has a ``workflow_type``): ``WorkflowBuilder("config/workflow_registry.yaml")``.

A registry (file or dict) looks like::

    workflows:
      - type: PaymentProcessing          # optional; checked against the file
        description: Take a payment      # optional
        config_file: payment.yaml        # see below
        initial_state_model: app.models.PaymentState   # used if the file names none
        requires: [some-package]         # optional; recorded, not checked
        deprecated: false                # optional; a warning when a workflow is created
    requires: [another-package]          # optional

A relative ``config_file`` is looked up next to the registry file, then in the config
directory, then in the working directory (a dict registry: the config directory, then the
working directory). A dict may also map ``workflow_type`` to a file path, to such an entry, or
to an inline definition mapping (one with ``steps``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ruvon.definition.compile import WorkflowDefinition, compile_definition
from ruvon.definition.parse import closest, did_you_mean, parse_definition
from ruvon.definition.subworkflow_spec import check_targets
from ruvon.definition.yaml_source import LineIndex, read_yaml
from ruvon.errors import DefinitionError, UnknownWorkflowTypeError
from ruvon.providers.persistence import snapshot_digest

REGISTRY_FILE = "workflow_registry.yaml"
REGISTRY_FILES = (REGISTRY_FILE, "workflow_registry.yml")
#: Keys of a registry entry that are the registry's own.
ENTRY_KEYS = ("type", "workflow_type", "config_file", "path", "file", "requires", "deprecated")
#: Definition keys an entry may give for the file it names, by alias group; the file wins.
DEFAULT_KEYS = (
    ("initial_state_model", "initial_state_model_path"),
    ("workflow_version",),
    ("description",),
    ("saga_mode", "saga_enabled"),
)
_FILE_ENTRY_KEYS = (*ENTRY_KEYS, *(k for group in DEFAULT_KEYS for k in group))

log = logging.getLogger("ruvon.definition")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryEntry:
    """What a registry says about a workflow type besides its definition."""

    workflow_type: str
    source: str
    description: str | None = None
    requires: tuple[str, ...] = ()
    deprecated: bool = False


class DefinitionRegistry:
    """Compiled definitions by workflow type and version.

    ``origin`` says where they were looked for (named when a type is unknown); ``entries``
    holds what a registry said about each type, ``requires`` its top-level package list.
    """

    def __init__(self, origin: str = "the definitions given") -> None:
        self._defs: dict[str, dict[str, WorkflowDefinition]] = {}
        self._latest: dict[str, WorkflowDefinition] = {}
        self.origin = origin
        self.entries: dict[str, RegistryEntry] = {}
        self.requires: tuple[str, ...] = ()
        self._warned: set[str] = set()

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
                if workflow_type in self.entries and workflow_type not in self._warned:
                    self._warn_deprecated(workflow_type)
                return latest
        versions = self._defs.get(workflow_type)
        if not versions:
            raise self._unknown(workflow_type)
        if version is None:
            return versions[max(versions, key=_version_key)]
        if version not in versions:
            raise UnknownWorkflowTypeError(
                f"workflow type '{workflow_type}' has no version '{version}' "
                f"(known: {', '.join(sorted(versions, key=_version_key))})",
                workflow_type=workflow_type,
            )
        self._warn_deprecated(workflow_type)
        return versions[version]

    def _unknown(self, workflow_type: str) -> UnknownWorkflowTypeError:
        known = sorted(self._defs)
        hint = ""
        if isinstance(workflow_type, str) and (match := closest(workflow_type, known)):
            hint = f", did you mean '{match}'?"
        return UnknownWorkflowTypeError(
            f"unknown workflow type '{workflow_type}'{hint} (known: {', '.join(known) or 'none'})"
            f"; looked in {self.origin}",
            workflow_type=workflow_type,
        )

    def _warn_deprecated(self, workflow_type: str) -> None:
        """Log once that a registry marks ``workflow_type`` deprecated."""
        if workflow_type in self._warned:
            return
        self._warned.add(workflow_type)
        entry = self.entries.get(workflow_type)
        if entry is not None and entry.deprecated:
            log.warning(
                "workflow type '%s' is marked deprecated in %s", workflow_type, entry.source
            )

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        for versions in self._defs.values():
            yield from versions.values()

    def types(self) -> list[str]:
        return sorted(self._defs)


# --- registry entries ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    declared: str | None  # the type the registry names, checked against the definition
    target: Any  # a file path, or an inline definition mapping
    key: str  # where in the registry, for errors: "workflows.0" or the type
    defaults: dict[str, Any]  # definition keys the entry gives the file
    requires: tuple[str, ...] = ()
    deprecated: bool = False


def _packages(value: Any, source: str, key: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(isinstance(r, str) for r in value)):
        raise DefinitionError("'requires' must be a list of package names", file=source, key=key)
    return tuple(value)


def _entry(declared: str | None, value: Any, source: str, key: str) -> _Entry:
    """One registry entry: a file path, a mapping naming a file, or an inline definition."""
    if not isinstance(value, Mapping):
        return _Entry(declared=declared, target=value, key=key, defaults={})
    requires = _packages(value.get("requires", []), source, f"{key}.requires")
    deprecated = value.get("deprecated", False)
    if not isinstance(deprecated, bool):
        raise DefinitionError("'deprecated' must be true or false", file=source, key=key)
    declared = value.get("type") or declared
    if "steps" in value:  # inline: its keys are checked as a definition's
        inline = {k: v for k, v in value.items() if k not in ENTRY_KEYS or k == "workflow_type"}
        return _Entry(
            declared=declared,
            target=inline,
            key=key,
            defaults={},
            requires=requires,
            deprecated=deprecated,
        )
    for name in value:
        if name not in _FILE_ENTRY_KEYS:
            hint = did_you_mean(name, _FILE_ENTRY_KEYS)
            raise DefinitionError(f"unknown key{hint}", file=source, key=f"{key}.{name}")
    path = value.get("config_file") or value.get("path") or value.get("file")
    if path is None:
        raise DefinitionError("entry needs 'config_file'", file=source, key=f"{key}.config_file")
    return _Entry(
        declared=declared or value.get("workflow_type"),
        target=path,
        key=key,
        defaults={k: v for k, v in value.items() if k not in ENTRY_KEYS},
        requires=requires,
        deprecated=deprecated,
    )


def _entries(registry: Mapping[str, Any], source: str) -> Iterator[_Entry]:
    """Every entry of a registry mapping, in its order."""
    workflows = registry.get("workflows")
    if workflows is None:
        yield from (_entry(str(k), v, source, str(k)) for k, v in registry.items())
        return
    if isinstance(workflows, Mapping):
        yield from (_entry(str(k), v, source, str(k)) for k, v in workflows.items())
        return
    if not isinstance(workflows, list):
        raise DefinitionError("'workflows' must be a list", file=source, key="workflows")
    for i, item in enumerate(workflows):
        if not isinstance(item, Mapping):
            raise DefinitionError("each entry must be a mapping", file=source, key=f"workflows.{i}")
        yield _entry(None, item, source, f"workflows.{i}")


def _with_defaults(data: Any, defaults: Mapping[str, Any]) -> Any:
    """The definition file's data plus the keys only its registry entry gives (the file wins;
    a key the file gives under either of its names counts as given)."""
    if not defaults or not isinstance(data, Mapping):
        return data
    merged = dict(data)
    for group in DEFAULT_KEYS:
        if not any(k in data for k in group):
            merged.update((k, defaults[k]) for k in group if k in defaults)
    return merged


def _find(entry: _Entry, bases: list[Path], source: str) -> Path:
    """The file an entry names: absolute, or in the first of ``bases`` that has it."""
    path = Path(entry.target)
    if path.is_absolute():
        return path
    for base in bases:
        if (base / path).is_file():
            return base / path
    looked = ", ".join(f"'{base / path}'" for base in bases)
    key = f"{entry.key}.config_file" if entry.key.startswith("workflows.") else entry.key
    raise DefinitionError(
        f"config_file '{entry.target}' not found (looked for {looked})", file=source, key=key
    )


def _load_entry(entry: _Entry, bases: list[Path], source: str) -> WorkflowDefinition:
    if isinstance(entry.target, Mapping):
        return load_definition(dict(entry.target), source=f"{source}[{entry.declared}]")
    if not isinstance(entry.target, str | os.PathLike):
        raise DefinitionError(
            "entry must be a file path or a definition mapping", file=source, key=entry.key
        )
    path = _find(entry, bases, source)
    data, lines = read_yaml(path)
    return load_definition(_with_defaults(data, entry.defaults), source=str(path), lines=lines)


def _load_registry(
    registry: Mapping[str, Any], bases: list[Path], source: str, origin: str
) -> DefinitionRegistry:
    result = DefinitionRegistry(origin=origin)
    if "workflows" in registry:
        result.requires = _packages(registry.get("requires", []), source, "requires")
    for entry in _entries(registry, source):
        definition = _load_entry(entry, bases, source)
        if entry.declared is not None and entry.declared != definition.workflow_type:
            raise DefinitionError(
                f"registry says '{entry.declared}' but the file defines "
                f"'{definition.workflow_type}'",
                file=definition.source,
                key="workflow_type",
            )
        result.add(definition)
        result.entries[definition.workflow_type] = RegistryEntry(
            workflow_type=definition.workflow_type,
            source=source,
            description=definition.spec.description,
            requires=entry.requires,
            deprecated=entry.deprecated,
        )
    return result


# --- discovery ----------------------------------------------------------------------------------


def _unique(paths: list[Path | None]) -> list[Path]:
    seen: dict[Path, Path] = {}
    for p in paths:
        if p is not None:
            seen.setdefault(p.resolve(), p)
    return list(seen.values())


def _registry_file(path: Path, config_dir: Path | None) -> DefinitionRegistry:
    """A registry file; its relative paths are looked up next to it, then in ``config_dir``,
    then in the working directory."""
    data, _ = read_yaml(path)
    if not isinstance(data, Mapping):
        raise DefinitionError("a workflow registry must be a YAML mapping", file=str(path))
    bases = _unique([path.parent, config_dir, Path.cwd()])
    return _load_registry(data, bases, str(path), f"registry file '{path}'")


def _file_as_config_dir(path: Path) -> DefinitionRegistry:
    """``config_dir`` names a file: a registry file, or one definition."""
    data, lines = read_yaml(path)
    if isinstance(data, Mapping) and "workflow_type" in data:
        result = DefinitionRegistry(origin=f"definition file '{path}'")
        result.add(load_definition(data, source=str(path), lines=lines))
        return result
    return _registry_file(path, path.parent)


def _scan(config_dir: Path) -> DefinitionRegistry:
    result = DefinitionRegistry(
        origin=f"config_dir '{config_dir}' (every *.yaml and *.yml in it with a workflow_type)"
    )
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
    """Find, validate and compile every definition, following the discovery order above; then
    check that the workflows the definitions start (``SUB_WORKFLOW``, ``FIRE_AND_FORGET``) are
    among them."""
    registry = _discover(config_dir, workflow_registry)
    check_targets(registry, set(registry.types()))
    return registry


def _discover(
    config_dir: str | os.PathLike[str] | None,
    workflow_registry: Mapping[str, Any] | str | os.PathLike[str] | None,
) -> DefinitionRegistry:
    explicit = config_dir or os.environ.get("RUVON_CONFIG_DIR")
    directory = Path(explicit or "config")
    if isinstance(workflow_registry, Mapping):
        bases = _unique([directory if explicit and directory.is_dir() else None, Path.cwd()])
        where = ", ".join(f"'{b}'" for b in bases)
        origin = f"the workflow_registry dict (its files looked up in {where})"
        return _load_registry(workflow_registry, bases, "workflow_registry", origin)
    if workflow_registry is not None:
        return _registry_file(Path(workflow_registry), directory if explicit else None)
    if directory.is_file():
        return _file_as_config_dir(directory)
    if not directory.is_dir():
        if explicit:
            raise DefinitionError("config_dir is not a directory", file=str(directory))
        return DefinitionRegistry(
            origin=f"'{directory}', which does not exist (pass config_dir= or "
            "workflow_registry=, or set RUVON_CONFIG_DIR)"
        )
    for name in REGISTRY_FILES:
        if (directory / name).is_file():
            return _registry_file(directory / name, directory)
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
