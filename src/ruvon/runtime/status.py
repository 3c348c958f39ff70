"""The status enum and its transition table live in :mod:`ruvon.status` (below ``models``);
this name stays for code that imports them from here."""

from ruvon.status import (
    TERMINAL,
    TRANSITIONS,
    WAITING,
    S,
    WorkflowStatus,
    check_transition,
)

__all__ = ["TERMINAL", "TRANSITIONS", "WAITING", "S", "WorkflowStatus", "check_transition"]
