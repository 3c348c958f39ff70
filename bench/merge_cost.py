"""What merging a step's result through the state model's JSON form costs, per step.

Issue 8 made the merge serialize the state with the model's own serializer and validate it back
from that JSON (so memory and every store hold the same values), instead of validating the
merged dict and serializing it at commit. This times both on the tutorial's state and the
tutorial's step results, in the same run, and prints the difference per step:

    .venv/bin/python bench/merge_cost.py

``before`` is the old path written out here (validate the merged dict, then ``to_json`` for the
commit); ``after`` is :func:`ruvon.runtime.merge.merge_result` (its JSON is what the commit
writes, so nothing more is serialized). Median of 7 rounds of 20,000 merges each.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads.payment.models import PaymentState

from ruvon.runtime.merge import merge_result

RESULTS: list[dict[str, Any]] = [  # the tutorial's four forward steps
    {"order_created": True, "order_reference": "ORD-1A2B3C4D", "workflow_status": "order_created"},
    {
        "payment_charged": True,
        "transaction_id": "TXN-1A2B3C4D5E6F",
        "workflow_status": "payment_charged",
    },
    {"inventory_reserved": True, "reservation_id": "RES-1A2B3C", "workflow_status": "x"},
    {"shipment_created": True, "tracking_number": "TRK-1A2B3C4D5E", "workflow_status": "done"},
]
ROUNDS, N = 7, 20_000


def before(state: BaseModel, result: dict[str, Any]) -> tuple[BaseModel, bytes]:
    cls = type(state)
    merged: BaseModel = cls.__pydantic_validator__.validate_python({**state.__dict__, **result})
    return merged, cls.__pydantic_serializer__.to_json(merged)


def after(state: BaseModel, result: dict[str, Any]) -> tuple[BaseModel, bytes]:
    merged = merge_result(state, result, "step")
    return merged.state, merged.state_json


def per_merge_us(fn: Any) -> float:
    rounds = []
    for _ in range(ROUNDS):
        state: BaseModel = PaymentState(order_id="O-1", customer_id="C-1", amount=99.5)
        start = time.perf_counter()
        for i in range(N):
            state, _ = fn(state, RESULTS[i % 4])
        rounds.append((time.perf_counter() - start) / N * 1e6)
    return statistics.median(rounds)


def main() -> None:
    old, new = per_merge_us(before), per_merge_us(after)
    print(f"merge + state JSON, per step: before {old:.2f} µs, after {new:.2f} µs")
    print(f"difference: {new - old:+.2f} µs per step ({new / old:.2f}x)")


if __name__ == "__main__":
    main()
