"""Testing workflows: :class:`TestHarness` (in-memory runs, step mocks).

``from ruvon.testing import TestHarness`` and ``from ruvon.testing.harness import TestHarness``
name the same class; ``WorkflowTestHarness`` is another name for it.
"""

from ruvon.testing.harness import TestHarness, WorkflowTestHarness
from ruvon.testing.mocks import MockCall, StepMock

__all__ = [
    "MockCall",
    "StepMock",
    "TestHarness",
    "WorkflowTestHarness",
]
