"""The journal: one line per side effect, appended to the file named by ``TRAVEL_JOURNAL``
(default ``journal.log``), by the parent's steps, the payment child's steps and the
notification service alike, so their order across workflows (and processes) is visible."""

import os


def path() -> str:
    return os.environ.get("TRAVEL_JOURNAL", "journal.log")


def write(line: str) -> None:
    with open(path(), "a", encoding="utf-8") as journal:
        journal.write(line + "\n")
