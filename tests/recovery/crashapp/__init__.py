"""A crash-test copy of the tutorial's payment saga (``examples/saga_payment``).

The step and compensation functions record every side effect in a separate SQLite file (see
:mod:`crashapp.effects`) and can SIGKILL their own process at a checkpoint named in the
environment (see :mod:`crashapp.chaos`).
"""
