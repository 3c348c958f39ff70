"""The runtime core: status table, result merging, retries, the step runner and the saga unwind.

Nothing here does I/O of its own; persistence and observers are reached through providers.
"""
