"""Ruvon: an embedded, declarative, durable workflow engine with saga compensation.

The main names are importable from here; see ``ruvon.builder``, ``ruvon.workflow`` and
``ruvon.models`` for the documented import paths.
"""

import logging

from ruvon.builder import WorkflowBuilder
from ruvon.errors import RuvonError
from ruvon.models import (
    StartSubWorkflowDirective,
    StepContext,
    WorkflowJumpDirective,
    WorkflowPauseDirective,
    WorkflowStatus,
)
from ruvon.workflow import Workflow

# A library only adds a NullHandler: what gets shown is the application's choice.
logging.getLogger("ruvon").addHandler(logging.NullHandler())

__version__ = "0.2.0"

__all__ = [
    "RuvonError",
    "StartSubWorkflowDirective",
    "StepContext",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowJumpDirective",
    "WorkflowPauseDirective",
    "WorkflowStatus",
]
