"""Provider interfaces, one module per role. Implementations live in ``ruvon.implementations``."""

from ruvon.providers.execution import ExecutionProvider, StepCall
from ruvon.providers.expression import ExpressionEvaluator
from ruvon.providers.observer import (
    EventKind,
    RecoveryObserver,
    WorkflowEvent,
    WorkflowObserver,
)
from ruvon.providers.persistence import PersistenceProvider, Transition, WorkflowRecord
from ruvon.providers.templating import TemplateEngine

__all__ = [
    "EventKind",
    "ExecutionProvider",
    "ExpressionEvaluator",
    "PersistenceProvider",
    "RecoveryObserver",
    "StepCall",
    "TemplateEngine",
    "Transition",
    "WorkflowEvent",
    "WorkflowObserver",
    "WorkflowRecord",
]
