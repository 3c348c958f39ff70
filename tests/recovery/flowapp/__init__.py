"""Crash-test app for the control-flow step types (LOOP, HUMAN_IN_LOOP, DECISION).

Its step and compensation functions record every side effect in a ledger that survives SIGKILL
(:mod:`flowapp.ledger`, with the loop item and index the engine gave the call) and pass the
checkpoints of :mod:`crashapp.chaos`; :mod:`flowapp.chaos` adds checkpoints named after what a
commit settled. :mod:`flowapp.driver` is the child process that runs and resumes workflows.
"""
