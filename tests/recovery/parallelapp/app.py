"""A fan-out whose task kills its own process once, after its side effect (the ledger line),
for the PARALLEL crash test. ``PARALLELAPP_DIR`` holds the ledger and the kill flag."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Fan(BaseModel):
    items: list[int] = []
    totals: dict[str, int] = {}
    done: bool = False


def _dir() -> Path:
    return Path(os.environ["PARALLELAPP_DIR"])


def work(state: Fan, context: StepContext, item: int = 0) -> dict[str, Any]:
    time.sleep(0.05 * (item % 3))  # finish out of order on threads
    with (_dir() / "ledger.jsonl").open("a") as ledger:
        ledger.write(json.dumps({"item": item, "key": context.idempotency_key}) + "\n")
    flag = _dir() / f"kill-at-{item}"
    if flag.exists():
        flag.unlink()
        os.kill(os.getpid(), signal.SIGKILL)  # after the side effect, before the commit
    return {"totals": {str(item): item * item}}


def finish(state: Fan, context: StepContext, **_: Any) -> dict[str, Any]:
    return {"done": True}
