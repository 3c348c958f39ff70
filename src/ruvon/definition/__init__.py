"""Workflow definitions: YAML → a frozen, validated spec → a compiled, runnable definition."""

from ruvon.definition.compile import CompiledStep, WorkflowDefinition
from ruvon.definition.registry import (
    DefinitionRegistry,
    definition_from_snapshot,
    discover,
    load_definition,
    load_definition_file,
)
from ruvon.definition.schema import RetryPolicy, StepSpec, StepType, WorkflowSpec

__all__ = [
    "CompiledStep",
    "DefinitionRegistry",
    "RetryPolicy",
    "StepSpec",
    "StepType",
    "WorkflowDefinition",
    "WorkflowSpec",
    "definition_from_snapshot",
    "discover",
    "load_definition",
    "load_definition_file",
]
