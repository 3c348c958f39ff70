"""Testing workflows: :class:`TestHarness` (in-memory runs, step mocks, ``check_saga``).

``from ruvon.testing import TestHarness`` and ``from ruvon.testing.harness import TestHarness``
name the same class; ``WorkflowTestHarness`` is another name for it.
"""

from ruvon.testing.harness import TestHarness, WorkflowTestHarness
from ruvon.testing.mocks import MockCall, StepMock
from ruvon.testing.report import CompensationOutcome, FieldChange, SagaReport, SagaRun
from ruvon.testing.saga_check import InjectedFailure

__all__ = [
    "CompensationOutcome",
    "FieldChange",
    "InjectedFailure",
    "MockCall",
    "SagaReport",
    "SagaRun",
    "StepMock",
    "TestHarness",
    "WorkflowTestHarness",
]
