"""Crash-test app for SUB_WORKFLOW steps: a parent saga that runs a child saga (which runs a
grandchild) as one of its steps, and a parent whose child waits for a person.

Every side effect of a step or compensation function goes to a ledger that survives SIGKILL
(:mod:`subflowapp.ledger`, with the workflow's type, the idempotency key the engine gave the
call and the process that made it); the functions and the store pass the checkpoints of
:mod:`subflowapp.ledger` where the process kills itself when told to.
:mod:`subflowapp.program` is the process that starts, resumes and recovers workflows.
"""
